import Foundation
import Testing
import IRCProtocol

@Suite("Server time")
struct ServerTimeTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (0.001, "1970-01-01T00:00:00.001Z"),
        (1_000_000_000, "2001-09-09T01:46:40.000Z"),
        (951_782_400, "2000-02-29T00:00:00.000Z"),
        (1_709_210_096.5, "2024-02-29T12:34:56.500Z"),
        (1_795_290_780.123, "2026-11-21T19:53:00.123Z"),
        (1_700_000_000.999, "2023-11-14T22:13:20.999Z"),
        (-1, "1969-12-31T23:59:59.000Z"),
        (-0.001, "1969-12-31T23:59:59.999Z"),
        (253_402_300_799, "9999-12-31T23:59:59.000Z"),
        (-62_135_596_800, "0001-01-01T00:00:00.000Z"),
    ] as [(Double, String)])
    func formatsKnownInstants(_ seconds: Double, _ text: String) throws {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(ServerTime.format(date) == text)
        let parsed = try #require(ServerTime.parse(text))
        #expect(abs(parsed.timeIntervalSince1970 - seconds) < 0.0005)
        #expect(ServerTime.format(parsed) == text)
    }

    @Test func formatMilliseconds() {
        #expect(ServerTime.format(millisecondsSince1970: 1_795_290_780_123) == "2026-11-21T19:53:00.123Z")
        #expect(ServerTime.format(millisecondsSince1970: -1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func roundsToTheNearestMillisecond() {
        #expect(ServerTime.format(Date(timeIntervalSince1970: 10.0004)) == "1970-01-01T00:00:10.000Z")
        #expect(ServerTime.format(Date(timeIntervalSince1970: 10.0006)) == "1970-01-01T00:00:10.001Z")
        #expect(ServerTime.format(Date(timeIntervalSince1970: 59.9996)) == "1970-01-01T00:01:00.000Z")
    }

    @Test func clampsOutOfRangeDates() {
        #expect(ServerTime.format(Date.distantFuture).hasPrefix("4001-"))
        #expect(ServerTime.format(Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59.999Z")
        #expect(ServerTime.format(Date(timeIntervalSince1970: -1e15)) == "0001-01-01T00:00:00.000Z")
    }

    @Test func roundTripsManyInstants() throws {
        // Every millisecond offset within a second, across a range of days including leap years.
        var seconds = 946_684_800.0  // 2000-01-01
        while seconds < 4_102_444_800 {  // 2100-01-01
            for millis in stride(from: 0, to: 1000, by: 37) {
                let date = Date(timeIntervalSince1970: seconds + Double(millis) / 1000)
                let text = ServerTime.format(date)
                #expect(text.utf8.count == 24)
                let parsed = try #require(ServerTime.parse(text))
                #expect(ServerTime.format(parsed) == text)
                #expect(abs(parsed.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.0005)
            }
            seconds += 86_400 * 97 + 3_671
        }
    }

    @Test func agreesWithISO8601FormatStyle() {
        let samples: [Double] = [0, 86_399, 951_868_800, 1_234_567_890, 1_795_290_780, 4_102_444_799]
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let reference = date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
            #expect(ServerTime.format(date).hasPrefix(String(reference.dropLast())), "\(reference)")
        }
    }

    @Test func parsesVariants() throws {
        let base = 1_795_290_780.0
        func seconds(_ text: String) -> Double? { ServerTime.parse(text)?.timeIntervalSince1970 }
        #expect(seconds("2026-11-21T19:53:00Z") == base)
        #expect(try abs(#require(seconds("2026-11-21T19:53:00.5Z")) - (base + 0.5)) < 1e-6)
        #expect(try abs(#require(seconds("2026-11-21T19:53:00.123456789Z")) - (base + 0.123456789)) < 1e-6)
        #expect(try abs(#require(seconds("2026-11-21T19:53:00.1234567891234Z")) - (base + 0.123456789)) < 1e-6)
        #expect(seconds("2026-11-21T20:53:00+01:00") == base)
        #expect(seconds("2026-11-21T14:23:00-05:30") == base)
        #expect(seconds("2026-11-21t19:53:00z") == base)
        #expect(seconds("2026-11-21T19:53:60Z") == base + 60)  // leap second tolerated
    }

    @Test(arguments: [
        "", "2026", "2026-11-21", "2026-11-21T19:53", "2026-11-21T19:53:00", "2026-11-21 19:53:00Z",
        "2026-11-21T19:53:00.Z", "2026-11-21T19:53:00.123", "2026-11-21T19:53:00.123ZZ", "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-21T24:00:00Z",
        "2026-11-21T19:60:00Z", "2026-11-21T19:53:61Z", "0000-01-01T00:00:00Z", "2026-11-21T19:53:00+0100",
        "2026-11-21T19:53:00+01:00 ", " 2026-11-21T19:53:00Z", "2O26-11-21T19:53:00Z", "2026-11-21T19:53:00.12a3Z",
        "２０２６-11-21T19:53:00Z",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(ServerTime.parse(text) == nil)
    }

    @Test func leapYears() {
        #expect(ServerTime.parse("2000-02-29T00:00:00Z") != nil)
        #expect(ServerTime.parse("2024-02-29T00:00:00Z") != nil)
        #expect(ServerTime.parse("1900-02-29T00:00:00Z") == nil)
        #expect(ServerTime.parse("2100-02-29T00:00:00Z") == nil)
    }
}
