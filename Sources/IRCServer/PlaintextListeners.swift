import Logging
import NIOCore
import Synchronization

/// The plaintext IRC listeners and the socket loops that serve their connections
/// (`SocketLoop`, one thread per I/O core, started with the first listener). On
/// systems without epoll, `listen` declines and the server binds the listener with
/// SwiftNIO, as it does the TLS ones.
final class PlaintextListeners: Sendable {
    private let state: NIOLoopBound<ServerState>
    private let threads: Int
    private let sendQueue: Int
    private let logger: Logger
    #if os(Linux)
    private let served = Mutex<Served>(Served())

    private struct Served {
        var loops: [SocketLoop] = []
        var listeners: [SocketListener] = []
    }
    #endif

    init(state: NIOLoopBound<ServerState>, threads: Int, sendQueue: Int, logger: Logger) {
        self.state = state
        self.threads = threads
        self.sendQueue = sendQueue
        self.logger = logger
    }

    /// Listens on `host:port` and returns the bound address; nil where the server's
    /// own loops are not available.
    func listen(host: String, port: Int) throws -> SocketAddress? {
        #if os(Linux)
        let listener = try SocketListener.open(host: host, port: port)
        let first = try served.withLock { served -> SocketLoop in
            if served.loops.isEmpty {
                served.loops = try (0..<threads).map { _ in
                    try SocketLoop(inbound: InboundQueue(state: state, loop: nil), sendQueueLimit: sendQueue, logger: logger)
                }
                for loop in served.loops { loop.start(sharingWith: served.loops) }
            }
            served.listeners.append(listener)
            return served.loops[0]
        }
        first.execute { first.addListener(listener) }
        return listener.localAddress
        #else
        return nil
        #endif
    }

    /// Stops accepting connections; those already open stay.
    func closeListeners() {
        #if os(Linux)
        let (loops, listeners) = served.withLock { ($0.loops, $0.listeners) }
        guard let first = loops.first else { return }
        for listener in listeners {
            let fd = listener.fd
            first.execute { first.removeListener(fd) }
        }
        #endif
    }

    /// Closes every connection and listener and ends the loops' threads.
    func stop(on loop: any EventLoop) async {
        #if os(Linux)
        let loops = served.withLock { served -> [SocketLoop] in
            defer { served.loops = [] }
            return served.loops
        }
        for socketLoop in loops {
            let stopped = loop.makePromise(of: Void.self)
            socketLoop.stop(promise: stopped)
            try? await stopped.futureResult.get()
        }
        #endif
    }
}
