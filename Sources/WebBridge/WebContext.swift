import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of the web bridge: Hummingbird's core storage, the
/// WebSocket upgrade hook, and where the request came from (for per-IP limits).
public struct WebRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<WebRequestContext>
    /// The peer of the TCP connection (no proxy header is trusted).
    public let remoteAddress: SocketAddress?
    /// The connection the request arrived on; a refused WebSocket upgrade
    /// leaves its answer here (see `UpgradeRefusals`).
    let channel: any Channel
    /// The body limit; `WebService` sets it from its configuration on every request.
    public var maxUploadSize: Int = WebService.Configuration.defaultMaxBodyBytes

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
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
