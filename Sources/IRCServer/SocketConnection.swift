#if os(Linux)
import CSocketEvents
import NIOCore

/// A plaintext IRC connection on one of the server's own socket loops
/// (`SocketLoop`). Everything but what `IRCConnection` keeps for the state loop
/// belongs to the loop's thread.
final class SocketConnection: IRCConnection, @unchecked Sendable {
    private let address: SocketAddress?

    // The loop's thread only.
    let fd: CInt
    let loop: SocketLoop
    /// Output the socket has not taken yet; nil when there is none (the usual case).
    var pending: ByteBuffer?
    var isClosed = false
    var reportedUnwritable = false
    /// The epoll events the socket is registered for.
    var interest: UInt32

    init(fd: CInt, remoteAddress: SocketAddress?, loop: SocketLoop) {
        self.fd = fd
        self.address = remoteAddress
        self.loop = loop
        self.interest = EPOLLIN.rawValue
        super.init(isTLS: false, outputLoop: loop)
    }

    override var remoteAddress: SocketAddress? { address }

    override func writeAndFlush(_ buffer: ByteBuffer) {
        loop.write(buffer, to: self)
    }

    override func close(promise: EventLoopPromise<Void>?) {
        loop.execute { [self] in
            loop.close(self, reason: "Connection closed")
            promise?.succeed()
        }
    }

    override func refuse(with bytes: ByteBuffer) {
        loop.execute { [self] in
            loop.write(bytes, to: self)
            loop.close(self, reason: "Connection closed")
        }
    }

    override func applyReading() {
        loop.updateInterest(self)
    }
}
#endif
