import IRCProtocol
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

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
