import Logging
import NIOCore

/// The last handler of every IRC connection: hands decoded lines to the server
/// state and reports the connection's end. Small on purpose; the state decides.
final class IRCConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundLine

    private let state: NIOLoopBound<ServerState>
    private let isTLS: Bool
    private var client: Client?
    private var closeReason = "Connection closed"

    init(state: NIOLoopBound<ServerState>, isTLS: Bool) {
        self.state = state
        self.isTLS = isTLS
    }

    func channelActive(context: ChannelHandlerContext) {
        client = state.value.connectionOpened(context: context, isTLS: isTLS)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let client else { return }
        state.value.received(unwrapInboundIn(data), from: client)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let client {
            state.value.connectionClosed(client, reason: closeReason)
            self.client = nil
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client is not reading what we send: past the send queue limit it is
        // dropped, so it cannot make the server hold its messages forever.
        if !context.channel.isWritable, let client {
            state.value.disconnect(client, reason: "SendQ exceeded", sendError: false)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let client {
            state.value.logger.debug("connection error", metadata: ["address": "\(client.ipAddress)", "error": "\(error)"])
            closeReason = "Connection error"
            state.value.disconnect(client, reason: "Connection error", sendError: false)
        } else {
            context.close(promise: nil)
        }
    }
}
