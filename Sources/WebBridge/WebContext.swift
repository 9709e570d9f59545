import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Synchronization

/// The request context of the web bridge: Hummingbird's core storage, the
/// WebSocket upgrade hook, and where the request came from (for per-IP limits).
public struct WebRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Where a matched WebSocket route leaves its handler for the upgrade.
    /// HummingbirdWebSocket stores that handler with this very context inside the
    /// reference's box: a cycle (box, context, box) that kept every upgraded
    /// connection, channel and buffers included, alive for good. The reference
    /// lives in a slot that `releaseWebSocketWhenClosed()` empties, which breaks it.
    public var webSocket: WebSocketHandlerReference<WebRequestContext> { webSocketSlot.reference ?? .init() }
    private let webSocketSlot = WebSocketSlot()
    /// The peer of the TCP connection (no proxy header is trusted).
    public let remoteAddress: SocketAddress?
    /// The connection the request arrived on; a refused WebSocket upgrade
    /// leaves its answer here (see `UpgradeRefusals`).
    let channel: any Channel
    /// The body limit; `WebService` sets it from its configuration on every request.
    public var maxUploadSize: Int = WebService.Configuration.defaultMaxBodyBytes

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}

extension Router where Context == WebRequestContext {
    /// A WebSocket route (`ws`) whose upgraded requests let go of their handler
    /// once their connection has closed (see `WebRequestContext.webSocket`).
    @discardableResult
    func webSocketRoute(
        _ path: RouterPath,
        shouldUpgrade: @Sendable @escaping (Request, WebRequestContext) async throws -> RouterShouldUpgrade,
        onUpgrade: @escaping WebSocketDataHandler<WebSocketRouterContext<WebRequestContext>>
    ) -> Self {
        ws(path, shouldUpgrade: { request, context in
            let answer = try await shouldUpgrade(request, context)
            if case .upgrade = answer { context.releaseWebSocketWhenClosed() }
            return answer
        }, onUpgrade: onUpgrade)
    }
}

extension WebRequestContext {
    /// For a request a WebSocket route agreed to upgrade: once its connection has
    /// closed, the context lets go of the upgrade's handler (see `webSocket`).
    func releaseWebSocketWhenClosed() {
        let slot = webSocketSlot
        channel.closeFuture.whenComplete { _ in slot.empty() }
    }
}

/// The WebSocket handler reference of one request, until it is emptied.
final class WebSocketSlot: Sendable {
    private let value = Mutex<WebSocketHandlerReference<WebRequestContext>?>(.init())

    var reference: WebSocketHandlerReference<WebRequestContext>? { value.withLock { $0 } }

    func empty() { value.withLock { $0 = nil } }
}

/// Applies per-service settings to every request's context.
struct ContextSetupMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = maxBodyBytes
        return try await next(request, context)
    }
}

/// HEAD answered wherever GET is, as GET's answer without its body: HTTP wants
/// it, and uptime monitors probe with it. Wraps the router, whose routes match
/// one method each.
struct HeadResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == WebRequestContext {
    let inner: Inner

    func respond(to request: Request, context: WebRequestContext) async throws -> Response {
        guard request.method == .head else { return try await inner.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await inner.respond(to: Request(head: head, body: request.body), context: context)
        let length = response.body.contentLength
        response.body = ResponseBody()
        if let length { response.headers[.contentLength] = String(length) }
        return response
    }
}
