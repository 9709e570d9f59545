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

    /// While a batch of input is handled: its time, which every message relayed
    /// for it carries, instead of a clock read per message.
    private var pinned: Int64?

    /// Milliseconds since 1970, now (or the pinned time of the batch being handled).
    func nowMilliseconds() -> Int64 {
        if let pinned { return pinned }
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Reads the clock once for a batch of input and returns the time; `now()`
    /// gives it until `unpin()`.
    @discardableResult
    func pin() -> Int64 {
        pinned = nil
        let current = nowMilliseconds()
        pinned = current
        return current
    }

    func unpin() {
        pinned = nil
    }

    /// The instant of a `time` tag value: without parsing when it is the one
    /// `now()` returned last.
    func milliseconds(of formatted: String) -> Int64? {
        if formatted == self.formatted { return milliseconds }
        return ServerTime.parse(formatted).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// The current time as server-time formats it.
    func now() -> String { stamp().formatted }

    /// The current time, formatted and in milliseconds since 1970: for a caller
    /// that needs both, without reading the instant back from the text.
    func stamp() -> (formatted: String, milliseconds: Int64) {
        let current = nowMilliseconds()
        if current != milliseconds {
            milliseconds = current
            formatted = ServerTime.format(millisecondsSince1970: current)
        }
        return (formatted, current)
    }
}
