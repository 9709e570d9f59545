import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Storage
import Synchronization

/// The IRC side of Switchboard: binds the configured listeners and runs the
/// server state on one event loop. A `Service`, so SIGTERM shuts it down cleanly.
public final class IRCServer: Service, Sendable {
    private let configuration: IRCServerConfiguration
    private let database: SwitchboardDatabase
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool
    private let metrics: ServerMetrics
    private let running = Mutex<Running?>(nil)

    private struct Running: Sendable {
        let state: NIOLoopBound<ServerState>
        let listeners: [any Channel]
    }

    public init(configuration: IRCServerConfiguration, database: SwitchboardDatabase,
                metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger) {
        self.configuration = configuration
        self.metrics = ServerMetrics(factory: metrics)
        self.database = database
        self.logger = logger
        // One loop owns all IRC state; see docs/design.md.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.pool = NIOThreadPool(numberOfThreads: 2)
    }

    /// The addresses actually bound, in listener order (port 0 becomes a real port).
    public var boundAddresses: [SocketAddress] {
        running.withLock { $0?.listeners.compactMap(\.localAddress) ?? [] }
    }

    public func start() async throws {
        pool.start()
        let loop = group.next()
        let authenticator = Authenticator(operators: database.operators, pool: pool)
        let configuration = self.configuration
        let logger = self.logger
        let metrics = self.metrics
        let state = try await loop.submit {
            let state = ServerState(config: configuration, loop: loop, authenticator: authenticator, metrics: metrics, logger: logger)
            state.startTimers()
            return NIOLoopBound(state, eventLoop: loop)
        }.get()

        var sslContext: NIOSSLContext?
        if configuration.listeners.contains(where: \.tls) {
            guard let tls = configuration.tls else { throw IRCServerError.missingTLSConfiguration }
            sslContext = try NIOSSLContext(configuration: tls)
        }
        var listeners: [any Channel] = []
        do {
            for listener in configuration.listeners {
                let channel = try await bind(listener, state: state, sslContext: listener.tls ? sslContext : nil)
                listeners.append(channel)
                logger.info("IRC listening", metadata: [
                    "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(listener.tls)",
                ])
            }
        } catch {
            for channel in listeners { try? await channel.close() }
            throw error
        }
        running.withLock { $0 = Running(state: state, listeners: listeners) }
    }

    private func bind(_ listener: IRCServerConfiguration.Listener, state: NIOLoopBound<ServerState>,
                      sslContext: NIOSSLContext?) async throws -> any Channel {
        let sendQueue = configuration.sendQueue
        let isTLS = sslContext != nil
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: sendQueue / 2, high: sendQueue))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(LineDecoder()))
                    try pipeline.addHandler(IRCConnectionHandler(state: state, isTLS: isTLS))
                }
            }
            .bind(host: listener.host, port: listener.port)
            .get()
    }

    /// Tells every client the server is shutting down, closes the connections and listeners.
    public func shutdown() async {
        guard let current = running.withLock({ value -> Running? in
            defer { value = nil }
            return value
        }) else { return }
        for channel in current.listeners { try? await channel.close() }
        let loop = current.state.eventLoop
        try? await loop.flatSubmit { current.state.value.shutdown() }.get()
        try? await group.shutdownGracefully()
        try? await pool.shutdownGracefully()
        logger.info("IRC server stopped")
    }

    public func run() async throws {
        if running.withLock({ $0 == nil }) { try await start() }
        try? await gracefulShutdown()
        await shutdown()
    }
}

public enum IRCServerError: Error, CustomStringConvertible {
    case missingTLSConfiguration

    public var description: String {
        switch self {
        case .missingTLSConfiguration: "a TLS listener is configured but no certificate is available"
        }
    }
}
