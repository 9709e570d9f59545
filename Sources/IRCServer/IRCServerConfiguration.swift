import Foundation
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
    }

    public var serverName: String
    public var network: String
    public var motd: [String]
    public var listeners: [Listener]
    /// Required when any listener has `tls = true`.
    public var tls: TLSConfiguration?
    /// Addresses the per-IP limits (connections, flood control) do not apply to.
    public var exempt: [AddressRange]
    public var connectionsPerIP: Int
    public var registrationTimeout: TimeInterval
    public var pingInterval: TimeInterval
    public var pingTimeout: TimeInterval
    /// Bytes queued for a client that does not read before it is disconnected.
    public var sendQueue: Int
    /// Lines a client may send at once before it is slowed down, and lines per second after that.
    public var floodBurst: Int
    public var floodRate: Double

    public init(
        serverName: String = "switchboard.local",
        network: String = "Switchboard",
        motd: [String] = [],
        listeners: [Listener] = [],
        tls: TLSConfiguration? = nil,
        exempt: [AddressRange] = AddressRange.loopback,
        connectionsPerIP: Int = 10,
        registrationTimeout: TimeInterval = 30,
        pingInterval: TimeInterval = 90,
        pingTimeout: TimeInterval = 60,
        sendQueue: Int = 1 << 20,
        floodBurst: Int = 10,
        floodRate: Double = 2
    ) {
        self.serverName = serverName
        self.network = network
        self.motd = motd
        self.listeners = listeners
        self.tls = tls
        self.exempt = exempt
        self.connectionsPerIP = connectionsPerIP
        self.registrationTimeout = registrationTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.sendQueue = sendQueue
        self.floodBurst = floodBurst
        self.floodRate = floodRate
    }
}
