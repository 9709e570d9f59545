import IRCProtocol
import NIOCore

/// What the line decoder hands to the connection: a complete line (without CR LF),
/// or the news that a line was too long to keep and has been dropped.
enum InboundLine {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into IRC lines. A line longer than any valid message
/// (tags plus 512 bytes) is not buffered: it is reported once and skipped up to
/// its newline, so a client cannot make the server hold unbounded input.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundLine

    static let maximumLine = IRCLimits.maxTagBytes + IRCLimits.maxLineBytes
    private var discarding = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > LineDecoder.maximumLine {
                if !discarding {
                    discarding = true
                    context.fireChannelRead(self.wrapInboundOut(.tooLong))
                }
                buffer.moveReaderIndex(forwardBy: view.count)
            }
            return .needMoreData
        }
        let length = newline - view.startIndex
        if discarding {
            discarding = false
            buffer.moveReaderIndex(forwardBy: length + 1)
            return .continue
        }
        var lineLength = length
        if lineLength > 0, view[newline - 1] == UInt8(ascii: "\r") {
            lineLength -= 1
        }
        if lineLength > LineDecoder.maximumLine {
            buffer.moveReaderIndex(forwardBy: length + 1)
            context.fireChannelRead(self.wrapInboundOut(.tooLong))
            return .continue
        }
        let line = buffer.readSlice(length: lineLength)!
        buffer.moveReaderIndex(forwardBy: length + 1 - lineLength)
        context.fireChannelRead(self.wrapInboundOut(.line(line)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A final line without a newline is dropped, as every IRC server does.
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}
