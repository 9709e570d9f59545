import IRCProtocol
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Message ids: a random per-process prefix and a counter, so ids are unique across
/// restarts, cheap to make and sort in creation order within one run.
final class MessageIDGenerator {
    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    /// The prefix and its dash, as bytes.
    private let prefix: [UInt8]
    private var counter: UInt64 = 0
    private var batchCounter: UInt64 = 0

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = (0..<8).map { _ in Self.digits[Int(generator.next(upperBound: UInt64(Self.digits.count)))] } + [UInt8(ascii: "-")]
    }

    /// `prefix-counter` with the counter in base 36. Written byte by byte: up to
    /// 15 bytes it is a small string, stored inline with no allocation.
    func next() -> String {
        counter += 1
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            var value = counter
            var end = 32
            repeat {
                end -= 1
                buffer[end] = Self.digits[Int(value % 36)]
                value /= 36
            } while value > 0
            let start = end - prefix.count
            for (offset, byte) in prefix.enumerated() { buffer[start + offset] = byte }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<32]), as: UTF8.self)
        }
    }

    func batchReference() -> String {
        batchCounter += 1
        return "b" + String(batchCounter, radix: 36)
    }
}

/// The `time` tag of the messages relayed now. Consecutive messages in the same
/// millisecond share one formatted string instead of formatting (and allocating)
/// one each.
final class ServerTimeCache {
    private var milliseconds: Int64 = .min
    private var formatted = ""

    /// Milliseconds since 1970, now.
    func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// The instant of a `time` tag value: without parsing when it is the one
    /// `now()` returned last.
    func milliseconds(of formatted: String) -> Int64? {
        if formatted == self.formatted { return milliseconds }
        return ServerTime.parse(formatted).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// The current time as server-time formats it.
    func now() -> String {
        let current = nowMilliseconds()
        if current != milliseconds {
            milliseconds = current
            formatted = ServerTime.format(millisecondsSince1970: current)
        }
        return formatted
    }
}
