import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The web bridge's HTTP/1 connections: HummingbirdWebSocket's channel (HTTP with
/// the events WebSocket upgrade), plus a `FirstRequestGuard` for what it leaves
/// open during a connection's first request: a request it could not parse got no
/// answer and the connection stayed open, and so did a connection that never sent
/// a request. After the first request, Hummingbird answers parse errors itself and
/// its idle timeout closes quiet connections.
struct GuardedWebChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let inner: HTTP1WebSocketUpgradeChannel.Value
        /// Succeeds when the first request's head has come through; fails when the
        /// connection is given up before (whichever comes first on its loop counts).
        let firstRequest: EventLoopPromise<Void>
        var channel: any Channel { inner.channel }
    }

    let inner: HTTP1WebSocketUpgradeChannel
    let firstRequestTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let firstRequest = channel.eventLoop.makePromise(of: Void.self)
            try pipeline.addHandler(FirstRequestGuard(timeout: firstRequestTimeout, headSeen: firstRequest),
                                    position: .after(decoder))
            return Value(inner: value, firstRequest: firstRequest)
        }
    }

    func handle(value: Value, logger: Logger) async {
        // Without a first request (refused by the guard, or the client left) there is
        // nothing to serve; HummingbirdWebSocket would log its failed negotiation as an
        // error, once per connection, which every scanner on a public port triggers.
        do {
            // Browsers open connections ahead of need (preconnects) that may never carry a
            // request: on shutdown such a connection is closed now, not when its 10 s are up.
            try await withGracefulShutdownHandler {
                try await value.firstRequest.futureResult.get()
            } onGracefulShutdown: {
                // No effect once the head has come in: that request is served (and answered)
                // by the HTTP layer, which closes after it.
                value.firstRequest.fail(ChannelError.inputClosed)
            }
        } catch {
            logger.debug("web connection ended before its first request", metadata: ["error": "\(error)"])
            value.channel.close(promise: nil)
            return
        }
        await inner.handle(value: value.inner, logger: logger)
    }
}

/// Sits right after the HTTP request decoder for a connection's first request:
///
/// - an `Upgrade` header that is not a WebSocket handshake for the events route
///   is dropped, so the request is answered as plain HTTP (RFC 9110 lets a server
///   ignore it), and the connection closes after it: SwiftNIO's upgrade handler
///   loses a request whose upgrade it does not take, and the client got no answer;
/// - a request that does not keep the connection alive (HTTP/1.0 without
///   `Connection: keep-alive`, or any `close` among the connection options) is
///   passed on with `Connection: close`, so the connection ends after its answer;
/// - a parse error in it, before any answer: a JSON `400 bad_request`, then the
///   connection is closed;
/// - the whole request not in within `timeout` (a silent or trickling client): a
///   JSON `408 request_timeout` and a close, or only the close when an answer has
///   started.
///
/// It removes itself once the request's end has passed, before anything else can
/// come through this spot (after a WebSocket upgrade the pipeline carries frames).
final class FirstRequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    /// Completed when the first request's head goes through, failed if it never does.
    private let headSeen: EventLoopPromise<Void>
    private var timer: Scheduled<Void>?
    /// The request's end went through, or the connection was given up on.
    private var finished = false
    /// Something was written back: an answer has started.
    private var answered = false
    /// The request's `Upgrade` was dropped: its answer ends the connection.
    private var closesAfterAnswer = false

    init(timeout: TimeAmount, headSeen: EventLoopPromise<Void>) {
        self.timeout = timeout
        self.headSeen = headSeen
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            guard !handler.finished else { return }
            if handler.answered {
                handler.finished = true
                context.close(promise: nil)
            } else {
                let seconds = handler.timeout.nanoseconds / 1_000_000_000
                handler.reject(context, APIError(.requestTimeout, .requestTimeout, "The request did not arrive within \(seconds) seconds."))
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        headSeen.fail(ChannelError.inputClosed)   // no effect once the head was seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let isEnd: Bool
        var data = data
        switch unwrapInboundIn(data) {
        case .head(var head):
            isEnd = false
            headSeen.succeed()
            if head.headers.contains(name: "Upgrade"), !Self.isEventsHandshake(head) {
                // The request decoder has already switched to the upgrade and parses no
                // further request on this connection: it ends after this answer.
                head.headers.remove(name: "Upgrade")
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                data = wrapInboundOut(.head(head))
                closesAfterAnswer = true
            }
            // Hummingbird ends a connection after the request only when it says
            // `Connection: close`, and the HTTP/1.0 version is gone by then: an HTTP/1.0
            // request without keep-alive would hold its connection until the idle timeout.
            if !head.isKeepAlive, head.headers[canonicalForm: "connection"] != ["close"] {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                data = wrapInboundOut(.head(head))
            }
        case .body:
            isEnd = false
        case .end:
            isEnd = true
        }
        context.fireChannelRead(data)
        if isEnd && !finished {
            finished = true
            timer?.cancel()
            timer = nil
            // Kept for the answer, to say that the connection ends with it.
            if !closesAfterAnswer { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
        }
    }

    /// A request SwiftNIO's WebSocket upgrader takes (one key, version 13) for the one
    /// route that upgrades; every other upgrade would reach the router as nothing.
    static func isEventsHandshake(_ head: HTTPRequestHead) -> Bool {
        guard head.headers["Upgrade"].contains(where: { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "websocket" }
        }) else { return false }
        guard head.headers["Sec-WebSocket-Key"].count == 1, head.headers["Sec-WebSocket-Version"] == ["13"] else { return false }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0].isEmpty && parts[1] == "api" && parts[2] == "v1"
            && parts[3] == "conversations" && !parts[4].isEmpty && parts[5] == "events"
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        answered = true
        if closesAfterAnswer, case .head(var head) = unwrapOutboundIn(data) {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !finished, !answered, error is HTTPParserError {
            reject(context, .unreadableRequest)
            return
        }
        context.fireErrorCaught(error)
    }

    private func reject(_ context: ChannelHandlerContext, _ error: APIError) {
        finished = true
        answered = true
        timer?.cancel()
        timer = nil
        let body = error.body
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: JSON.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: error.status.code), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
            channel.close(promise: nil)
        }
    }
}
