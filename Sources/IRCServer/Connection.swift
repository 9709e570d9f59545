import Logging
import NIOCore
import Synchronization

/// One IRC connection as the server state sees it, whatever carries its bytes:
/// a SwiftNIO channel (`NIOConnection`, for TLS) or a socket of the server's own
/// plaintext loops (`SocketConnection`, see docs/design.md).
///
/// The connection lives on one of the I/O threads; the state lives on its own
/// loop. This object is the link between the two and its fields are split by
/// owner: the subclasses keep what their I/O thread owns; here, on the state loop,
/// are `client` and `outbox` (bytes written this tick, not yet handed to the I/O
/// thread, in one buffer).
///
/// What happens on the connection (opened, lines, closed...) goes to the state
/// loop through its I/O thread's `InboundQueue`, in order; output comes back in one
/// task per I/O thread per tick (`ServerState.flushPending`).
class IRCConnection: @unchecked Sendable {
    let isTLS: Bool
    /// The I/O thread that writes this connection's output.
    let outputLoop: any OutputLoop

    /// Lines read and handed to the state loop, not yet handled there. Past
    /// `inFlightLimit` the I/O thread stops reading the socket until the state loop
    /// is down to `inFlightResume`: a client that writes faster than the state loop
    /// handles (an exempt bot, which is not paced) waits in TCP, not in the server's
    /// memory, and cannot put hours of work ahead of everyone else's lines and of
    /// the shutdown.
    let linesInFlight = Atomic<Int>(0)
    /// Set by the I/O thread when it stopped reading for `linesInFlight`; whoever
    /// clears it (the state loop, or the I/O thread if the lines were handled
    /// meanwhile) resumes reading.
    let pausedForBacklog = Atomic<Bool>(false)

    static var inFlightLimit: Int { 1024 }
    static var inFlightResume: Int { 256 }

    // The I/O thread only.
    var decoder = LineDecoder()
    /// The state loop's wish (`setReading`) and a pause for `linesInFlight`.
    var stateWantsReading = true
    var backlogPaused = false
    var isReading: Bool { stateWantsReading && !backlogPaused }

    // State loop only.
    var client: Client?
    /// Bytes written to the connection during this tick of the state loop, not yet
    /// handed to the connection's loop; nil when there are none.
    var outbox: ByteBuffer?
    /// How many bytes the last outbox held: the next one starts that big, so a
    /// busy connection's outbox is not grown (reallocated and copied) again every tick.
    private var lastOutboxSize = 0

    init(isTLS: Bool, outputLoop: any OutputLoop) {
        self.isTLS = isTLS
        self.outputLoop = outputLoop
    }

    /// The peer's address. Read on the state loop when the connection opens.
    var remoteAddress: SocketAddress? { nil }

    /// Writes `buffer` and flushes. On `outputLoop` only.
    func writeAndFlush(_ buffer: ByteBuffer) {}

    /// Closes the connection after the output already handed to `outputLoop`;
    /// `promise` (on any loop) succeeds once it is closed. From any thread.
    func close(promise: EventLoopPromise<Void>?) { promise?.succeed() }

    /// Writes `bytes` and closes: for a connection the server turns away before it
    /// has a client. From the state loop.
    func refuse(with bytes: ByteBuffer) {}

    /// Makes the socket read or not as `isReading` says. On the I/O thread.
    func applyReading() {}

    // MARK: Input, on the I/O thread

    /// Splits what was read into lines and hands them to `inbound`; past
    /// `inFlightLimit` lines not yet handled, stops reading the socket.
    final func received(_ buffer: ByteBuffer, into inbound: InboundQueue) {
        var lines = 0
        decoder.decode(buffer) {
            lines += 1
            inbound.add(self, .input($0))
        }
        guard lines > 0, linesInFlight.add(lines, ordering: .sequentiallyConsistent).newValue > Self.inFlightLimit,
              !backlogPaused else { return }
        backlogPaused = true
        applyReading()
        // The state loop may have caught up before it could see the flag: then nobody
        // else will resume, so read on.
        pausedForBacklog.store(true, ordering: .sequentiallyConsistent)
        if linesInFlight.load(ordering: .sequentiallyConsistent) <= Self.inFlightResume,
           pausedForBacklog.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
            backlogPaused = false
            applyReading()
        }
    }

    // MARK: Reading, from the state loop

    /// Stops or resumes reading the connection's input.
    final func setReading(_ reading: Bool) {
        outputLoop.execute { [self] in
            stateWantsReading = reading
            applyReading()
        }
    }

    /// A line handed over has been handled: resumes reading after a pause for
    /// `linesInFlight` once the state loop is down to `inFlightResume`.
    final func lineHandled() {
        let left = linesInFlight.subtract(1, ordering: .sequentiallyConsistent).newValue
        if left <= Self.inFlightResume, pausedForBacklog.load(ordering: .sequentiallyConsistent),
           pausedForBacklog.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
            outputLoop.execute { [self] in
                backlogPaused = false
                applyReading()
            }
        }
    }

    // MARK: Output, on the state loop

    /// Makes room for `count` more bytes in the outbox, creating it if needed.
    final func reserveOutbox(_ count: Int) {
        if outbox == nil {
            // Rounded up as ByteBuffer grows, so a little more than last time fits.
            let usual = lastOutboxSize > Self.outboxCapacity
                ? min(1 << (Int.bitWidth - (lastOutboxSize - 1).leadingZeroBitCount), Self.outboxCapacityLimit) : 0
            outbox = ByteBufferAllocator().buffer(capacity: max(count, Self.outboxCapacity, usual))
        }
    }

    /// Appends serialised lines to the outbox. A plain copy of the bytes: on the
    /// fan-out path this runs once per recipient, and `ByteBuffer.writeBuffer`
    /// (not inlined here) pays SwiftNIO's run-time exclusivity checks on each call.
    final func appendToOutbox(_ lines: ByteBuffer) {
        lines.withUnsafeReadableBytes { source in
            reserveOutbox(source.count)
            outbox!.writeWithUnsafeMutableBytes(minimumWritableBytes: source.count) { target in
                UnsafeMutableRawBufferPointer(rebasing: target[..<source.count]).copyMemory(from: source)
                return source.count
            }
        }
    }

    /// The bytes written since the last hand-over, if any; the outbox is empty after.
    final func takeOutbox() -> ByteBuffer? {
        guard let buffer = outbox else { return nil }
        outbox = nil
        lastOutboxSize = buffer.readableBytes
        return buffer.readableBytes > 0 ? buffer : nil
    }

    /// The smallest outbox: a few messages. It grows for bursts.
    static var outboxCapacity: Int { 512 }
    /// The most an outbox starts with after a busy tick: an outbox is handed over
    /// at `ServerState.eagerFlushBytes` anyway.
    static var outboxCapacityLimit: Int { 16 * 1024 }
}

/// An I/O thread as the state loop hands it output: the connections of one thread
/// get their output of a tick in one task.
protocol OutputLoop: AnyObject, Sendable {
    func execute(_ task: @escaping @Sendable () -> Void)
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

/// The events of one I/O thread's connections on their way to the state loop.
///
/// Everything the connections of one thread report during one pass over their
/// sockets (every line of every read) is handed over in a single task, after that
/// pass: one cross-thread hand-off per pass rather than one per read, which is
/// most of the cost when many connections each send a little. Events of one
/// connection stay in order.
final class InboundQueue: @unchecked Sendable {
    let state: NIOLoopBound<ServerState>
    /// A SwiftNIO loop, on which the hand-over is scheduled after the tick's I/O; nil
    /// for the server's own socket loops, which call `handOver` after each pass.
    private let loop: (any EventLoop)?

    // The I/O thread only.
    private var pending: [(IRCConnection, ConnectionEvent)] = []
    private var scheduled = false

    init(state: NIOLoopBound<ServerState>, loop: (any EventLoop)?) {
        self.state = state
        self.loop = loop
    }

    /// On the I/O thread.
    func add(_ connection: IRCConnection, _ event: ConnectionEvent) {
        pending.append((connection, event))
        if !scheduled, let loop {
            scheduled = true
            loop.execute { self.handOver() }
        }
    }

    /// Sends what was added since the last hand-over to the state loop. On the I/O thread.
    func handOver() {
        scheduled = false
        guard !pending.isEmpty else { return }
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
    func apply(_ event: ConnectionEvent, from connection: IRCConnection) {
        switch event {
        case .opened:
            connection.client = connectionOpened(connection)
        case .input(let line):
            if let client = connection.client { received(line, from: client) }
            connection.lineHandled()
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
                connection.close(promise: nil)
            }
        }
    }
}
