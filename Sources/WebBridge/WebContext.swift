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
