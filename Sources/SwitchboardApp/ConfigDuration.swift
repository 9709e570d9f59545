import Foundation

/// Durations in the configuration file: a number and a unit (`s`, `m`, `h`),
/// possibly several in a row: `"45s"`, `"30m"`, `"2h"`, `"1h30m"`.
public enum ConfigDuration {
    /// The seconds that `text` stands for, or `nil` when it is not a duration.
    /// Zero is a valid duration here; the config rejects it where it needs a positive one.
    public static func parse(_ text: String) -> TimeInterval? {
        var total: Double = 0
        var number = ""
        var sawUnit = false
        for character in text {
            switch character {
            case "0"..."9":
                number.append(character)
            case "h", "m", "s":
                guard let value = Double(number), !number.isEmpty else { return nil }
                let unit: Double = character == "h" ? 3600 : character == "m" ? 60 : 1
                total += value * unit
                number = ""
                sawUnit = true
            default:
                return nil
            }
        }
        guard sawUnit, number.isEmpty, total.isFinite else { return nil }
        return total
    }

    /// Writes a duration the way people say it: `"30 minutes"`, `"1 hour 30 minutes"`, `"45 seconds"`.
    public static func describe(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded())
        let hours = total / 3600
        let minutes = (total % 3600) / 60
        let secs = total % 60
        var parts: [String] = []
        func add(_ value: Int, _ unit: String) {
            if value > 0 { parts.append("\(value) \(unit)\(value == 1 ? "" : "s")") }
        }
        add(hours, "hour")
        add(minutes, "minute")
        add(secs, "second")
        return parts.isEmpty ? "0 seconds" : parts.joined(separator: " ")
    }

    /// Writes a duration in the config's own syntax: `"30m"`, `"1h30m"`, `"45s"`.
    public static func format(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded())
        var text = ""
        if total / 3600 > 0 { text += "\(total / 3600)h" }
        if (total % 3600) / 60 > 0 { text += "\((total % 3600) / 60)m" }
        if total % 60 > 0 || text.isEmpty { text += "\(total % 60)s" }
        return text
    }
}
