import NIOCore
import Synchronization

/// Per-client token buckets, in memory: a client may do `burst` things at
/// once, then one every `60 / perMinute` seconds. Clients are keyed by IP
/// address; IPv6 clients by their /64, which is what one host usually gets.
final class RateLimiter: Sendable {
    enum Decision: Equatable {
        case allowed
        /// Try again after this long (at least one second).
        case limited(retryAfterSeconds: Int)
    }

    /// Requests per minute after the burst; 0 disables the limit.
    let perMinute: Int
    /// Requests allowed at once, from a full bucket.
    let burst: Int

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [ClientKey: Bucket] = [:]
        /// Prune idle buckets when the table grows past this.
        var pruneAt = RateLimiter.minimumPruneThreshold
    }

    private static let minimumPruneThreshold = 1024
    private let state = Mutex(State())

    init(perMinute: Int, burst: Int) {
        self.perMinute = max(0, perMinute)
        self.burst = max(1, burst)
    }

    private var tokensPerSecond: Double { Double(perMinute) / 60 }

    /// Takes one token for `key` if there is one.
    func acquire(_ key: ClientKey, now: ContinuousClock.Instant = .now) -> Decision {
        guard perMinute > 0 else { return .allowed }
        let rate = tokensPerSecond
        let capacity = Double(burst)
        return state.withLock { state in
            var bucket = state.buckets[key] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = min(capacity, bucket.tokens + Self.seconds(now - bucket.updated) * rate)
            bucket.updated = now
            let decision: Decision
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                decision = .allowed
            } else {
                let wait = (1 - bucket.tokens) / rate
                decision = .limited(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
            }
            state.buckets[key] = bucket
            if state.buckets.count >= state.pruneAt {
                Self.prune(&state, now: now, rate: rate, capacity: capacity)
            }
            return decision
        }
    }

    /// Drops the buckets that have refilled completely: they are the same as no bucket.
    private static func prune(_ state: inout State, now: ContinuousClock.Instant, rate: Double, capacity: Double) {
        state.buckets = state.buckets.filter { _, bucket in
            bucket.tokens + seconds(now - bucket.updated) * rate < capacity
        }
        state.pruneAt = max(minimumPruneThreshold, state.buckets.count * 2)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return max(0, Double(seconds) + Double(attoseconds) / 1e18)
    }
}

/// Who a rate limit counts against: an IPv4 address, or an IPv6 /64.
struct ClientKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let all = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if all[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                bytes = Array(all[12...])          // IPv4 on a dual-stack socket
            } else {
                bytes = Array(all[0..<8])          // the /64
            }
        default:
            bytes = []                             // unix sockets: one shared bucket
        }
    }
}

/// The web bridge's per-IP limits and who is exempt from them.
struct RateLimits: Sendable {
    enum Kind: String, Sendable {
        case conversations, messages
    }

    let conversations: RateLimiter
    let messages: RateLimiter
    let isExempt: @Sendable (SocketAddress) -> Bool

    /// Nil when allowed; otherwise the error to answer with.
    func check(_ kind: Kind, from address: SocketAddress?) -> APIError? {
        if let address, isExempt(address) { return nil }
        let limiter = kind == .conversations ? conversations : messages
        switch limiter.acquire(ClientKey(address)) {
        case .allowed:
            return nil
        case .limited(let seconds):
            let what = kind == .conversations ? "new conversations" : "messages"
            return APIError(.tooManyRequests, .rateLimited,
                            "Too many \(what) from your address; try again in \(seconds) s.", retryAfter: seconds)
        }
    }
}
