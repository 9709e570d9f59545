import Foundation

/// Whether an operator can be assigned new conversations in a live chat
/// channel, and if not, why. This is the one definition of "available":
/// `STATUS` shows it and the assignment rule's first step uses it.
///
/// Available means: joined to the channel, connected, not away, active
/// within `inactivityTimeout` (`now - lastActivity < inactivityTimeout`),
/// and, when `maxSessions > 0`, fewer than `maxSessions` ongoing
/// conversations. Being a bot is not part of availability (a bot is simply
/// never a candidate for human assignment).
public struct Availability: Sendable, Hashable, CustomStringConvertible {
    /// A reason for not being available. Cases are declared in the order
    /// they are reported: the first is the main reason.
    public enum Reason: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
        case disconnected
        case notJoined
        case away
        case inactive
        case atMaxSessions

        public static func < (lhs: Reason, rhs: Reason) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .disconnected: "disconnected"
            case .notJoined: "not joined"
            case .away: "away"
            case .inactive: "inactive"
            case .atMaxSessions: "at max sessions"
            }
        }
    }

    /// Every reason that applies, in `Reason` order; empty when available.
    public var reasons: [Reason]
    /// Ongoing conversations (counted with `ongoingWindow`).
    public var ongoing: Int

    public init(reasons: [Reason], ongoing: Int) {
        self.reasons = reasons.sorted()
        self.ongoing = ongoing
    }

    public var isAvailable: Bool { reasons.isEmpty }

    /// `available, 1 ongoing` or `not available (away, inactive), 0 ongoing`.
    public var description: String {
        let state = isAvailable ? "available" : "not available (" + reasons.map(\.description).joined(separator: ", ") + ")"
        return "\(state), \(ongoing) ongoing"
    }

    public static func evaluate(
        _ state: OperatorState,
        channel: String,
        settings: AssignmentSettings,
        now: Date
    ) -> Availability {
        let ongoing = state.ongoingCount(now: now, window: settings.ongoingWindow)
        var reasons: [Reason] = []
        if !state.connected { reasons.append(.disconnected) }
        if !state.joinedChannels.contains(channel) { reasons.append(.notJoined) }
        if state.away { reasons.append(.away) }
        if settings.inactivityTimeout > 0, now.timeIntervalSince(state.lastActivity) >= settings.inactivityTimeout {
            reasons.append(.inactive)
        }
        if settings.maxSessions > 0, ongoing >= settings.maxSessions { reasons.append(.atMaxSessions) }
        return Availability(reasons: reasons, ongoing: ongoing)
    }
}
