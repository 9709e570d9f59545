import Foundation
import IRCProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

struct TestTimeout: Error, CustomStringConvertible {
    let waitingFor: String
    let seen: [String]
    var description: String { "timed out waiting for \(waitingFor); recent lines:\n" + seen.suffix(15).joined(separator: "\n") }
}

struct ConnectionClosed: Error, CustomStringConvertible {
    let seen: [String]
    var description: String { "connection closed; recent lines:\n" + seen.suffix(15).joined(separator: "\n") }
}

/// A raw IRC client for tests: sends lines, and reads what the server sends,
/// exactly as a user's client would see it on the wire.
final class TestIRCClient: Sendable {
    private final class Inbox: Sendable {
        struct State {
            var pending: [String] = []
            var history: [String] = []
            var closed = false
            var partial: [UInt8] = []
            /// Answer the server's PINGs at once, as clients do (see `answerPings`).
            var answersPings = false
        }
        let state = Mutex(State())
    }

    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            var pongs: [String] = []
            inbox.state.withLock { state in
                for byte in buffer.readableBytesView {
                    if byte == UInt8(ascii: "\n") {
                        var line = state.partial
                        if line.last == UInt8(ascii: "\r") { line.removeLast() }
                        let text = String(decoding: line, as: UTF8.self)
                        state.pending.append(text)
                        state.history.append(text)
                        state.partial.removeAll(keepingCapacity: true)
                        if state.answersPings, text.hasPrefix("PING ") { pongs.append("PONG " + text.dropFirst(5) + "\r\n") }
                    } else {
                        state.partial.append(byte)
                    }
                }
            }
            for pong in pongs { context.writeAndFlush(NIOAny(ByteBuffer(string: pong)), promise: nil) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbox.state.withLock { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    private let inbox: Inbox
    let group: any EventLoopGroup

    private init(channel: any Channel, inbox: Inbox, group: any EventLoopGroup) {
        self.channel = channel
        self.inbox = inbox
        self.group = group
    }

    static func connect(port: Int, tls: Bool, host: String = "127.0.0.1", receiveBuffer: Int? = nil) async throws -> TestIRCClient {
        let inbox = Inbox()
        let group = MultiThreadedEventLoopGroup.singleton
        var bootstrap = ClientBootstrap(group: group)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let sslContext: NIOSSLContext?
        if tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            sslContext = try NIOSSLContext(configuration: configuration)
        } else {
            sslContext = nil
        }
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let sslContext {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                }
                try channel.pipeline.syncOperations.addHandler(Reader(inbox: inbox))
            }
        }.connect(host: host, port: port).get()
        return TestIRCClient(channel: channel, inbox: inbox, group: group)
    }

    /// From now on the server's PINGs are answered as they arrive, whatever the test waits for.
    func answerPings() {
        inbox.state.withLock { $0.answersPings = true }
    }

    func send(_ line: String) async throws {
        try await sendBytes(Array((line + "\r\n").utf8))
    }

    func sendBytes(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The next line the server sent, parsed.
    func next(timeout: Duration = .seconds(5)) async throws -> IRCMessage {
        let line = try await nextLine(timeout: timeout)
        return try IRCMessage.parse(line)
    }

    func nextLine(timeout: Duration = .seconds(5), what: String = "a line") async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (line, closed, history) = inbox.state.withLock { state -> (String?, Bool, [String]) in
                if !state.pending.isEmpty { return (state.pending.removeFirst(), false, []) }
                return (nil, state.closed, state.history)
            }
            if let line { return line }
            if closed { throw ConnectionClosed(seen: history) }
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: what, seen: history) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Reads until a message matches; returns it (the skipped ones are dropped).
    @discardableResult
    func expect(_ description: String = "a matching message", timeout: Duration = .seconds(5),
                where predicate: (IRCMessage) -> Bool) async throws -> IRCMessage {
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            let line = try await nextLine(timeout: max(remaining, .zero), what: description)
            if let message = try? IRCMessage.parse(line), predicate(message) { return message }
        }
    }

    @discardableResult
    func expect(_ command: String, timeout: Duration = .seconds(5)) async throws -> IRCMessage {
        try await expect(command, timeout: timeout) { $0.command == command }
    }

    /// Everything up to and including the first message with `command`.
    func collect(until command: String, timeout: Duration = .seconds(5)) async throws -> [IRCMessage] {
        var messages: [IRCMessage] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            let line = try await nextLine(timeout: max(remaining, .zero), what: command)
            guard let message = try? IRCMessage.parse(line) else { continue }
            messages.append(message)
            if message.command == command { return messages }
        }
    }

    /// Asserts that nothing matching arrives within `window`.
    func expectNothing(for window: Duration = .milliseconds(300), where predicate: (IRCMessage) -> Bool = { _ in true }) async throws -> IRCMessage? {
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            guard let line = try? await nextLine(timeout: deadline - ContinuousClock.now) else { return nil }
            if let message = try? IRCMessage.parse(line), predicate(message) { return message }
        }
        return nil
    }

    /// Waits for the server to close the connection.
    func expectClosed(timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            do {
                _ = try await nextLine(timeout: deadline - ContinuousClock.now)
            } catch is ConnectionClosed {
                return
            } catch is TestTimeout {
                break
            }
        }
        throw TestTimeout(waitingFor: "the connection to close", seen: history)
    }

    var history: [String] { inbox.state.withLock { $0.history } }
    var isClosed: Bool { inbox.state.withLock { $0.closed } }

    func drain() {
        inbox.state.withLock { $0.pending.removeAll() }
    }

    func close() async {
        try? await channel.close()
    }

    /// Registers with SASL PLAIN (or PASS) and the given capabilities; returns once the MOTD is over.
    @discardableResult
    func register(nick: String, login: String, password: String, caps: [String] = [], sasl: Bool = true) async throws -> [IRCMessage] {
        try await send("CAP LS 302")
        try await expect("CAP LS") { $0.command == "CAP" && $0.params.count >= 2 && $0.params[1] == "LS" && $0.params.count == 3 }
        var requested = caps
        if sasl { requested.append("sasl") }
        if !requested.isEmpty {
            try await send("CAP REQ :" + requested.joined(separator: " "))
            let answer = try await expect("CAP ACK") { $0.command == "CAP" && ($0.params[1] == "ACK" || $0.params[1] == "NAK") }
            guard answer.params[1] == "ACK" else { throw TestTimeout(waitingFor: "CAP ACK", seen: history) }
        }
        if sasl {
            try await send("AUTHENTICATE PLAIN")
            try await expect("AUTHENTICATE")
            let payload = Data("\0\(login)\0\(password)".utf8).base64EncodedString()
            try await send("AUTHENTICATE \(payload)")
            try await expect("903") { $0.command == "903" || $0.command == "904" }
        } else {
            try await send("PASS \(login):\(password)")
        }
        try await send("NICK \(nick)")
        try await send("USER \(nick) 0 * :\(nick) realname")
        try await send("CAP END")
        return try await collect(until: "376", timeout: .seconds(10))
    }
}
