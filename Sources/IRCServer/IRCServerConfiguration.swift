import Foundation
import LiveChat
import NIOSSL

/// Everything the IRC side needs to run, already validated by the config loader.
public struct IRCServerConfiguration: Sendable {
    public struct Listener: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var tls: Bool
        public init(host: String, port: Int, tls: Bool) {
            self.host = host
            self.port = port
            self.tls = tls
        }

        /// `host:port`, with brackets around an IPv6 host.
        public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// A live chat channel (`[[livechat.channel]]` in the config): an IRC channel
    /// operators join to get that channel's conversations.
    public struct LiveChatChannel: Sendable, Equatable {
        /// When the channel's bot gets conversations.
        public enum BotWhen: String, Sendable, Equatable, CaseIterable {
            /// Every new conversation goes to the bot first.
            case always
            /// The bot gets a conversation only when no human operator is available.
            case noOperator = "no_operator"
        }

        /// The name shown to visitors.
        public var name: String
        /// The IRC channel operators join, e.g. `#website`.
        public var irc: String
        /// Used in URLs: `/livechat/{slug}`.
        public var slug: String
        /// The first message of every conversation.
        public var welcome: String
        /// The widget's button text.
        public var button: String
        /// The login of a bot account that answers first, if any.
        public var bot: String?
        public var botWhen: BotWhen

        public init(
            name: String,
            irc: String,
            slug: String,
            welcome: String = LiveChatChannel.defaultWelcome,
            button: String = LiveChatChannel.defaultButton,
            bot: String? = nil,
            botWhen: BotWhen = .always
        ) {
            self.name = name
            self.irc = irc
            self.slug = slug
            self.welcome = welcome
            self.button = button
            self.bot = bot
            self.botWhen = botWhen
        }

        public static let defaultWelcome = "How may I help you?"
        public static let defaultButton = "Need help? Chat with us."
    }

    public struct LiveChatSettings: Sendable {
        public var languages: [LanguageTag]
        public var inactivityTimeout: TimeInterval
        public var maxSessions: Int
        public var channels: [LiveChatChannel]
        public init(languages: [LanguageTag] = [LanguageTag("en")!], inactivityTimeout: TimeInterval = 1800,
                    maxSessions: Int = 0, channels: [LiveChatChannel] = []) {
            self.languages = languages
            self.inactivityTimeout = inactivityTimeout
            self.maxSessions = maxSessions
            self.channels = channels
        }
    }

    public var serverName: String
    public var network: String
    public var motd: [String]
    /// Who runs the server and how to reach them, shown by ADMIN; empty: not set.
    public var contact: String
    public var listeners: [Listener]
    /// Required when any listener has `tls = true`.
    public var tls: TLSConfiguration?
    /// Addresses the per-IP limits (connections, flood control) do not apply to.
    public var exempt: [AddressRange]
    public var connectionsPerIP: Int
    /// Failed logins one address may make within `loginFailureWindow` before its
    /// logins are refused for the rest of that window; 0 means no limit.
    public var loginFailuresPerIP: Int
    public var loginFailureWindow: TimeInterval
    public var registrationTimeout: TimeInterval
    public var pingInterval: TimeInterval
    public var pingTimeout: TimeInterval
    /// Bytes queued for a client that does not read before it is disconnected.
    public var sendQueue: Int
    /// Lines a client may send at once before it is slowed down, and lines per second after that.
    public var floodBurst: Int
    public var floodRate: Double
    public var liveChat: LiveChatSettings

    public init(
        serverName: String = "switchboard.local",
        network: String = "Switchboard",
        motd: [String] = [],
        contact: String = "",
        listeners: [Listener] = [],
        tls: TLSConfiguration? = nil,
        exempt: [AddressRange] = AddressRange.loopback,
        connectionsPerIP: Int = 10,
        loginFailuresPerIP: Int = 10,
        loginFailureWindow: TimeInterval = 600,
        registrationTimeout: TimeInterval = 30,
        pingInterval: TimeInterval = 90,
        pingTimeout: TimeInterval = 60,
        sendQueue: Int = 1 << 20,
        floodBurst: Int = 10,
        floodRate: Double = 2,
        liveChat: LiveChatSettings = LiveChatSettings()
    ) {
        self.liveChat = liveChat
        self.serverName = serverName
        self.network = network
        self.motd = motd
        self.contact = contact
        self.listeners = listeners
        self.tls = tls
        self.exempt = exempt
        self.connectionsPerIP = connectionsPerIP
        self.loginFailuresPerIP = loginFailuresPerIP
        self.loginFailureWindow = loginFailureWindow
        self.registrationTimeout = registrationTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.sendQueue = sendQueue
        self.floodBurst = floodBurst
        self.floodRate = floodRate
    }
}
