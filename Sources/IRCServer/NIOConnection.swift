import NIOCore

/// An IRC connection on a SwiftNIO channel (after TLS), as its pipeline's only
/// handler of our own: splits the input into lines and hands them to the server
/// state, and writes what the state sends.
final class NIOConnection: IRCConnection, ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let inbound: InboundQueue
    /// Thread-safe: used from the state loop for options (autoRead) and close.
    let channel: any Channel

    // Connection loop only.
    private var context: ChannelHandlerContext?
    private var closeReason = "Connection closed"

    init(inbound: InboundQueue, isTLS: Bool, channel: any Channel, outputLoop: NIOOutputLoop) {
        self.inbound = inbound
        self.channel = channel
        super.init(isTLS: isTLS, outputLoop: outputLoop)
    }

    override var remoteAddress: SocketAddress? { channel.remoteAddress }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        inbound.add(self, .opened)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data), into: inbound)
    }

    override func applyReading() {
        channel.setOption(ChannelOptions.autoRead, value: isReading).whenComplete { _ in }
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

    override func writeAndFlush(_ buffer: ByteBuffer) {
        context?.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    override func close(promise: EventLoopPromise<Void>?) {
        // Already closed is as good as closed here.
        channel.close().whenComplete { _ in promise?.succeed() }
    }

    override func refuse(with bytes: ByteBuffer) {
        let channel = self.channel
        // Close once the bytes are out (after the TLS handshake, on a TLS listener),
        // or after a few seconds if the peer never completes it.
        channel.writeAndFlush(bytes).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }

}

/// A SwiftNIO I/O loop as an `OutputLoop`: one per loop, shared by its connections.
final class NIOOutputLoop: OutputLoop {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func execute(_ task: @escaping @Sendable () -> Void) {
        loop.execute(task)
    }
}
