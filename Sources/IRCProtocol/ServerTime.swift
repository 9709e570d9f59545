#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// IRCv3 server-time format: "2026-11-21T19:53:00.123Z" (UTC, milliseconds).
public enum ServerTime {
    /// Earliest and latest instants with a four-digit year (0001-01-01 ... 9999-12-31T23:59:59.999).
    private static let minimumMilliseconds: Int64 = -62_135_596_800_000
    private static let maximumMilliseconds: Int64 = 253_402_300_799_999

    /// Formats a date as "YYYY-MM-DDTHH:MM:SS.mmmZ", rounded to the nearest millisecond.
    /// Hand-formatted from the epoch: no DateFormatter, one small allocation. Dates outside years
    /// 1...9999 are clamped to that range.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let milliseconds: Int64
        if seconds.isNaN {
            milliseconds = 0
        } else {
            let scaled = (seconds * 1000).rounded()
            if scaled <= Double(minimumMilliseconds) {
                milliseconds = minimumMilliseconds
            } else if scaled >= Double(maximumMilliseconds) {
                milliseconds = maximumMilliseconds
            } else {
                milliseconds = Int64(scaled)
            }
        }
        return format(millisecondsSince1970: milliseconds)
    }

    /// Formats an instant given in whole milliseconds since 1970-01-01T00:00:00Z.
    public static func format(millisecondsSince1970 value: Int64) -> String {
        let milliseconds = min(max(value, minimumMilliseconds), maximumMilliseconds)
        let totalSeconds = floorDivide(milliseconds, 1000)
        let millis = Int(milliseconds - totalSeconds * 1000)
        let days = floorDivide(totalSeconds, 86_400)
        let secondOfDay = Int(totalSeconds - days * 86_400)
        let (year, month, day) = civilDate(fromDays: days)
        let hour = secondOfDay / 3600
        let minute = secondOfDay / 60 % 60
        let second = secondOfDay % 60

        return String(unsafeUninitializedCapacity: 24) { out in
            @inline(__always) func digits(_ value: Int, _ count: Int, at offset: Int) {
                var value = value
                var index = offset + count - 1
                while index >= offset {
                    out[index] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
                    value /= 10
                    index -= 1
                }
            }
            digits(year, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            digits(month, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            digits(day, 2, at: 8)
            out[10] = UInt8(ascii: "T")
            digits(hour, 2, at: 11)
            out[13] = UInt8(ascii: ":")
            digits(minute, 2, at: 14)
            out[16] = UInt8(ascii: ":")
            digits(second, 2, at: 17)
            out[19] = UInt8(ascii: ".")
            digits(millis, 3, at: 20)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)". The fraction may have any number of digits
    /// (nanosecond precision is kept). Returns nil for anything else, including out-of-range fields.
    public static func parse(_ text: String) -> Date? {
        var text = text
        guard let (seconds, nanoseconds) = text.withUTF8({ parseComponents($0) }) else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1_000_000_000)
    }

    private static func parseComponents(_ b: UnsafeBufferPointer<UInt8>) -> (Int64, Int)? {
        let n = b.count
        guard n >= 20 else { return nil }
        func number(_ offset: Int, _ count: Int) -> Int? {
            var value = 0
            for i in offset..<(offset + count) {
                let digit = Int(b[i]) - 0x30
                guard digit >= 0 && digit <= 9 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard let year = number(0, 4), b[4] == UInt8(ascii: "-"),
              let month = number(5, 2), b[7] == UInt8(ascii: "-"),
              let day = number(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              let hour = number(11, 2), b[13] == UInt8(ascii: ":"),
              let minute = number(14, 2), b[16] == UInt8(ascii: ":"),
              let second = number(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysInMonth(year, month),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }

        var i = 19
        var nanoseconds = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale = 100_000_000
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                nanoseconds += Int(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < n else { return nil }
        var offsetSeconds = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard n - i == 6, b[i + 3] == UInt8(ascii: ":"),
                  let offsetHours = number(i + 1, 2), let offsetMinutes = number(i + 4, 2),
                  offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return (seconds, nanoseconds)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, days since 1970-01-01)

    @inline(__always)
    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func civilDate(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
