import Foundation
import IRCProtocol
import NIOCore
import Storage

/// One IRC connection: its identity, negotiated capabilities and output.
/// Owned by the server's event loop; never touched from anywhere else.
final class Client {
    enum SASLState {
        case idle
        case awaitingData(buffer: String)
        case verifying
    }

    let id: Int
    /// The connection; nil for the server's pseudo-users (visitors), which are
    /// members of channels but have no socket: what is sent to them goes nowhere.
    /// It may live on another event loop: see `IRCConnectionHandler`.
    let connection: IRCConnectionHandler?
    let ipAddress: String
    let isTLS: Bool
    let isLoopback: Bool
    let isExempt: Bool
    let connectedAt: Date
    let connectedDeadline: NIODeadline

    // Identity
    var nick = "*" { didSet { hostmask = Self.hostmask(nick, user, host) } }
    var user: String? { didSet { hostmask = Self.hostmask(nick, user, host) } }
    var realname = ""
    var host: String { didSet { hostmask = Self.hostmask(nick, user, host) } }
    /// `nick!user@host`, kept up to date: every relayed message carries it.
    private(set) var hostmask: String
    var account: OperatorAccount?
    var isRegistered = false
    var isClosing = false

    // Registration
    var capNegotiating = false
    var capVersion = 0
    var caps = CapabilitySet()
    var tagShape = TagShape(CapabilitySet())
    var pendingPass: (login: String, password: String)?
    var sasl = SASLState.idle
    var authenticating = false
    var loggedInSent = false
    var saslFailures = 0

    // Presence
    var invisible = false
    var bot = false
    var awayMessage: String?
    var channels: [String: IRCChannel] = [:]   // by folded name
    var monitoring: Set<String> = []             // folded nicks
    var lastActivity: NIODeadline
    var lastActivityDate: Date
    var lastReceived: NIODeadline
    var pingSentAt: NIODeadline?

    // Input pacing (fake lag): a token bucket refilled at the flood rate.
    var inbox: [ByteBuffer] = []
    var inboxHead = 0
    var tokens: Double
    var lastRefill: NIODeadline
    var wakeupScheduled = false
    var readingPaused = false

    // Output
    var needsFlush = false
    var unflushedBytes = 0
    /// While a labeled command runs, replies to this client are collected here.
    var capturedReplies: [IRCMessage]?
    /// The label of the command being run, and whether it will answer later.
    var currentLabel: String?
    var labelDeferred = false

    /// The conversation a visitor pseudo-user belongs to.
    weak var conversation: Conversation?

    var isVirtual: Bool { connection == nil }

    init(id: Int, context connection: IRCConnectionHandler?, isTLS: Bool, isLoopback: Bool, isExempt: Bool, floodBurst: Int) {
        self.id = id
        self.connection = connection
        self.ipAddress = connection?.channel.remoteAddress?.ipAddress ?? "0.0.0.0"
        let host = ipAddress.contains(":") && ipAddress.hasPrefix(":") ? "0" + ipAddress : ipAddress
        self.host = host
        self.hostmask = Self.hostmask("*", nil, host)
        self.isTLS = isTLS
        self.isLoopback = isLoopback
        self.isExempt = isExempt
        self.connectedAt = Date()
        let now = NIODeadline.now()
        self.connectedDeadline = now
        self.lastActivity = now
        self.lastActivityDate = connectedAt
        self.lastReceived = now
        self.tokens = Double(floodBurst)
        self.lastRefill = now
    }

    private static func hostmask(_ nick: String, _ user: String?, _ host: String) -> String {
        "\(nick)!\(user ?? "*")@\(host)"
    }
    var accountName: String? { account?.login }
    func has(_ capability: Capability) -> Bool { caps.contains(capability) }

    var pendingInput: Int { inbox.count - inboxHead }
}

extension Client: Hashable {
    static func == (lhs: Client, rhs: Client) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
