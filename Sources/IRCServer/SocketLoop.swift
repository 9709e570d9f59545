#if os(Linux)
import CSocketEvents
import Foundation
import Glibc
import Logging
import NIOCore
import Synchronization

/// One thread serving plaintext IRC sockets with epoll: it accepts, reads, splits
/// lines, writes and closes, and hands what happens to the state loop through its
/// `InboundQueue`, as a SwiftNIO I/O loop does for TLS connections.
///
/// Why not SwiftNIO's channels here: an idle connection is mostly waiting, and a
/// SwiftNIO channel keeps about 2 KiB of objects for it (the channel, its pipeline
/// and handler contexts, a pending-writes queue with room for 16 writes, buffer
/// pools); a connection here keeps one small object, and buffers only while a line
/// is half read or the peer is behind on what it was sent. See docs/design.md.
///
/// Every file descriptor belongs to one loop, and only that thread reads, writes,
/// closes or changes its epoll interest. Other threads post work with `execute`.
final class SocketLoop: OutputLoop, @unchecked Sendable {
    let inbound: InboundQueue
    /// Output a peer has not taken yet beyond which the connection is reported
    /// `unwritable` (the send queue limit).
    let sendQueueLimit: Int
    private let logger: Logger
    private let epoll: CInt
    private let wakeup: CInt
    private let tasks = Mutex<PostedTasks>(PostedTasks())
    private let stopped = Mutex<EventLoopPromise<Void>?>(nil)

    // The loop's thread only.
    /// By file descriptor: descriptors are small numbers, reused as soon as closed.
    private var connections: [SocketConnection?] = []
    private var listeners: [CInt: SocketListener] = [:]
    private var running = true
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var events: UnsafeMutableBufferPointer<epoll_event>
    /// The loops an accepted connection is handed to, in turn (set before `start`).
    private var siblings: [SocketLoop] = []
    private var nextSibling = 0
    /// Listeners taken out of epoll after running out of file descriptors, and when to retry.
    private var acceptPausedUntil: NIODeadline?

    private struct PostedTasks {
        var items: [@Sendable () -> Void] = []
        var woken = false
        /// The thread has ended and `wakeup` is closed: its number may belong to another file now.
        var ended = false
    }

    init(inbound: InboundQueue, sendQueueLimit: Int, logger: Logger) throws {
        self.inbound = inbound
        self.sendQueueLimit = sendQueueLimit
        self.logger = logger
        epoll = epoll_create1(CInt(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw IOError(errnoCode: errno, reason: "epoll_create1") }
        wakeup = eventfd(0, CInt(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeup >= 0 else {
            let code = errno
            Glibc.close(epoll)
            throw IOError(errnoCode: code, reason: "eventfd")
        }
        readBuffer = .allocate(byteCount: Self.readSize, alignment: 16)
        events = .allocate(capacity: Self.eventsPerWait)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeup
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
    }

    deinit {
        readBuffer.deallocate()
        events.deallocate()
    }

    /// The most one read takes from a socket.
    static var readSize: Int { 64 * 1024 }
    static var eventsPerWait: Int { 256 }

    /// Starts the thread. `loops` are every loop of the server, this one included:
    /// connections this loop accepts are spread over them in turn.
    func start(sharingWith loops: [SocketLoop]) {
        siblings = loops
        let thread = Thread { [self] in run() }
        thread.name = "switchboard-irc-socket"
        thread.start()
    }

    /// Runs `task` on the loop's thread, after the tasks posted before it.
    /// After the loop has stopped, tasks are dropped.
    func execute(_ task: @escaping @Sendable () -> Void) {
        tasks.withLock { posted in
            guard !posted.ended else { return }
            posted.items.append(task)
            guard !posted.woken else { return }
            posted.woken = true
            var one: UInt64 = 1
            _ = Glibc.write(wakeup, &one, 8)
        }
    }

    /// Closes the loop's connections and ends its thread; `promise` succeeds once it has.
    func stop(promise: EventLoopPromise<Void>) {
        stopped.withLock { $0 = promise }
        execute { [self] in running = false }
    }

    // MARK: The thread

    private func run() {
        while running {
            let count = epoll_wait(epoll, events.baseAddress, CInt(events.count), waitTimeout())
            if count < 0 {
                if errno == EINTR { continue }
                logger.critical("epoll_wait failed; the plaintext IRC connections of this thread stop", metadata: ["errno": "\(errno)"])
                break
            }
            for index in 0..<Int(count) {
                let event = events[index]
                let fd = event.data.fd
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeup, &value, 8)
                } else if let connection = connection(fd) {
                    handle(event.events, on: connection)
                } else if let listener = listeners[fd] {
                    accept(on: listener)
                }
            }
            runPostedTasks()
            resumeAcceptingIfDue()
            inbound.handOver()
        }
        runPostedTasks()
        for case let connection? in connections { close(connection, reason: "Server shutting down") }
        for fd in Array(listeners.keys) { removeListener(fd) }
        inbound.handOver()
        tasks.withLock { posted in
            posted.ended = true
            posted.items = []
            Glibc.close(wakeup)
        }
        Glibc.close(epoll)
        stopped.withLock { $0 }?.succeed()
    }

    private func runPostedTasks() {
        let batch = tasks.withLock { posted -> [@Sendable () -> Void] in
            let items = posted.items
            posted.items = []
            posted.woken = false
            return items
        }
        for task in batch { task() }
    }

    private func handle(_ events: UInt32, on connection: SocketConnection) {
        if events & EPOLLOUT.rawValue != 0 {
            writePending(connection)
            if connection.isClosed { return }
        }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            if connection.isReading {
                read(connection)
            } else if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                // Not reading, but the connection is gone: nothing more can come or go.
                close(connection, reason: "Connection closed")
            }
        }
    }

    // MARK: Reading

    private func read(_ connection: SocketConnection) {
        while true {
            let count = Glibc.read(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                var buffer = ByteBufferAllocator().buffer(capacity: count)
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: readBuffer[..<count]))
                connection.received(buffer, into: inbound)
                return
            }
            if count == 0 {
                close(connection, reason: "Connection closed")
                return
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return
            default:
                close(connection, reason: "Connection error")
                return
            }
        }
    }

    // MARK: Writing

    /// Writes what the state loop sent, after anything still pending. On the loop's thread.
    func write(_ buffer: ByteBuffer, to connection: SocketConnection) {
        guard !connection.isClosed else { return }
        if connection.pending != nil {
            connection.pending!.writeImmutableBuffer(buffer)
            checkSendQueue(connection)
            return
        }
        var buffer = buffer
        guard send(&buffer, on: connection) else { return }
        if buffer.readableBytes > 0 {
            connection.pending = buffer
            updateInterest(connection)
            checkSendQueue(connection)
        }
    }

    /// Writes as much of `connection.pending` as the socket takes.
    private func writePending(_ connection: SocketConnection) {
        guard var buffer = connection.pending else {
            updateInterest(connection)
            return
        }
        connection.pending = nil
        guard send(&buffer, on: connection) else { return }
        if buffer.readableBytes > 0 {
            connection.pending = buffer
        } else {
            updateInterest(connection)
        }
    }

    /// Sends from `buffer` until it is empty or the socket is full; false when the
    /// connection failed and was closed.
    private func send(_ buffer: inout ByteBuffer, on connection: SocketConnection) -> Bool {
        while buffer.readableBytes > 0 {
            let sent = buffer.withUnsafeReadableBytes { bytes in
                Glibc.send(connection.fd, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
            }
            if sent >= 0 {
                buffer.moveReaderIndex(forwardBy: sent)
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return true
            default:
                close(connection, reason: "Connection error")
                return false
            }
        }
        return true
    }

    private func checkSendQueue(_ connection: SocketConnection) {
        // The peer is not reading what we send: past the limit the state drops it, so
        // it cannot make the server hold its messages forever.
        if !connection.reportedUnwritable, let pending = connection.pending, pending.readableBytes > sendQueueLimit {
            connection.reportedUnwritable = true
            inbound.add(connection, .unwritable)
        }
    }

    // MARK: Opening and closing

    /// Registers the socket for what it needs now: reading unless paused, writing while
    /// output is pending. On the loop's thread.
    func updateInterest(_ connection: SocketConnection) {
        guard !connection.isClosed else { return }
        var wanted: UInt32 = 0
        if connection.isReading { wanted |= EPOLLIN.rawValue }
        if connection.pending != nil { wanted |= EPOLLOUT.rawValue }
        guard wanted != connection.interest else { return }
        connection.interest = wanted
        var event = epoll_event()
        event.events = wanted
        event.data.fd = connection.fd
        epoll_ctl(epoll, EPOLL_CTL_MOD, connection.fd, &event)
    }

    private func adopt(_ fd: CInt, address: SocketAddress?) {
        let connection = SocketConnection(fd: fd, remoteAddress: address, loop: self)
        var event = epoll_event()
        event.events = connection.interest
        event.data.fd = fd
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
            logger.warning("could not watch a new connection", metadata: ["errno": "\(errno)"])
            Glibc.close(fd)
            return
        }
        let slot = Int(fd)
        if slot >= connections.count { connections.append(contentsOf: repeatElement(nil, count: slot + 1 - connections.count)) }
        connections[slot] = connection
        inbound.add(connection, .opened)
    }

    /// Closes the socket, after one last try at what is still pending, and tells the
    /// state loop. On the loop's thread.
    func close(_ connection: SocketConnection, reason: String) {
        guard !connection.isClosed else { return }
        connection.isClosed = true
        if var pending = connection.pending {
            connection.pending = nil
            _ = send(&pending, on: connection)
        }
        epoll_ctl(epoll, EPOLL_CTL_DEL, connection.fd, nil)
        Glibc.close(connection.fd)
        connections[Int(connection.fd)] = nil
        inbound.add(connection, .closed(reason))
    }

    private func connection(_ fd: CInt) -> SocketConnection? {
        Int(fd) < connections.count ? connections[Int(fd)] : nil
    }

    // MARK: Listening

    /// Watches a listening socket (see `SocketListener.open`). On the loop's thread.
    func addListener(_ listener: SocketListener) {
        listeners[listener.fd] = listener
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = listener.fd
        epoll_ctl(epoll, EPOLL_CTL_ADD, listener.fd, &event)
    }

    /// Stops listening and closes the socket. On the loop's thread.
    func removeListener(_ fd: CInt) {
        guard listeners.removeValue(forKey: fd) != nil else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        Glibc.close(fd)
    }

    private func accept(on listener: SocketListener) {
        // A bounded number per wake-up: a storm of connections does not starve the others.
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    csocketevents_accept4(listener.fd, $0, &length, CInt(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EAGAIN, EWOULDBLOCK: return
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: waiting connections stay in the backlog; try again shortly
                    // rather than spin on a socket that stays readable.
                    logger.warning("cannot accept IRC connections: out of file descriptors or memory; retrying in 1 s",
                                   metadata: ["errno": "\(errno)"])
                    for fd in listeners.keys { epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil) }
                    acceptPausedUntil = .now() + .seconds(1)
                    return
                default:
                    logger.warning("accept failed", metadata: ["errno": "\(errno)"])
                    return
                }
            }
            var on: CInt = 1
            setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<CInt>.size))
            let address = Self.address(of: storage)
            let loop = siblings.isEmpty ? self : siblings[nextSibling % siblings.count]
            nextSibling &+= 1
            if loop === self {
                adopt(fd, address: address)
            } else {
                loop.execute { loop.adopt(fd, address: address) }
            }
        }
    }

    private func waitTimeout() -> CInt {
        guard let until = acceptPausedUntil else { return -1 }
        let left = (until - .now()).nanoseconds / 1_000_000
        return CInt(max(0, min(left + 1, 1000)))
    }

    private func resumeAcceptingIfDue() {
        guard let until = acceptPausedUntil, until <= .now() else { return }
        acceptPausedUntil = nil
        for fd in listeners.keys {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = fd
            epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        }
    }

    static func address(of storage: sockaddr_storage) -> SocketAddress? {
        withUnsafeBytes(of: storage) { bytes in
            switch CInt(storage.ss_family) {
            case AF_INET: SocketAddress(bytes.load(as: sockaddr_in.self))
            case AF_INET6: SocketAddress(bytes.load(as: sockaddr_in6.self))
            default: nil
            }
        }
    }
}

/// A listening plaintext IRC socket, served by one `SocketLoop`.
final class SocketListener: @unchecked Sendable {
    let fd: CInt
    let localAddress: SocketAddress

    private init(fd: CInt, localAddress: SocketAddress) {
        self.fd = fd
        self.localAddress = localAddress
    }

    /// Binds and listens on `host:port` (port 0: any free port), as SwiftNIO's
    /// server bootstrap does: address reuse, a backlog of 1024.
    static func open(host: String, port: Int) throws -> SocketListener {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = address.protocol.rawValue
        let fd = socket(family, CInt(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        do {
            var on: CInt = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<CInt>.size))
            let bound = address.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }
            guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
            guard listen(fd, 1024) == 0 else { throw IOError(errnoCode: errno, reason: "listen") }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let named = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0, let local = SocketLoop.address(of: storage) else {
                throw IOError(errnoCode: errno, reason: "getsockname")
            }
            return SocketListener(fd: fd, localAddress: local)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }
}
#endif
