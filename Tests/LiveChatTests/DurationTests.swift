import Foundation
import LiveChat
import Testing

@Suite("Durations")
struct DurationTests {
    @Test("parse", arguments: [
        ("45s", 45.0), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1h30m15s", 5415), ("90m", 5400),
        ("0s", 0), (" 30m ", 1800), ("1h 30m", 5400), ("2m30s", 150), ("1h15s", 3615),
    ])
    func parses(text: String, expected: TimeInterval) {
        #expect(LiveChatDuration.parse(text) == expected)
    }

    @Test("refused", arguments: [
        "", " ", "30", "m", "1.5h", "-5m", "30M", "2H", "5d", "30m1h", "1h1h", "30 m", "1h30", "abc",
        "1234567890s", "30min", "1h_30m",
    ])
    func refuses(text: String) {
        #expect(LiveChatDuration.parse(text) == nil)
    }

    @Test("describe", arguments: [
        (1800.0, "30 minutes"), (45, "45 seconds"), (7200, "2 hours"), (5400, "1 hour 30 minutes"),
        (60, "1 minute"), (1, "1 second"), (0, "0 seconds"), (-5, "0 seconds"), (3661, "1 hour 1 minute 1 second"),
        (90000, "1 day 1 hour"), (172_800, "2 days"), (29.6, "30 seconds"), (.infinity, "0 seconds"),
    ])
    func describes(seconds: TimeInterval, expected: String) {
        #expect(DurationText.describe(seconds) == expected)
    }

    @Test("config form round-trips", arguments: ["45s", "30m", "2h", "1h30m", "1h30m15s", "0s", "26h"])
    func format(text: String) throws {
        let seconds = try #require(LiveChatDuration.parse(text))
        #expect(LiveChatDuration.format(seconds) == text)
    }

    @Test func clockText() throws {
        #expect(ClockText.hourMinute(now) == "14:30")
        #expect(ClockText.hourMinute(ago(minutes: 28)) == "14:02")
        #expect(ClockText.hourMinute(now.addingTimeInterval(59)) == "14:30")
        #expect(ClockText.hourMinute(Date(timeIntervalSince1970: 0)) == "00:00")
        #expect(ClockText.hourMinute(Date(timeIntervalSince1970: -60)) == "23:59")
        let paris = try #require(TimeZone(secondsFromGMT: 3600))
        #expect(ClockText.hourMinute(now, timeZone: paris) == "15:30")
        let minus = try #require(TimeZone(secondsFromGMT: -15 * 3600))
        #expect(ClockText.hourMinute(now, timeZone: minus) == "23:30")
    }
}
