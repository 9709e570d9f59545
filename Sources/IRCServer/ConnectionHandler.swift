import Logging
import NIOCore

/// The only handler of an IRC connection (after TLS): splits the input into lines
/// and hands them to the server state, and writes what the state sends.
///
/// The connection lives on one of the I/O event loops; the state lives on its own
/// loop (see docs/design.md). This object is the link between the two and its
/// fields are split by owner:
///
/// - on the connection's loop: `context`, the line decoder and the lines read in
///   the current read batch;
/// - on the state loop: `client` and `outbox` (bytes written this tick, not yet
///   handed to the connection's loop).
///
/// Lines go to the state loop in one task per read batch (`channelReadComplete`);
/// output comes back in one task per loop per tick (`ServerState.flushPending`).
/// Both directions are ordered: tasks submitted from one loop to another run in
/// submission order. A connection that happens to live on the state loop itself
/// skips both hops.
final class IRCConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let state: NIOLoopBound<ServerState>
    let isTLS: Bool
    /// The connection's event loop.
    let loop: any EventLoop
    /// Thread-safe: used from the state loop for options (autoRead) and close.
    let channel: any Channel
    /// Whether the connection is served by the state loop itself (no hops).
    let onStateLoop: Bool

    // Connection loop only.
    private var context: ChannelHandlerContext?
    private var decoder = LineDecoder()
    private var lines: [InboundLine] = []
    private var closeReason = "Connection closed"

    // State loop only.
    var client: Client?
    var outbox: [ByteBuffer] = []

    init(state: NIOLoopBound<ServerState>, isTLS: Bool, channel: any Channel) {
        self.state = state
        self.isTLS = isTLS
        self.channel = channel
        self.loop = channel.eventLoop
        self.onStateLoop = channel.eventLoop === state.eventLoop
    }

    /// Runs `body` on the state loop: now when this connection lives there, else in a task.
    @inline(__always)
    private func onState(_ body: @escaping @Sendable (ServerState, IRCConnectionHandler) -> Void) {
        if onStateLoop {
            body(state.value, self)
        } else {
            let state = self.state
            state.eventLoop.execute { body(state.value, self) }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        onState { state, connection in
            connection.client = state.connectionOpened(connection)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if onStateLoop {
            let state = self.state.value
            decoder.decode(buffer) { line in
                if let client { state.received(line, from: client) }
            }
        } else {
            decoder.decode(buffer) { lines.append($0) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        sendLines()
        context.fireChannelReadComplete()
    }

    /// Hands the lines of this read batch to the state loop in one task.
    private func sendLines() {
        guard !lines.isEmpty else { return }
        let batch = lines
        lines = []
        onState { state, connection in
            guard let client = connection.client else { return }
            for line in batch { state.received(line, from: client) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sendLines()
        self.context = nil
        let reason = closeReason
        onState { state, connection in
            if let client = connection.client {
                state.connectionClosed(client, reason: reason)
                connection.client = nil
            }
            connection.outbox = []
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client is not reading what we send: past the send queue limit it is
        // dropped, so it cannot make the server hold its messages forever.
        if !context.channel.isWritable {
            onState { state, connection in
                if let client = connection.client {
                    state.disconnect(client, reason: "SendQ exceeded", sendError: false)
                }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeReason = "Connection error"
        let description = "\(error)"
        onState { state, connection in
            if let client = connection.client {
                state.logger.debug("connection error", metadata: ["address": "\(client.ipAddress)", "error": "\(description)"])
                state.disconnect(client, reason: "Connection error", sendError: false)
            } else {
                connection.channel.close(promise: nil)
            }
        }
    }

    // MARK: Output, on the connection's loop

    /// Writes `buffers` and flushes once. On the connection's loop only.
    func writeAndFlush(_ buffers: [ByteBuffer]) {
        guard let context else { return }
        if buffers.count > IRCConnectionHandler.coalesceAbove {
            // One buffer instead of many: NIO's queue of pending writes grows to the
            // largest burst it has seen and never shrinks (a welcome burst would
            // leave ~1 KiB on every idle connection).
            var total = 0
            for buffer in buffers { total += buffer.readableBytes }
            var joined = context.channel.allocator.buffer(capacity: total)
            for var buffer in buffers { joined.writeBuffer(&buffer) }
            context.write(NIOAny(joined), promise: nil)
        } else {
            for buffer in buffers { context.write(NIOAny(buffer), promise: nil) }
        }
        context.flush()
    }

    /// More buffers than this in one hand-over are copied into one.
    static var coalesceAbove: Int { 4 }

    /// Writes one buffer without flushing: for a connection on the state loop.
    func writeNow(_ buffer: ByteBuffer) {
        context?.write(NIOAny(buffer), promise: nil)
    }

    /// Flushes: for a connection on the state loop.
    func flushNow() {
        context?.flush()
    }
}
