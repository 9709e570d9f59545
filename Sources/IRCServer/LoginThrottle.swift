import NIOCore

/// Failed logins per address, so that nobody can guess passwords at the speed
/// of reconnecting: once an address has failed `limit` times within `window`,
/// its logins are refused without checking the password until the oldest of
/// those failures is `window` old. A correct password is refused too while the
/// address is throttled: otherwise the refusal would tell a guess apart.
///
/// IPv6 addresses count by their /64, which is what one host usually gets.
/// Owned by the server's state and used on its loop; the time is passed in.
struct LoginThrottle {
    /// Failures an address may have within `window`; 0 turns the throttle off.
    let limit: Int
    let window: TimeAmount

    /// The times of each address's recent failures, oldest first, at most `limit`.
    private var failures: [[UInt8]: [NIODeadline]] = [:]

    init(limit: Int, window: TimeAmount) {
        self.limit = max(0, limit)
        self.window = window
    }

    /// How long the address must wait before its next login is checked, or
    /// nil when it may log in now.
    func wait(for address: [UInt8], now: NIODeadline) -> TimeAmount? {
        guard limit > 0, let times = failures[address], times.count >= limit else { return nil }
        let free = times[times.count - limit] + window
        return free > now ? free - now : nil
    }

    /// Counts a failed login of the address.
    mutating func recordFailure(of address: [UInt8], now: NIODeadline) {
        guard limit > 0 else { return }
        var times = failures[address, default: []].filter { $0 + window > now }
        times.append(now)
        if times.count > limit { times.removeFirst(times.count - limit) }
        failures[address] = times
    }

    /// Forgets the addresses whose failures are all older than the window.
    mutating func prune(now: NIODeadline) {
        failures = failures.filter { _, times in times.last.map { $0 + window > now } ?? false }
    }

    /// How many addresses have recent failures.
    var trackedAddresses: Int { failures.count }

    /// What an address counts as: IPv4 addresses (also when they reach a
    /// dual-stack socket as `::ffff:a.b.c.d`) whole, IPv6 addresses by their /64.
    static func key(forIPAddress text: String) -> [UInt8] {
        guard let bytes = AddressRange.bytes(of: text) else { return Array(text.utf8) }
        if bytes.count == 16 {
            if bytes[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) { return Array(bytes[12...]) }
            return Array(bytes[0..<8])
        }
        return bytes
    }
}

extension ServerState {
    /// Why the client may not try a login now (its address failed too often),
    /// or nil when it may. Exempt addresses are never throttled.
    func loginRefusal(for client: Client) -> String? {
        guard !client.isExempt,
              let wait = loginThrottle.wait(for: LoginThrottle.key(forIPAddress: client.ipAddress), now: .now())
        else { return nil }
        let seconds = max(1, (wait.nanoseconds + 999_999_999) / 1_000_000_000)
        return "Too many failed logins from your address; try again in \(seconds) seconds"
    }

    /// Counts a wrong login or password against the client's address.
    func recordLoginFailure(of client: Client) {
        guard !client.isExempt else { return }
        loginThrottle.recordFailure(of: LoginThrottle.key(forIPAddress: client.ipAddress), now: .now())
    }
}
