import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Answers refused WebSocket upgrades with a real status and a JSON body.
///
/// HummingbirdWebSocket answers every refused upgrade with an empty
/// `400 Bad Request` that the router cannot influence. The contract wants a
/// bad token to get `401` (and a foreign origin `403`) before any upgrade, so
/// the upgrade check records its answer here, keyed by connection, and
/// `UpgradeRefusalWriter` (one per HTTP connection) swaps it in for that 400.
final class UpgradeRefusals: Sendable {
    struct Refusal: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: ByteBuffer
    }

    private let pending = PerConnection<Refusal>()

    /// Records the answer for the upgrade request on `channel`; forgotten when the connection closes.
    func record(_ error: APIError, on channel: any Channel) {
        pending.put(Refusal(status: error.status, headers: error.responseHeaders, body: error.body), on: channel)
    }

    func take(for channel: any Channel) -> Refusal? {
        pending.take(for: channel)
    }
}

/// Sits in every HTTP connection's pipeline. On a connection whose upgrade was
/// refused it rewrites the first response (HummingbirdWebSocket's empty 400)
/// into the recorded one; on any other connection it only passes writes on.
final class UpgradeRefusalWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let refusals: UpgradeRefusals
    private var refusal: UpgradeRefusals.Refusal?
    private var rewriting = false

    init(refusals: UpgradeRefusals) {
        self.refusals = refusals
    }

    func handlerAdded(context: ChannelHandlerContext) {
        refusal = refusals.take(for: context.channel)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let refusal else {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            // Only the first response of the connection is the upgrade's answer.
            guard head.status == .badRequest, head.headerFields[.contentLength] == "0" else {
                self.refusal = nil
                context.write(data, promise: promise)
                return
            }
            rewriting = true
            var fields = refusal.headers
            fields[.connection] = "close"
            fields[.contentLength] = String(refusal.body.readableBytes)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: refusal.status, headerFields: fields))), promise: promise)
        case .body:
            // The refused upgrade's response has no body; drop anything else it might send.
            if rewriting {
                promise?.succeed()
            } else {
                context.write(data, promise: promise)
            }
        case .end(let trailers):
            if rewriting {
                context.write(wrapOutboundOut(.body(refusal.body)), promise: nil)
                context.write(wrapOutboundOut(.end(trailers)), promise: promise)
                rewriting = false
                self.refusal = nil
            } else {
                context.write(data, promise: promise)
            }
        }
    }
}
