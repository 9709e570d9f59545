import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP connection that keeps every byte the server sends.
final class RawConnection: Sendable {
    struct Head {
        let connection: RawConnection
        let status: String
        let headers: [String]
    }

    fileprivate final class Received: Sendable {
        let state = Mutex<(data: [UInt8], closed: Bool)>(([], false))
    }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let received: Received
        init(_ received: Received) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.state.withLock { $0.data.append(contentsOf: buffer.readableBytesView) }
        }
        func channelInactive(context: ChannelHandlerContext) { received.state.withLock { $0.closed = true } }
    }

    fileprivate let channel: any Channel
    fileprivate let received: Received

    private init(channel: any Channel, received: Received) {
        self.channel = channel
        self.received = received
    }

    deinit { channel.close(promise: nil) }

    static func connect(port: Int) async throws -> RawConnection {
        let received = Received()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Everything received so far, as text (WebSocket frames from the server are not masked, so their JSON shows).
    var text: String { String(decoding: received.state.withLock { $0.data }, as: UTF8.self) }
    var bytes: [UInt8] { received.state.withLock { $0.data } }
    var isClosed: Bool { received.state.withLock { $0.closed } }

    /// Waits until the received bytes contain `needle`.
    func wait(for needle: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !text.contains(needle) {
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: needle, seen: [text]) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The status line and header lines of the answer.
    func head() async throws -> Head {
        try await wait(for: "\r\n\r\n")
        let head = text.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        return Head(connection: self, status: head[0], headers: Array(head.dropFirst()))
    }

    /// The body after the head, once the server has closed the connection or sent `length` bytes.
    func body(timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (all, closed) = received.state.withLock { (String(decoding: $0.data, as: UTF8.self), $0.closed) }
            if let range = all.range(of: "\r\n\r\n") {
                let body = String(all[range.upperBound...])
                if closed || (body.hasPrefix("{") && body.hasSuffix("}")) { return body }
            }
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: "a body", seen: [all]) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func close() async { try? await channel.close() }
}

extension RawConnection.Head {
    func body() async throws -> [String: Any] {
        let text = try await connection.body()
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }
}

extension RawConnection {
    /// Sends `bytes` and flushes.
    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// One whole HTTP/1.1 exchange on a new connection: `request` as given, then the
    /// answer read up to its `Content-Length` or the server's close. The status is 0
    /// when the server closed without answering.
    static func exchange(port: Int, request: [UInt8], timeout: Duration = .seconds(10)) async throws -> HTTPReply {
        let connection = try await connect(port: port)
        defer { connection.channel.close(promise: nil) }
        try? await connection.send(bytes: request)
        let deadline = ContinuousClock.now + timeout
        while true {
            let (data, closed) = connection.received.state.withLock { ($0.data, $0.closed) }
            if let reply = parse(data, complete: closed) { return reply }
            if closed { return HTTPReply(status: 0, headers: [:], body: Data(data)) }
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: "an HTTP answer to \(String(decoding: request.prefix(120), as: UTF8.self).debugDescription)", seen: [String(decoding: data, as: UTF8.self)]) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The answer in `data`, once its head and `Content-Length` bytes of body are in
    /// (or everything, when the connection is closed).
    private static func parse(_ data: [UInt8], complete: Bool) -> HTTPReply? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = data.indices.dropLast(3).first(where: { Array(data[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Array(data[(end + 4)...])
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= length else { return complete ? HTTPReply(status: status, headers: headers, body: Data(body)) : nil }
            return HTTPReply(status: status, headers: headers, body: Data(body.prefix(length)))
        }
        return complete ? HTTPReply(status: status, headers: headers, body: Data(body)) : nil
    }
}
