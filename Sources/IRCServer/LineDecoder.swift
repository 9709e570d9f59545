import IRCProtocol
import NIOCore
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What the line decoder hands to the connection: a complete line (without CR LF),
/// or the news that a line was too long to keep and has been dropped.
enum InboundLine: Sendable {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into IRC lines. A line longer than any valid message
/// (tags plus 512 bytes) is not buffered: it is reported once and skipped up to
/// its newline, so a client cannot make the server hold unbounded input.
///
/// Runs inside the connection handler (no `ByteToMessageHandler`): between reads it
/// keeps at most the unfinished end of a line, copied into a buffer of its own so
/// that an idle connection does not pin a whole receive buffer.
struct LineDecoder {
    static let maximumLine = IRCLimits.maxTagBytes + IRCLimits.maxLineBytes
    private var discarding = false
    /// The start of a line whose newline has not arrived yet.
    private var partial: ByteBuffer?

    /// Decodes every complete line in `incoming` (after what was kept from earlier reads),
    /// calling `emit` for each in order.
    mutating func decode(_ incoming: ByteBuffer, _ emit: (InboundLine) -> Void) {
        var buffer: ByteBuffer
        if var kept = partial {
            partial = nil
            var incoming = incoming
            kept.writeBuffer(&incoming)
            buffer = kept
        } else {
            buffer = incoming
        }
        while true {
            let view = buffer.readableBytesView
            guard let newline = Self.newline(in: buffer).map({ view.startIndex + $0 }) else {
                if view.count > LineDecoder.maximumLine {
                    if !discarding {
                        discarding = true
                        emit(.tooLong)
                    }
                    buffer.moveReaderIndex(forwardBy: view.count)
                }
                break
            }
            let length = newline - view.startIndex
            if discarding {
                discarding = false
                buffer.moveReaderIndex(forwardBy: length + 1)
                continue
            }
            var lineLength = length
            if lineLength > 0, view[newline - 1] == UInt8(ascii: "\r") {
                lineLength -= 1
            }
            if lineLength > LineDecoder.maximumLine {
                buffer.moveReaderIndex(forwardBy: length + 1)
                emit(.tooLong)
                continue
            }
            let line = buffer.readSlice(length: lineLength)!
            buffer.moveReaderIndex(forwardBy: length + 1 - lineLength)
            emit(.line(line))
        }
        if buffer.readableBytes > 0 {
            // A copy of just the unfinished line, not a slice of the receive buffer.
            var kept = ByteBufferAllocator().buffer(capacity: buffer.readableBytes)
            kept.writeBuffer(&buffer)
            partial = kept
        }
    }

    /// The offset of the first LF among the readable bytes, found by `memchr`,
    /// which scans a vector at a time (a byte loop was about 5 % of an I/O
    /// thread's time in the pairs benchmark).
    private static func newline(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, let found = memchr(base, Int32(UInt8(ascii: "\n")), bytes.count) else {
                return nil
            }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    // A final line without a newline is dropped at EOF, as every IRC server does:
    // the connection simply forgets `partial`.
}
