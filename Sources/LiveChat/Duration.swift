import Foundation

/// Durations in config values: `45s`, `30m`, `2h`, `1h30m`, `1h30m15s`.
///
/// Grammar: one or more `<digits><unit>` components, units `h`, `m`, `s`
/// (lower case), each at most once and in that order (hours, then minutes,
/// then seconds); optional whitespace between components and around the
/// whole. A bare number (`30`), a fraction (`1.5h`), a negative or an unknown
/// unit is refused. `0s` parses as 0; whether zero is acceptable is the
/// caller's decision.
public enum LiveChatDuration {
    public static func parse(_ text: String) -> TimeInterval? {
        let bytes = Array(text.utf8)
        var index = 0
        var total = 0
        var lastUnitRank = -1
        var components = 0
        func skipSpaces() {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                index += 1
            }
        }
        skipSpaces()
        while index < bytes.count {
            var value = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                guard digits < 9 else { return nil }                 // keeps the arithmetic far from overflow
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            guard digits > 0, index < bytes.count else { return nil }
            let (rank, multiplier): (Int, Int)
            switch bytes[index] {
            case UInt8(ascii: "h"): (rank, multiplier) = (0, 3600)
            case UInt8(ascii: "m"): (rank, multiplier) = (1, 60)
            case UInt8(ascii: "s"): (rank, multiplier) = (2, 1)
            default: return nil
            }
            guard rank > lastUnitRank else { return nil }
            lastUnitRank = rank
            total += value * multiplier
            components += 1
            index += 1
            skipSpaces()
        }
        return components > 0 ? TimeInterval(total) : nil
    }

    /// The config form of a duration, rounded to whole seconds:
    /// `30m`, `45s`, `2h`, `1h30m`, `0s`.
    public static func format(_ seconds: TimeInterval) -> String {
        let parts = DurationParts(seconds)
        let hours = parts.days * 24 + parts.hours
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if parts.minutes > 0 { text += "\(parts.minutes)m" }
        if parts.seconds > 0 || text.isEmpty { text += "\(parts.seconds)s" }
        return text
    }
}

/// Durations in messages: `30 minutes`, `45 seconds`, `2 hours`,
/// `1 hour 30 minutes`, `1 day 2 hours` (as in "Inactive for 30 minutes").
public enum DurationText {
    /// Rounded to whole seconds; zero components are left out; zero (or a
    /// negative value) is `0 seconds`.
    public static func describe(_ seconds: TimeInterval) -> String {
        let parts = DurationParts(seconds)
        var words: [String] = []
        func add(_ n: Int, _ unit: String) {
            if n > 0 { words.append("\(n) \(unit)\(n == 1 ? "" : "s")") }
        }
        add(parts.days, "day")
        add(parts.hours, "hour")
        add(parts.minutes, "minute")
        add(parts.seconds, "second")
        return words.isEmpty ? "0 seconds" : words.joined(separator: " ")
    }

    /// An age to the minute, seconds dropped: `3 minutes`, `1 hour 5 minutes`;
    /// nil under a minute (where "just now" reads better than `0 seconds`).
    public static func wholeMinutes(_ seconds: TimeInterval) -> String? {
        guard seconds >= 60 else { return nil }
        return describe((seconds / 60).rounded(.down) * 60)
    }
}

private struct DurationParts {
    var days = 0, hours = 0, minutes = 0, seconds = 0

    init(_ interval: TimeInterval) {
        guard interval.isFinite, interval > 0 else { return }
        let total = Int(min(interval.rounded(), TimeInterval(Int32.max)))
        days = total / 86_400
        hours = total % 86_400 / 3600
        minutes = total % 3600 / 60
        seconds = total % 60
    }
}

/// Deterministic wall-clock text for messages: `HH:mm` in a given time zone
/// (UTC by default), without locale or calendar settings.
public enum ClockText {
    public static let utc = TimeZone(secondsFromGMT: 0)!

    /// `14:02`: the hour and minute of `date` in `timeZone`, seconds truncated.
    public static func hourMinute(_ date: Date, timeZone: TimeZone = utc) -> String {
        let offset = timeZone.secondsFromGMT(for: date)
        let local = Int(date.timeIntervalSince1970.rounded(.down)) + offset
        let secondOfDay = ((local % 86_400) + 86_400) % 86_400
        let hour = secondOfDay / 3600
        let minute = secondOfDay % 3600 / 60
        return (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }
}
