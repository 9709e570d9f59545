import CoreMetrics
import Foundation
import LiveChat
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
    let configuration: IRCServerConfiguration
    let database: SwitchboardDatabase
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    /// The loops that serve the connections' sockets (see docs/design.md).
    private let ioGroup: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    private let metrics: ServerMetrics
    private let running = Mutex<Running?>(nil)

    private struct Running: Sendable {
        let state: NIOLoopBound<ServerState>
        /// Every listener's bound address, in the configuration's order.
        let addresses: [SocketAddress]
        /// The TLS listeners (SwiftNIO).
        let channels: [any Channel]
        /// The plaintext listeners and the loops that serve them (see `SocketLoop`).
        let plaintext: PlaintextListeners
    }

    /// The Prometheus `# HELP` text of the series the server reports, by name.
    public static var metricHelp: [String: String] { ServerMetrics.help }

    public init(configuration: IRCServerConfiguration, database: SwitchboardDatabase,
                metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger) {
        self.configuration = configuration
        self.metrics = ServerMetrics(factory: metrics)
        self.database = database
        self.logger = logger
        // One loop owns all IRC state; the sockets are served by one loop per core,
        // which hand lines to the state loop and get their output back in batches.
        // See docs/design.md.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.ioGroup = MultiThreadedEventLoopGroup(numberOfThreads: IRCServer.ioThreads)
        self.pool = NIOThreadPool(numberOfThreads: 2)
    }

    /// One I/O loop per core, at least two.
    static var ioThreads: Int { max(2, System.coreCount) }

    /// The live chat engine as the web bridge uses it.
    public var gateway: any VisitorGateway { LiveChatGateway(server: self) }

    var state: NIOLoopBound<ServerState>? { running.withLock { $0?.state } }

    /// The addresses actually bound, in listener order (port 0 becomes a real port).
    public var boundAddresses: [SocketAddress] {
        running.withLock { $0?.addresses ?? [] }
    }

    public func start() async throws {
        pool.start()
        let loop = group.next()
        let authenticator = Authenticator(operators: database.operators, pool: pool)
        let configuration = self.configuration
        let logger = self.logger
        let metrics = self.metrics
        let database = self.database
        let recovered: [RecoveredConversation]
        let lastAssignments: [String: Date]
        let canned: [CannedResponse]
        let accounts: [OperatorAccount]
        do {
            recovered = try ConversationRecovery.load(from: database.conversations)
            lastAssignments = try database.conversations.lastAssignments()
            canned = try database.cannedResponses.all()
            accounts = try database.operators.all()
        } catch {
            throw IRCServerError.unreadableDatabase(path: database.path, error)
        }
        warnAboutChannelBots()
        let state = try await loop.submit {
            let state = ServerState(config: configuration, loop: loop, authenticator: authenticator, database: database,
                                    metrics: metrics, logger: logger)
            for response in canned { state.cannedResponses[response.shortcut] = response }
            // Visitors of recovered conversations see their operators' Online Chat Names
            // from the start, not the logins, before any operator reconnects.
            for account in accounts { state.knownAccounts[account.login.lowercased()] = account }
            for conversation in recovered { state.reopenConversation(conversation) }
            // The rule spreads the load by the time of each operator's last assignment, restart or not.
            for (login, at) in lastAssignments {
                state.operatorRecords[login.lowercased(), default: OperatorRecord()].lastAssignedAt = at
            }
            state.startTimers()
            return NIOLoopBound(state, eventLoop: loop)
        }.get()

        var sslContext: NIOSSLContext?
        if configuration.listeners.contains(where: \.tls) {
            guard let tls = configuration.tls else { throw IRCServerError.missingTLSConfiguration }
            sslContext = try NIOSSLContext(configuration: tls)
        }
        // One queue per I/O loop carries its connections' input to the state loop.
        var queues: [ObjectIdentifier: (InboundQueue, NIOOutputLoop)] = [:]
        for loop in ioGroup.makeIterator() {
            queues[ObjectIdentifier(loop)] = (InboundQueue(state: state, loop: loop), NIOOutputLoop(loop: loop))
        }
        let inbound = queues
        var channels: [any Channel] = []
        var addresses: [SocketAddress] = []
        let plaintext = PlaintextListeners(state: state, threads: IRCServer.ioThreads, sendQueue: configuration.sendQueue,
                                           logger: logger)
        do {
            for (index, listener) in configuration.listeners.enumerated() {
                do {
                    if !listener.tls, let address = try plaintext.listen(host: listener.host, port: listener.port) {
                        addresses.append(address)
                    } else {
                        let channel = try await bind(listener, inbound: inbound, sslContext: listener.tls ? sslContext : nil)
                        channels.append(channel)
                        addresses.append(channel.localAddress!)
                    }
                } catch {
                    // "Address already in use" reads as another program's doing; it may be our own listener.
                    let sibling = configuration.listeners[..<index].first { $0.port == listener.port }
                    throw ListenError(address: listener.address, what: listener.tls ? "IRC over TLS" : "plaintext IRC", error,
                                      overlapping: sibling?.address)
                }
                logger.info("IRC listening", metadata: ["address": "\(addresses.last!)", "tls": "\(listener.tls)"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            await plaintext.stop(on: group.next())
            throw error
        }
        running.withLock { $0 = Running(state: state, addresses: addresses, channels: channels, plaintext: plaintext) }
    }

    private func bind(_ listener: IRCServerConfiguration.Listener, inbound: [ObjectIdentifier: (InboundQueue, NIOOutputLoop)],
                      sslContext: NIOSSLContext?) async throws -> any Channel {
        let sendQueue = configuration.sendQueue
        let isTLS = sslContext != nil
        return try await ServerBootstrap(group: group, childGroup: ioGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: sendQueue / 2, high: sendQueue))
            // Small first reads: an idle connection keeps its last receive buffer, and
            // IRC lines are short. The allocator grows it for connections that read more.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 128, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let (queue, output) = inbound[ObjectIdentifier(channel.eventLoop)] else {
                        preconditionFailure("a connection on a loop outside the I/O group")
                    }
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try pipeline.addHandler(NIOConnection(inbound: queue, isTLS: isTLS, channel: channel, outputLoop: output))
                }
            }
            .bind(host: listener.host, port: listener.port)
            .get()
    }

    /// A `bot` that names no account, or a human's, gets no conversation: say so at start
    /// (accounts may still be added while the server runs, so this does not stop it).
    private func warnAboutChannelBots() {
        for channel in configuration.liveChat.channels {
            guard let login = channel.bot else { continue }
            let metadata: Logger.Metadata = ["channel": "\(channel.irc)", "bot": "\(login)"]
            let found: OperatorAccount?
            do { found = try database.operators.find(login: login) } catch { continue }
            if let account = found {
                if !account.isBot {
                    logger.warning("the channel's bot is not a bot account (add it with --bot): it gets no conversations", metadata: metadata)
                }
            } else {
                logger.warning("the channel's bot has no account yet: conversations go to the operators until it is added and connects", metadata: metadata)
            }
        }
    }

    /// Tells every client the server is shutting down, closes the connections and listeners.
    public func shutdown() async {
        guard let current = running.withLock({ value -> Running? in
            defer { value = nil }
            return value
        }) else { return }
        for channel in current.channels { try? await channel.close() }
        current.plaintext.closeListeners()
        let loop = current.state.eventLoop
        try? await loop.flatSubmit { current.state.value.shutdown() }.get()
        // The pool first: a task still running there (a password check) completes on the
        // state loop, whose answer may go to a connection's loop.
        try? await pool.shutdownGracefully()
        await current.plaintext.stop(on: loop)
        try? await ioGroup.shutdownGracefully()
        try? await group.shutdownGracefully()
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
    /// What the server reads at start (open conversations, canned responses) could not be read.
    case unreadableDatabase(path: String, any Error)

    public var description: String {
        switch self {
        case .missingTLSConfiguration: "a TLS listener is configured but no certificate is available"
        case .unreadableDatabase(let path, let error): "cannot read the database \(path): \(error)"
        }
    }
}

/// A listener that could not be opened, said so that an administrator knows which
/// one and why (NIO's own error names the system call, not the address).
public struct ListenError: Error, CustomStringConvertible {
    public let address: String
    public let what: String
    public let reason: String

    public init(address: String, what: String, _ error: any Error, overlapping sibling: String? = nil) {
        self.address = address
        self.what = what
        if let error = error as? IOError {
            reason = String(cString: strerror(error.errnoCode))
                + (error.errnoCode == EADDRINUSE && sibling != nil
                    ? " (by the [[listen]] entry \(sibling!) of this configuration: 0.0.0.0 and :: take the port on every address, and localhost is 127.0.0.1 or ::1)"
                    : "")
        } else {
            reason = "\(error)"
        }
    }

    public var description: String { "cannot listen on \(address) (\(what)): \(reason)" }
}
