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
    /// It may live on another event loop: see `IRCConnection`.
    let connection: IRCConnection?
    let ipAddress: String
    let isTLS: Bool
    let isLoopback: Bool
    let isExempt: Bool
    let connectedAt: Date
    let connectedDeadline: NIODeadline

    // Identity
    var nick = "*" { didSet { cachedHostmask = nil } }
    var user: String? { didSet { cachedHostmask = nil } }
    var realname = ""
    var host: String { didSet { cachedHostmask = nil } }
    /// `relaySource`, made on the first message the client relays: idle clients
    /// do not keep one.
    private var cachedHostmask: String?
    var account: OperatorAccount?
    var isRegistered = false
    var isClosing = false

    // Registration
    var capVersion = 0
    var caps = CapabilitySet()
    var tagShape = TagShape(CapabilitySet())
    /// Login state that matters only while it happens: allocated on first use,
    /// released once the client is registered and no login is in progress.
    private var handshakeState: Handshake?
    private var handshake: Handshake {
        if let handshakeState { return handshakeState }
        let state = Handshake()
        handshakeState = state
        return state
    }

    var capNegotiating: Bool {
        get { handshakeState?.capNegotiating ?? false }
        set { handshake.capNegotiating = newValue }
    }
    var pendingPass: (login: String, password: String)? {
        get { handshakeState?.pendingPass }
        set { handshake.pendingPass = newValue }
    }
    var sasl: SASLState {
        get { handshakeState?.sasl ?? .idle }
        set { handshake.sasl = newValue }
    }
    var authenticating: Bool {
        get { handshakeState?.authenticating ?? false }
        set { handshake.authenticating = newValue }
    }
    var saslFailures: Int {
        get { handshakeState?.saslFailures ?? 0 }
        set { handshake.saslFailures = newValue }
    }
    var loggedInSent = false

    /// Drops the login state when nothing is in progress (after registration).
    func releaseHandshake() {
        guard let state = handshakeState, !state.authenticating, !state.capNegotiating else { return }
        if case .idle = state.sasl { handshakeState = nil }
    }

    // Presence
    var invisible = false
    var bot = false
    var awayMessage: String?
    var channels: [String: IRCChannel] = [:]   // by folded name
    var monitoring: Set<String> = []             // folded nicks
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
    /// A command of this client answers after an asynchronous step (a password
    /// check, a database read); its next lines wait until it has answered.
    var inputHeld = false

    // Output
    var needsFlush = false
    /// While a labeled command runs, replies to this client are collected here.
    var capturedReplies: [IRCMessage]?
    /// The label of the command being run, and whether it will answer later.
    var currentLabel: String?
    var labelDeferred = false
    /// Parts of the current command still to answer (see `deferAnswer`), and what it
    /// already said for its labeled response.
    var deferredAnswers: UInt8 = 0
    var deferredReplies: [IRCMessage]?
    /// A bot's new connection: the conversations that waited for the bot go to it after
    /// the first line it sends after the welcome (a bot's `PING` there marks the end of
    /// the conversations it is rejoined to), or at the second sweep. Sweeps left.
    var pendingBotAssignment: UInt8 = 0
    /// The connection ended while paced lines were waiting: why, for when they have run.
    var closedWithInput: String?

    /// The conversation a visitor pseudo-user belongs to.
    weak var conversation: Conversation?

    var isVirtual: Bool { connection == nil }

    /// `connectedAt`: now for a connection; a website visitor's is when their conversation
    /// started, also after a restart (WHOIS shows it as the signon time).
    init(id: Int, context connection: IRCConnection?, isTLS: Bool, isLoopback: Bool, isExempt: Bool, floodBurst: Int,
         connectedAt: Date = Date()) {
        self.id = id
        self.connection = connection
        self.ipAddress = connection?.remoteAddress?.ipAddress ?? "0.0.0.0"
        self.host = ipAddress.contains(":") && ipAddress.hasPrefix(":") ? "0" + ipAddress : ipAddress
        self.isTLS = isTLS
        self.isLoopback = isLoopback
        self.isExempt = isExempt
        self.connectedAt = connectedAt
        let now = NIODeadline.now()
        self.connectedDeadline = now
        self.lastActivityDate = connectedAt
        self.lastReceived = now
        self.tokens = Double(floodBurst)
        self.lastRefill = now
    }

    var hostmask: String { "\(nick)!\(user ?? "*")@\(host)" }

    /// `hostmask`, kept between messages: the source of everything the client relays.
    var relaySource: String {
        if let cachedHostmask { return cachedHostmask }
        let mask = hostmask
        cachedHostmask = mask
        return mask
    }
    var accountName: String? { account?.login }
    func has(_ capability: Capability) -> Bool { caps.contains(capability) }

    var pendingInput: Int { inbox.count - inboxHead }
}

/// See `Client.handshake`.
final class Handshake {
    var capNegotiating = false
    var pendingPass: (login: String, password: String)?
    var sasl = Client.SASLState.idle
    var authenticating = false
    var saslFailures = 0
}

extension Client: Hashable {
    static func == (lhs: Client, rhs: Client) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(id) }
}
