import Foundation

/// A conversation assigned to an operator, as far as load is concerned.
public struct AssignedConversation: Sendable, Hashable {
    /// When the operator was assigned (or took) the conversation.
    public var assignedAt: Date
    /// The conversation's last message, if any.
    public var lastMessageAt: Date?
    /// Whether the conversation has ended (closed by either side).
    public var ended: Bool

    public init(assignedAt: Date, lastMessageAt: Date? = nil, ended: Bool = false) {
        self.assignedAt = assignedAt
        self.lastMessageAt = lastMessageAt
        self.ended = ended
    }

    /// The later of the assignment and the last message.
    public var lastActivityAt: Date {
        guard let lastMessageAt else { return assignedAt }
        return max(assignedAt, lastMessageAt)
    }

    /// Ongoing (Odoo's definition): not ended, and its last message or its
    /// assignment less than `window` ago (`now - lastActivityAt < window`;
    /// exactly `window` ago no longer counts; a time in the future counts).
    public func isOngoing(now: Date, window: TimeInterval) -> Bool {
        !ended && now.timeIntervalSince(lastActivityAt) < window
    }
}

/// What the assignment rule knows about one operator account, at one instant.
///
/// This is the account's state, aggregated by the caller over the account's
/// connections (an account connected from a laptop and a phone is connected
/// while either is, joined to a channel while a connected client is in it).
/// Channel names are compared exactly: pass them in one canonical form
/// (e.g. casefolded `#website`).
public struct OperatorState: Sendable, Hashable {
    public var login: String
    public var isBot: Bool
    /// Live chat channels the operator is a member of.
    public var joinedChannels: Set<String>
    public var connected: Bool
    public var away: Bool
    /// The last command the client sent (other than PING, PONG, CAP).
    public var lastActivity: Date
    /// The first of the Online Chat Languages.
    public var mainLanguage: LanguageTag?
    /// The other Online Chat Languages, in order.
    public var additionalLanguages: [LanguageTag]
    /// The operator's conversations; ended or stale ones may be included,
    /// the rule applies the "ongoing" definition itself.
    public var conversations: [AssignedConversation]
    /// When the operator was last assigned a conversation; nil if never.
    public var lastAssignedAt: Date?

    public init(
        login: String,
        isBot: Bool = false,
        joinedChannels: Set<String> = [],
        connected: Bool = true,
        away: Bool = false,
        lastActivity: Date,
        mainLanguage: LanguageTag? = nil,
        additionalLanguages: [LanguageTag] = [],
        conversations: [AssignedConversation] = [],
        lastAssignedAt: Date? = nil
    ) {
        self.login = login
        self.isBot = isBot
        self.joinedChannels = joinedChannels
        self.connected = connected
        self.away = away
        self.lastActivity = lastActivity
        self.mainLanguage = mainLanguage
        self.additionalLanguages = additionalLanguages
        self.conversations = conversations
        self.lastAssignedAt = lastAssignedAt
    }

    /// Online Chat Languages as one list: the main language first.
    public var languages: [LanguageTag] {
        get { (mainLanguage.map { [$0] } ?? []) + additionalLanguages }
        set {
            mainLanguage = newValue.first
            additionalLanguages = Array(newValue.dropFirst())
        }
    }

    /// The number of ongoing conversations (see `AssignedConversation.isOngoing`).
    public func ongoingCount(now: Date, window: TimeInterval) -> Int {
        conversations.reduce(0) { $0 + ($1.isOngoing(now: now, window: window) ? 1 : 0) }
    }
}

/// The knobs of the assignment rule.
public struct AssignmentSettings: Sendable, Hashable {
    /// `inactivity_timeout`: an operator without activity for this long is
    /// not available. Zero or less disables the check. Default 30 minutes.
    public var inactivityTimeout: TimeInterval
    /// `max_sessions`: an operator with this many ongoing conversations is
    /// not available. 0 means unlimited. Default 0.
    public var maxSessions: Int
    /// How recent a conversation's last message or assignment must be for it
    /// to be ongoing. Default 30 minutes (Odoo's definition).
    public var ongoingWindow: TimeInterval
    /// Odoo's buffer: prefer operators not assigned within this long.
    /// Default 2 minutes.
    public var spreadBuffer: TimeInterval

    public init(
        inactivityTimeout: TimeInterval = 30 * 60,
        maxSessions: Int = 0,
        ongoingWindow: TimeInterval = 30 * 60,
        spreadBuffer: TimeInterval = 2 * 60
    ) {
        self.inactivityTimeout = inactivityTimeout
        self.maxSessions = maxSessions
        self.ongoingWindow = ongoingWindow
        self.spreadBuffer = spreadBuffer
    }

    public static let `default` = AssignmentSettings()
}
