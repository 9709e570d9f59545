import Foundation
import IRCServer
import Storage
import TOMLKit

/// The server's configuration, read from a TOML file (`etc/switchboard.toml`
/// by default). Every key is optional: a missing key takes its default,
/// which is `SwitchboardConfig.defaults`. Paths stay as written; relative
/// ones are resolved against the working directory when they are used.
public struct SwitchboardConfig: Sendable, Equatable {
    /// An IRC listener: `[[listen]]`.
    public struct Listener: Sendable, Equatable, Hashable {
        /// The address to bind, without brackets for IPv6 (`"::1"`).
        public var host: String
        public var port: Int
        public var tls: Bool

        public init(host: String, port: Int, tls: Bool) {
            self.host = host
            self.port = port
            self.tls = tls
        }

        /// `"host:port"`, with brackets around an IPv6 host.
        public var address: String { ConfigNetwork.formatAddress(host: host, port: port) }
    }

    /// A live chat channel: `[[livechat.channel]]` (the IRC server's own type).
    public typealias LiveChatChannel = IRCServerConfiguration.LiveChatChannel
    /// When a live chat channel's bot gets conversations.
    public typealias BotWhen = LiveChatChannel.BotWhen

    // [server]
    public var serverName: String
    public var network: String
    /// The message of the day, one element per line.
    public var motd: [String]
    /// Who runs the server and how to reach them (ADMIN); empty: not set.
    public var contact: String = ""
    // [[listen]]
    public var listeners: [Listener]
    // [tls]
    public var tlsCertificate: String
    public var tlsKey: String
    // [web]
    public var webHost: String
    public var webPort: Int
    public var allowedOrigins: [String]
    /// Largest HTTP request body (and WebSocket message) the web bridge accepts, in bytes.
    public var webMaxBodyBytes: Int
    // [storage]
    public var storagePath: String
    // [limits]
    /// Addresses and CIDR blocks to which per-IP limits do not apply.
    public var exempt: [String]
    /// Connections at once from one IP address; 0 means no limit.
    public var connectionsPerIP: Int
    /// Failed IRC logins one IP address may make within `loginFailureWindow`;
    /// beyond that its logins are refused until the window has passed. 0 means no limit.
    public var loginFailuresPerIP: Int
    public var loginFailureWindow: TimeInterval
    /// Seconds a new connection has to complete registration.
    public var registrationTimeout: TimeInterval
    /// Seconds of silence from a client after which the server sends a PING.
    public var pingInterval: TimeInterval
    /// Seconds without a reply after a PING after which the client is disconnected.
    public var pingTimeout: TimeInterval
    /// Bytes that may wait to be sent to one client before it is disconnected.
    public var sendQueue: Int
    /// Lines a client may send at once before flood control slows it down.
    public var floodBurst: Int
    /// Lines per second a client may send after the burst.
    public var floodRate: Double
    /// Conversations one IP address may start per minute on the web; 0 means no limit.
    public var webConversationsPerMinute: Int
    /// Messages one IP address may send per minute on the web (HTTP and WebSocket); 0 means no limit.
    public var webMessagesPerMinute: Int
    // [livechat]
    /// The languages enabled on this server, as BCP 47 tags.
    public var languages: [String]
    /// Seconds without activity after which an operator is parted from the live chat channels.
    public var inactivityTimeout: TimeInterval
    /// Ongoing conversations per operator; 0 means no limit.
    public var maxSessions: Int
    public var channels: [LiveChatChannel]

    public init(
        serverName: String, network: String, motd: [String], listeners: [Listener],
        tlsCertificate: String, tlsKey: String, webHost: String, webPort: Int, allowedOrigins: [String],
        storagePath: String, exempt: [String], connectionsPerIP: Int, registrationTimeout: TimeInterval,
        pingInterval: TimeInterval, pingTimeout: TimeInterval, sendQueue: Int, floodBurst: Int, floodRate: Double,
        languages: [String], inactivityTimeout: TimeInterval, maxSessions: Int, channels: [LiveChatChannel],
        webMaxBodyBytes: Int = 16_384, webConversationsPerMinute: Int = 6, webMessagesPerMinute: Int = 60,
        loginFailuresPerIP: Int = 10, loginFailureWindow: TimeInterval = 600
    ) {
        self.serverName = serverName
        self.network = network
        self.motd = motd
        self.listeners = listeners
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.webHost = webHost
        self.webPort = webPort
        self.allowedOrigins = allowedOrigins
        self.storagePath = storagePath
        self.exempt = exempt
        self.connectionsPerIP = connectionsPerIP
        self.registrationTimeout = registrationTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.sendQueue = sendQueue
        self.floodBurst = floodBurst
        self.floodRate = floodRate
        self.languages = languages
        self.inactivityTimeout = inactivityTimeout
        self.maxSessions = maxSessions
        self.channels = channels
        self.webMaxBodyBytes = webMaxBodyBytes
        self.webConversationsPerMinute = webConversationsPerMinute
        self.webMessagesPerMinute = webMessagesPerMinute
        self.loginFailuresPerIP = loginFailuresPerIP
        self.loginFailureWindow = loginFailureWindow
    }

    /// `"host:port"` of the web listener, with brackets around an IPv6 host.
    public var webAddress: String { ConfigNetwork.formatAddress(host: webHost, port: webPort) }

    /// The live chat channel with this slug.
    public func channel(slug: String) -> LiveChatChannel? {
        channels.first { $0.slug == slug }
    }

    /// The live chat channel with this IRC name (compared case-insensitively).
    public func channel(irc: String) -> LiveChatChannel? {
        channels.first { $0.irc.lowercased() == irc.lowercased() }
    }

    /// The enabled spelling of a language code (compared case-insensitively), or
    /// `nil` when the language is not enabled on this server.
    public func enabledLanguage(_ code: String) -> String? {
        languages.first { $0.caseInsensitiveCompare(code) == .orderedSame }
    }

    /// The default configuration file, relative to the working directory.
    public static let defaultPath = "etc/switchboard.toml"

    /// The defaults of the contract: what a missing key means.
    public static let defaults = SwitchboardConfig(
        serverName: "switchboard.local",
        network: "Switchboard",
        motd: [
            "Welcome to Switchboard, the live chat server.",
            "Join a live chat channel (e.g. /join #website) to receive conversations.",
            "Type /msg LiveChat HELP for the live chat commands.",
        ],
        listeners: [
            Listener(host: "0.0.0.0", port: 6697, tls: true),
            Listener(host: "127.0.0.1", port: 6667, tls: false),
        ],
        tlsCertificate: "certs/server.crt",
        tlsKey: "certs/server.key",
        webHost: "0.0.0.0",
        webPort: 8080,
        allowedOrigins: [],
        storagePath: "data/switchboard.sqlite",
        exempt: ["127.0.0.0/8", "::1"],
        connectionsPerIP: 10,
        registrationTimeout: 30,
        pingInterval: 90,
        pingTimeout: 60,
        sendQueue: 1_048_576,
        floodBurst: 10,
        floodRate: 2,
        languages: ["en", "fr", "es", "de"],
        inactivityTimeout: 30 * 60,
        maxSessions: 0,
        channels: [
            LiveChatChannel(name: "Website", irc: "#website", slug: "website")
        ],
        webMaxBodyBytes: 16_384,
        webConversationsPerMinute: 6,
        webMessagesPerMinute: 60,
        loginFailuresPerIP: 10,
        loginFailureWindow: 600
    )

    /// Reads and checks the configuration file at `path`.
    public static func load(path: String) throws(ConfigError) -> SwitchboardConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason: String
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                reason = "no such file (pass --config PATH to use another file)"
            } else if isDirectory.boolValue {
                reason = "this is a folder, not a configuration file"
            } else if let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType,
                      type != .typeRegular, type != .typeSymbolicLink {
                reason = "this is not a regular file"
            } else if !FileManager.default.isReadableFile(atPath: path) {
                reason = "no permission to read the file"
            } else {
                reason = "cannot read the file: \((error as NSError).localizedDescription)"
            }
            throw ConfigError(file: path, message: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "the file is not valid UTF-8")
        }
        return try parse(text, file: path)
    }

    /// Checks the configuration in `toml`; `file` names it in errors.
    public static func parse(_ toml: String, file: String) throws(ConfigError) -> SwitchboardConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: toml)
        } catch let error as TOMLParseError {
            throw ConfigError(
                file: file, line: error.source.begin.line,
                message: "TOML syntax error at column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(file: file, message: "TOML syntax error: \(error)")
        }
        let reader = ConfigReader(file: file, lines: ConfigLines(toml))
        return try reader.read(root)
    }
}
