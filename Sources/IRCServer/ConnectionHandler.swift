import Logging
import NIOCore

/// The only handler of an IRC connection (after TLS): splits the input into lines
/// and hands them to the server state, and writes what the state sends.
///
/// The connection lives on one of the I/O event loops; the state lives on its own
/// loop (see docs/design.md). This object is the link between the two and its
/// fields are split by owner:
///
/// - on the connection's loop: `context` and the line decoder;
/// - on the state loop: `client` and `outbox` (bytes written this tick, not yet
///   handed to the connection's loop, in one buffer).
///
/// What happens on the connection (opened, lines, closed...) goes to the state
/// loop through its I/O loop's `InboundQueue`, in order; output comes back in one
/// task per loop per tick (`ServerState.flushPending`).
final class IRCConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let inbound: InboundQueue
    let isTLS: Bool
    /// The connection's event loop.
    let loop: any EventLoop
    /// Thread-safe: used from the state loop for options (autoRead) and close.
    let channel: any Channel

    // Connection loop only.
    private var context: ChannelHandlerContext?
    private var decoder = LineDecoder()
    private var closeReason = "Connection closed"

    // State loop only.
    var client: Client?
    /// Bytes written to the connection during this tick of the state loop, not yet
    /// handed to the connection's loop; nil when there are none.
    var outbox: ByteBuffer?

    init(inbound: InboundQueue, isTLS: Bool, channel: any Channel) {
        self.inbound = inbound
        self.isTLS = isTLS
        self.channel = channel
        self.loop = channel.eventLoop
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        inbound.add(self, .opened)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        decoder.decode(buffer) { inbound.add(self, .input($0)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        inbound.add(self, .closed(closeReason))
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client is not reading what we send: past the send queue limit it is
        // dropped, so it cannot make the server hold its messages forever.
        if !context.channel.isWritable {
            inbound.add(self, .unwritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeReason = "Connection error"
        inbound.add(self, .failed("\(error)"))
    }

    // MARK: Output, on the connection's loop

    /// Writes `buffer` and flushes. On the connection's loop only.
    func writeAndFlush(_ buffer: ByteBuffer) {
        context?.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    // MARK: Output, on the state loop

    /// Makes room for `count` more bytes in the outbox, creating it if needed.
    func reserveOutbox(_ count: Int) {
        if outbox == nil {
            outbox = ByteBufferAllocator().buffer(capacity: max(count, Self.outboxCapacity))
        }
    }

    /// Appends serialised lines to the outbox. A plain copy of the bytes: on the
    /// fan-out path this runs once per recipient, and `ByteBuffer.writeBuffer`
    /// (not inlined here) pays SwiftNIO's run-time exclusivity checks on each call.
    func appendToOutbox(_ lines: ByteBuffer) {
        lines.withUnsafeReadableBytes { source in
            reserveOutbox(source.count)
            outbox!.writeWithUnsafeMutableBytes(minimumWritableBytes: source.count) { target in
                UnsafeMutableRawBufferPointer(rebasing: target[..<source.count]).copyMemory(from: source)
                return source.count
            }
        }
    }

    /// The bytes written since the last hand-over, if any; the outbox is empty after.
    func takeOutbox() -> ByteBuffer? {
        guard let buffer = outbox else { return nil }
        outbox = nil
        return buffer.readableBytes > 0 ? buffer : nil
    }

    /// The first size of an outbox: a few messages. It grows for bursts.
    static var outboxCapacity: Int { 512 }
}

/// What a connection tells the server state.
enum ConnectionEvent {
    case opened
    case input(InboundLine)
    case closed(String)
    /// The send queue passed its limit.
    case unwritable
    case failed(String)
}

/// The events of one I/O loop's connections on their way to the state loop.
///
/// Everything the connections of one loop report during one tick of that loop
/// (every line of every read) is handed over in a single task, run after the
/// tick's I/O: one cross-thread hand-off per tick rather than one per read, which
/// is most of the cost when many connections each send a little. Events of one
/// connection stay in order.
final class InboundQueue: @unchecked Sendable {
    let loop: any EventLoop
    let state: NIOLoopBound<ServerState>

    // The I/O loop only.
    private var pending: [(IRCConnectionHandler, ConnectionEvent)] = []
    private var scheduled = false

    init(loop: any EventLoop, state: NIOLoopBound<ServerState>) {
        self.loop = loop
        self.state = state
    }

    /// On the I/O loop.
    func add(_ connection: IRCConnectionHandler, _ event: ConnectionEvent) {
        pending.append((connection, event))
        if !scheduled {
            scheduled = true
            loop.execute { self.handOver() }
        }
    }

    private func handOver() {
        scheduled = false
        let batch = pending
        pending = []
        pending.reserveCapacity(min(batch.count, 256))
        let state = self.state
        state.eventLoop.execute {
            let server = state.value
            server.startInput()
            for (connection, event) in batch { server.apply(event, from: connection) }
            server.endInput()
        }
    }
}

extension ServerState {
    /// What a connection reported, on the state loop, in the order it happened.
    func apply(_ event: ConnectionEvent, from connection: IRCConnectionHandler) {
        switch event {
        case .opened:
            connection.client = connectionOpened(connection)
        case .input(let line):
            if let client = connection.client { received(line, from: client) }
        case .closed(let reason):
            if let client = connection.client {
                connectionClosed(client, reason: reason)
                connection.client = nil
            }
            connection.outbox = nil
        case .unwritable:
            if let client = connection.client {
                disconnect(client, reason: "SendQ exceeded", sendError: false)
            }
        case .failed(let description):
            if let client = connection.client {
                logger.debug("connection error", metadata: ["address": "\(client.ipAddress)", "error": "\(description)"])
                disconnect(client, reason: "Connection error", sendError: false)
            } else {
                connection.channel.close(promise: nil)
            }
        }
    }
}
