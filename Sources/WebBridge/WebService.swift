import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import LiveChat
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP side of Switchboard: the visitor API and its events WebSocket
/// (`/api/v1`), the widget's files, `/healthz` and `/metrics`.
public struct WebService: Service {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Origins (`https://shop.example`) whose pages may call the API and open
        /// the WebSocket, besides the server's own. Empty: same origin only.
        public var allowedOrigins: [String]
        /// Largest request body (and WebSocket message) accepted, in bytes.
        public var maxBodyBytes: Int
        /// New conversations per minute from one address, after a burst of
        /// `conversationBurst`; 0 = no limit.
        public var conversationsPerMinute: Int
        public var conversationBurst: Int
        /// Messages per minute from one address (HTTP and WebSocket together),
        /// after a burst of `messageBurst`; 0 = no limit.
        public var messagesPerMinute: Int
        public var messageBurst: Int
        /// Addresses the per-IP limits do not apply to (`[limits] exempt`).
        public var isExempt: @Sendable (SocketAddress) -> Bool
        /// Where the widget's files are; nil: the ones built into the binary.
        public var assetsDirectory: URL?

        public static let defaultMaxBodyBytes = 16 * 1024
        public static let defaultConversationsPerMinute = 6
        public static let defaultConversationBurst = 3
        public static let defaultMessagesPerMinute = 60
        public static let defaultMessageBurst = 20

        /// A burst left out is the default burst, but never more than the per-minute rate.
        public init(
            host: String,
            port: Int,
            allowedOrigins: [String] = [],
            maxBodyBytes: Int = Configuration.defaultMaxBodyBytes,
            conversationsPerMinute: Int = Configuration.defaultConversationsPerMinute,
            conversationBurst: Int? = nil,
            messagesPerMinute: Int = Configuration.defaultMessagesPerMinute,
            messageBurst: Int? = nil,
            isExempt: @escaping @Sendable (SocketAddress) -> Bool = { _ in false },
            assetsDirectory: URL? = nil
        ) {
            self.host = host
            self.port = port
            self.allowedOrigins = allowedOrigins
            self.maxBodyBytes = maxBodyBytes
            self.conversationsPerMinute = conversationsPerMinute
            self.conversationBurst = conversationBurst
                ?? max(1, min(Configuration.defaultConversationBurst, conversationsPerMinute))
            self.messagesPerMinute = messagesPerMinute
            self.messageBurst = messageBurst ?? max(1, min(Configuration.defaultMessageBurst, messagesPerMinute))
            self.isExempt = isExempt
            self.assetsDirectory = assetsDirectory
        }
    }

    /// A new connection must send its first request head within this time.
    static let firstRequestTimeout = TimeAmount.seconds(10)
    /// A keep-alive connection with no request in progress is closed after this time.
    static let idleTimeout = TimeAmount.seconds(60)

    private let configuration: Configuration
    private let gateway: any VisitorGateway
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let onRunning: @Sendable (Int) async -> Void

    public init(configuration: Configuration, gateway: any VisitorGateway, registry: PrometheusCollectorRegistry,
                logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.gateway = gateway
        self.registry = registry
        self.logger = logger
        self.onRunning = onRunning
    }

    public func run() async throws {
        let configuration = self.configuration
        let logger = self.logger
        let metrics = WebMetrics(registry: registry)
        let limits = RateLimits(
            conversations: RateLimiter(perMinute: configuration.conversationsPerMinute, burst: configuration.conversationBurst),
            messages: RateLimiter(perMinute: configuration.messagesPerMinute, burst: configuration.messageBurst),
            isExempt: configuration.isExempt)
        let refusals = UpgradeRefusals()
        let api = VisitorAPI(gateway: gateway, limits: limits, metrics: metrics,
                             origins: OriginPolicy(allowedOrigins: configuration.allowedOrigins),
                             refusals: refusals, logger: logger)
        let assets = StaticAssets(directory: configuration.assetsDirectory ?? StaticAssets.bundledDirectory, logger: logger)

        // Middleware runs outermost first: settings, CORS (sees every answer,
        // errors included), then errors rendered as JSON.
        let httpRouter = Router(context: WebRequestContext.self)
        let router = MethodTableRouter(httpRouter)
        router.add(middleware: ContextSetupMiddleware(maxBodyBytes: configuration.maxBodyBytes))
        router.add(middleware: CORSMiddleware(policy: api.origins))
        router.add(middleware: JSONErrorMiddleware(logger: logger))
        router.get("/healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        let registry = self.registry
        router.get("/metrics") { _, _ -> Response in
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        api.addRoutes(to: router)
        assets.addRoutes(to: router, gateway: gateway)
        router.answerOtherMethods()

        // Upgrade requests are matched against this router before the HTTP one.
        let webSocketRouter = Router(context: WebRequestContext.self)
        let maxFrameBytes = max(configuration.maxBodyBytes, 1024)
        let socketPosts = MessagesInFlight()
        api.addEventsRoute(to: webSocketRouter, socket: EventSocket(
            gateway: gateway, poster: api.poster, posts: socketPosts, metrics: metrics, logger: logger, maxFrameBytes: maxFrameBytes))

        let webSocketResponder = webSocketRouter.buildResponder()
        let onRunning = self.onRunning
        let started = Mutex(false)
        let app = Application(
            responder: HeadResponder(inner: httpRouter.buildResponder()),
            server: HTTPServerBuilder { responder in
                GuardedWebChannel(
                    inner: HTTP1WebSocketUpgradeChannel(
                        responder: responder,
                        webSocketResponder: webSocketResponder,
                        configuration: .init(
                            http1: .init(additionalChannelHandlers: [UpgradeRefusalWriter(refusals: refusals)],
                                         idleTimeout: Self.idleTimeout),
                            ws: .init(maxFrameSize: EventSocket.readLimit(maxFrameBytes: maxFrameBytes), autoPing: .enabled(timePeriod: .seconds(30)), validateUTF8: true))),
                    firstRequestTimeout: Self.firstRequestTimeout)
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Switchboard"),
            onServerRunning: { channel in
                started.withLock { $0 = true }
                let port = channel.localAddress?.port ?? 0
                logger.info("HTTP listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                await onRunning(port)
            },
            logger: logger
        )
        // The application hears of the shutdown only once the socket messages in progress
        // are answered (see `MessagesInFlight`): it runs in a group of its own, told here. The
        // group runs detached: a service group inside another follows the outer one's
        // shutdown at once, through the task-locals a child task would inherit.
        // A request still trickling in (a slow body on a kept-alive connection) must not
        // hold the shutdown: after the limit, what is left is cancelled.
        var appConfiguration = ServiceGroupConfiguration(services: [app], logger: logger)
        appConfiguration.maximumGracefulShutdownDuration = Self.shutdownLimit
        let appGroup = ServiceGroup(configuration: appConfiguration)
        let appTask = Task.detached { try await appGroup.run() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await gracefulShutdown()   // or cancelled, when the application ended on its own
                    await Self.drain(socketPosts, within: Self.shutdownDrainLimit)
                    await appGroup.triggerGracefulShutdown()
                }
                defer { group.cancelAll() }
                try await withTaskCancellationHandler {
                    try await appTask.value
                } onCancel: {
                    appTask.cancel()
                }
            }
        } catch let error as IOError where !started.withLock({ $0 }) {
            // Not listening yet: the bind failed. Say which address, and why in words.
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            throw WebListenError(description: "cannot listen on \(host):\(configuration.port) (web): \(String(cString: strerror(error.errnoCode)))")
        }
    }
}

extension WebService {
    /// How long the shutdown waits for socket messages being stored: a database that
    /// does not answer must not hold the shutdown.
    static let shutdownDrainLimit: Duration = .seconds(5)
    /// How long the HTTP connections have to finish their requests once the sockets are done.
    static let shutdownLimit: Duration = .seconds(5)

    static func drain(_ posts: MessagesInFlight, within limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await posts.drain() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The web listener could not be opened.
public struct WebListenError: Error, CustomStringConvertible {
    public let description: String
}
