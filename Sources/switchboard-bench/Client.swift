#if os(Linux)
import Foundation
import NIOCore
import NIOPosix

/// Monotonic clock (CLOCK_MONOTONIC on Linux) in nanoseconds. Every thread of
/// this process reads the same clock, so a timestamp written into a message by
/// the sending client can be subtracted from the receiving client's clock.
@inline(__always)
func monotonicNanos() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}

/// Counters shared by every client connection of one run: registration
/// outcomes, disconnects and the first few error lines, for diagnostics.
final class ConnectionTally: @unchecked Sendable {
    private let lock = NSLock()
    private var _registered = 0
    private var _failed = 0
    private var _lost = 0
    private var _lines = 0
    private var _stray = 0
    private var _errors: [String] = []

    func registered() {
        lock.lock(); _registered += 1; lock.unlock()
    }

    func failed(_ reason: String) {
        lock.lock(); _failed += 1; remember(reason); lock.unlock()
    }

    /// A registered connection that closed without being asked to.
    func lost(_ reason: String) {
        lock.lock(); _lost += 1; remember(reason); lock.unlock()
    }

    func note(_ reason: String) {
        lock.lock(); remember(reason); lock.unlock()
    }

    func received(lines: Int, stray: Int) {
        lock.lock(); _lines &+= lines; _stray += stray; lock.unlock()
    }

    private func remember(_ reason: String) {
        if _errors.count < 20 { _errors.append(reason) }
    }

    var snapshot: (registered: Int, failed: Int, lost: Int, lines: Int, stray: Int, errors: [String]) {
        lock.lock(); defer { lock.unlock() }
        return (_registered, _failed, _lost, _lines, _stray, _errors)
    }
}

/// Deliveries of one measured round: filled by the receiving clients, read by
/// the driver. Clients batch their updates per socket read, so the lock is
/// taken once per read, not once per message.
final class DeliveryTally: @unchecked Sendable {
    private let lock = NSLock()
    private var _delivered = 0
    private var _sent = 0
    private var _firstSend: UInt64 = .max
    private var _lastDelivery: UInt64 = 0
    private var _latenciesMicros: [UInt32] = []

    init(expectedDeliveries: Int) {
        _latenciesMicros.reserveCapacity(expectedDeliveries)
    }

    func sent(_ count: Int, firstAt: UInt64) {
        lock.lock()
        _sent += count
        if firstAt < _firstSend { _firstSend = firstAt }
        lock.unlock()
    }

    func delivered(latenciesMicros: [UInt32], lastAt: UInt64) {
        lock.lock()
        _delivered += latenciesMicros.count
        _latenciesMicros.append(contentsOf: latenciesMicros)
        if lastAt > _lastDelivery { _lastDelivery = lastAt }
        lock.unlock()
    }

    var progress: (sent: Int, delivered: Int) {
        lock.lock(); defer { lock.unlock() }
        return (_sent, _delivered)
    }

    /// Takes the final figures (the latency array is moved out).
    func finish() -> (sent: Int, delivered: Int, firstSend: UInt64, lastDelivery: UInt64, latenciesMicros: [UInt32]) {
        lock.lock(); defer { lock.unlock() }
        let latencies = _latenciesMicros
        _latenciesMicros = []
        return (_sent, _delivered, _firstSend, _lastDelivery, latencies)
    }
}

/// What a sending client does in a round: send `total` messages to `target`,
/// never more than `window` of them not yet seen by the observing client.
struct SendPlan {
    var senderID: Int
    var target: String
    var total: Int
    var window: Int
    var textSize: Int
}

/// A reference to a client usable from any thread; the handler itself is only
/// touched on its own event loop.
struct ClientRef: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<IRCClient>
    let registered: EventLoopFuture<Void>

    var eventLoop: any EventLoop { channel.eventLoop }

    /// Runs `body` on the client's event loop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (IRCClient) -> T) -> EventLoopFuture<T> {
        let handler = self.handler
        return channel.eventLoop.submit { body(handler.value) }
    }

    /// Grants `count` more messages to a sender (called by the observer).
    func credit(_ count: Int) {
        let handler = self.handler
        if channel.eventLoop.inEventLoop {
            handler.value.credit(count)
        } else {
            channel.eventLoop.execute { handler.value.credit(count) }
        }
    }
}

enum ClientError: Error, CustomStringConvertible {
    case registrationFailed(String)
    case joinFailed(String)
    case timeout(String)
    case closed(String)

    var description: String {
        switch self {
        case .registrationFailed(let s): return "registration failed: \(s)"
        case .joinFailed(let s): return "join failed: \(s)"
        case .timeout(let s): return "timed out: \(s)"
        case .closed(let s): return "connection closed: \(s)"
        }
    }
}

/// One IRC client connection. Registers with `PASS` (when given), `NICK` and
/// `USER`, answers `PING`, joins channels on request, sends timestamped
/// messages under a window and counts the timestamped messages it receives.
final class IRCClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let maxLine = 64 * 1024

    private var nick: String
    private var nickBytes: [UInt8]
    private let password: String?
    private let tally: ConnectionTally
    private let registrationTimeout: TimeAmount
    private let quickAck: Bool
    let registeredPromise: EventLoopPromise<Void>

    private var context: ChannelHandlerContext?
    private var pending: ByteBuffer?
    private var isRegistered = false
    private var registrationSettled = false
    private var closingOnPurpose = false
    private var nickAttempts = 0
    private var registrationTimer: Scheduled<Void>?

    // Joining.
    private var joinTarget: [UInt8]?
    private var joinPromise: EventLoopPromise<Void>?

    // Receiving measured messages.
    private var sink: DeliveryTally?
    private var observing: [Int: ClientRef] = [:]
    private var pendingCredits: [Int: Int] = [:]
    private var batchLatencies: [UInt32] = []
    private var batchLast: UInt64 = 0
    private var batchLines = 0
    private var batchStray = 0

    // Sending measured messages.
    private var plan: SendPlan?
    private var sendPrefix: [UInt8] = []
    private var sendTextHead: [UInt8] = []
    private var sentCount = 0
    private var inFlight = 0

    init(nick: String, password: String?, tally: ConnectionTally,
         registrationTimeout: TimeAmount, quickAck: Bool, eventLoop: any EventLoop) {
        self.quickAck = quickAck
        self.nick = nick
        self.nickBytes = Array(nick.lowercased().utf8)
        self.password = password
        self.tally = tally
        self.registrationTimeout = registrationTimeout
        self.registeredPromise = eventLoop.makePromise(of: Void.self)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        var lines = ""
        if let password { lines += "PASS \(password)\r\n" }
        lines += "NICK \(nick)\r\nUSER bench 0 * :Switchboard bench\r\n"
        send(lines)
        let promise = registeredPromise
        let timeout = registrationTimeout
        let nick = self.nick
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        registrationTimer = context.eventLoop.scheduleTask(in: timeout) {
            let me = loopBoundSelf.value
            if !me.registrationSettled {
                me.registrationSettled = true
                me.tally.failed("\(nick): no 001 within \(timeout.nanoseconds / 1_000_000_000) s")
                promise.fail(ClientError.timeout("registration of \(nick)"))
                me.close()
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !registrationSettled {
            registrationSettled = true
            tally.failed("\(nick): closed before registration")
            registeredPromise.fail(ClientError.closed("before registration of \(nick)"))
        } else if !closingOnPurpose {
            tally.lost("\(nick): connection closed by the server")
        }
        if let joinPromise {
            self.joinPromise = nil
            joinPromise.fail(ClientError.closed("\(nick) while joining"))
        }
        flushBatch()
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        tally.note("\(nick): \(error)")
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        var buffer: ByteBuffer
        if var leftover = pending.take() {
            var incoming = incoming
            leftover.writeBuffer(&incoming)
            buffer = leftover
        } else {
            buffer = incoming
        }
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var lineStart = 0
            var index = 0
            let count = bytes.count
            while index < count {
                if bytes[index] == UInt8(ascii: "\n") {
                    var lineEnd = index
                    if lineEnd > lineStart && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                    if lineEnd > lineStart {
                        handleLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
                    }
                    lineStart = index + 1
                }
                index += 1
            }
            return lineStart
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if buffer.readableBytes > 0 {
            if buffer.readableBytes > Self.maxLine {
                tally.note("\(nick): line longer than \(Self.maxLine) bytes")
                close()
                return
            }
            pending = buffer
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if quickAck { Self.armQuickAck(context.channel) }
        flushBatch()
        context.fireChannelReadComplete()
    }

    private func flushBatch() {
        if !batchLatencies.isEmpty {
            sink?.delivered(latenciesMicros: batchLatencies, lastAt: batchLast)
            batchLatencies.removeAll(keepingCapacity: true)
        }
        if batchLines > 0 || batchStray > 0 {
            tally.received(lines: batchLines, stray: batchStray)
            batchLines = 0
            batchStray = 0
        }
        if !pendingCredits.isEmpty {
            for (sender, count) in pendingCredits {
                observing[sender]?.credit(count)
            }
            pendingCredits.removeAll(keepingCapacity: true)
        }
    }

    // MARK: Line handling

    private func handleLine(_ line: UnsafeRawBufferPointer) {
        batchLines += 1
        var index = 0
        let count = line.count
        var prefix = 0..<0
        if line[0] == UInt8(ascii: "@") {
            // IRCv3 message tags (not requested, but tolerated): skip them.
            while index < count && line[index] != UInt8(ascii: " ") { index += 1 }
            while index < count && line[index] == UInt8(ascii: " ") { index += 1 }
            guard index < count else { return }
        }
        if line[index] == UInt8(ascii: ":") {
            let start = index + 1
            var end = start
            while end < count && line[end] != UInt8(ascii: " ") { end += 1 }
            prefix = start..<end
            index = end
            while index < count && line[index] == UInt8(ascii: " ") { index += 1 }
        }
        let commandStart = index
        while index < count && line[index] != UInt8(ascii: " ") { index += 1 }
        let command = UnsafeRawBufferPointer(rebasing: line[commandStart..<index])
        let rest = index < count ? UnsafeRawBufferPointer(rebasing: line[(index + 1)...]) : UnsafeRawBufferPointer(rebasing: line[count...])

        if Self.equals(command, "PRIVMSG") {
            handlePrivmsg(params: rest)
            return
        }
        if Self.equals(command, "PING") {
            send("PONG \(String(decoding: rest, as: UTF8.self))\r\n")
            return
        }
        if command.count == 3 {
            handleNumeric(command, params: rest, line: line)
            return
        }
        if Self.equals(command, "JOIN") {
            let source = UnsafeRawBufferPointer(rebasing: line[prefix])
            var nickEnd = 0
            while nickEnd < source.count && source[nickEnd] != UInt8(ascii: "!") { nickEnd += 1 }
            let who = UnsafeRawBufferPointer(rebasing: source[0..<nickEnd])
            if Self.equalsIgnoringCase(who, nickBytes) {
                var channel = Self.firstParam(rest)
                if channel.first == UInt8(ascii: ":") { channel = UnsafeRawBufferPointer(rebasing: channel[1...]) }
                joined(channel)
            }
            return
        }
        if Self.equals(command, "ERROR") {
            tally.note("\(nick): \(String(decoding: line, as: UTF8.self))")
            return
        }
    }

    private func handleNumeric(_ command: UnsafeRawBufferPointer, params: UnsafeRawBufferPointer, line: UnsafeRawBufferPointer) {
        let code = (Int(command[0]) - 48) * 100 + (Int(command[1]) - 48) * 10 + (Int(command[2]) - 48)
        switch code {
        case 1:
            if !registrationSettled {
                registrationSettled = true
                isRegistered = true
                registrationTimer?.cancel()
                registrationTimer = nil
                tally.registered()
                registeredPromise.succeed(())
            }
        case 433 where !registrationSettled:
            // Nick in use: try another one, a bounded number of times.
            nickAttempts += 1
            if nickAttempts > 5 {
                registrationFailed(line)
            } else {
                nick += "_"
                nickBytes = Array(nick.lowercased().utf8)
                send("NICK \(nick)\r\n")
            }
        case 432, 464, 465, 904, 905, 906:
            if !registrationSettled { registrationFailed(line) }
        case 366:
            // End of NAMES: "<me> <channel> :End of /NAMES list."
            let afterMe = Self.skipParam(params)
            joined(Self.firstParam(afterMe))
        case 403, 405, 471, 473, 474, 475, 476, 477, 479, 489:
            if let joinPromise, joinTarget != nil {
                self.joinPromise = nil
                self.joinTarget = nil
                tally.note("\(nick): \(String(decoding: line, as: UTF8.self))")
                joinPromise.fail(ClientError.joinFailed(String(decoding: line, as: UTF8.self)))
            }
        default:
            break
        }
    }

    private func registrationFailed(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line, as: UTF8.self)
        tally.failed("\(nick): \(text)")
        registrationSettled = true
        closingOnPurpose = true
        registeredPromise.fail(ClientError.registrationFailed(text))
        close()
    }

    private func joined(_ channel: UnsafeRawBufferPointer) {
        guard let target = joinTarget, let promise = joinPromise else { return }
        if Self.equalsIgnoringCase(channel, target) {
            joinTarget = nil
            joinPromise = nil
            promise.succeed(())
        }
    }

    /// `<target> :B <sender> <seq> <nanos> <padding>`
    private func handlePrivmsg(params: UnsafeRawBufferPointer) {
        let count = params.count
        var index = 0
        while index < count && params[index] != UInt8(ascii: " ") { index += 1 }
        index += 1
        if index < count && params[index] == UInt8(ascii: ":") { index += 1 }
        guard index + 2 < count, params[index] == UInt8(ascii: "B"), params[index + 1] == UInt8(ascii: " ") else {
            return
        }
        index += 2
        let sender = Self.parseNumber(params, &index)
        _ = Self.parseNumber(params, &index)
        let sentAt = Self.parseNumber(params, &index)
        guard sink != nil else {
            batchStray += 1
            return
        }
        let now = monotonicNanos()
        let latency = now > sentAt ? (now - sentAt) / 1000 : 0
        batchLatencies.append(UInt32(clamping: latency))
        batchLast = now
        if observing[Int(sender)] != nil {
            pendingCredits[Int(sender), default: 0] += 1
        }
    }

    // MARK: Commands from the driver (on the event loop)

    func join(_ channel: String, timeout: TimeAmount) -> EventLoopFuture<Void> {
        guard let context else {
            return registeredPromise.futureResult.eventLoop.makeFailedFuture(ClientError.closed("\(nick) is not connected"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        if let previous = joinPromise {
            previous.fail(ClientError.joinFailed("superseded"))
        }
        joinTarget = Array(channel.lowercased().utf8)
        joinPromise = promise
        send("JOIN \(channel)\r\n")
        let nick = self.nick
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: timeout) {
            let me = loopBoundSelf.value
            if me.joinPromise == promise {
                me.joinPromise = nil
                me.joinTarget = nil
                me.tally.note("\(nick): no JOIN or 366 for \(channel) within \(timeout.nanoseconds / 1_000_000_000) s")
                promise.fail(ClientError.timeout("\(nick) joining \(channel)"))
            }
        }
        return promise.futureResult
    }

    /// Prepares a round: where deliveries are counted, which senders this
    /// client grants credit to, and what it sends itself.
    func prepare(sink: DeliveryTally?, observing: [Int: ClientRef], plan: SendPlan?) {
        flushBatch()
        self.sink = sink
        self.observing = observing
        self.pendingCredits.removeAll()
        self.plan = plan
        if let plan {
            sendPrefix = Array("PRIVMSG \(plan.target) :".utf8)
            sendTextHead = Array("B \(plan.senderID) ".utf8)
        }
        self.sentCount = 0
        self.inFlight = 0
    }

    func startSending() {
        pump()
    }

    func credit(_ count: Int) {
        inFlight -= count
        if inFlight < 0 { inFlight = 0 }
        pump()
    }

    private func pump() {
        guard let plan, let context, let sink else { return }
        let room = min(plan.window - inFlight, plan.total - sentCount)
        guard room > 0 else { return }
        // The whole batch goes into one buffer and one write, without Strings:
        // "PRIVMSG <target> :B <sender> <seq> <nanos> xxx...\r\n"
        let textBudget = max(plan.textSize, sendTextHead.count + 42)
        var buffer = context.channel.allocator.buffer(capacity: room * (sendPrefix.count + textBudget + 2))
        let first = monotonicNanos()
        for _ in 0..<room {
            let now = monotonicNanos()
            buffer.writeBytes(sendPrefix)
            let textStart = buffer.writerIndex
            buffer.writeBytes(sendTextHead)
            Self.writeDecimal(UInt64(sentCount), to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            Self.writeDecimal(now, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            let written = buffer.writerIndex - textStart
            if written < plan.textSize {
                buffer.writeRepeatingByte(UInt8(ascii: "x"), count: plan.textSize - written)
            }
            buffer.writeInteger(UInt8(ascii: "\r"))
            buffer.writeInteger(UInt8(ascii: "\n"))
            sentCount += 1
            inFlight += 1
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        sink.sent(room, firstAt: first)
    }

    @inline(__always)
    private static func writeDecimal(_ value: UInt64, to buffer: inout ByteBuffer) {
        var digits = 1
        var rest = value / 10
        while rest > 0 { digits += 1; rest /= 10 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { pointer in
            var number = value
            var index = digits - 1
            while index >= 0 {
                pointer[index] = UInt8(48 + number % 10)
                number /= 10
                index -= 1
            }
            return digits
        }
    }

    func close() {
        closingOnPurpose = true
        context?.close(promise: nil)
    }

    func quit() {
        closingOnPurpose = true
        guard let context else { return }
        send("QUIT :bench done\r\n")
        context.close(promise: nil)
    }

    // MARK: Helpers

    /// Linux's TCP_QUICKACK: acknowledge received data at once instead of
    /// delaying the ACK (up to 40 ms). The kernel clears it again by itself,
    /// so it is re-armed after every read. Servers that leave Nagle's
    /// algorithm on (InspIRCd does) otherwise stall on every delayed ACK.
    static func armQuickAck(_ channel: any Channel) {
        #if os(Linux)
        try? channel.syncOptions?.setOption(ChannelOptions.tcpOption(.init(rawValue: 12)), value: 1)
        #endif
    }

    private func send(_ text: String) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    @inline(__always)
    private static func parseNumber(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> UInt64 {
        var value: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 48 || byte > 57 { break }
            value = value &* 10 &+ UInt64(byte - 48)
            index += 1
        }
        index += 1 // the space after the number
        return value
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let pointer = literal.utf8Start
        for index in 0..<bytes.count where bytes[index] != pointer[index] { return false }
        return true
    }

    /// ASCII case-insensitive comparison (enough for the nicks and channel
    /// names this tool makes up).
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowered: [UInt8]) -> Bool {
        guard bytes.count == lowered.count else { return false }
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= 65 && byte <= 90 { byte += 32 }
            if byte != lowered[index] { return false }
        }
        return true
    }

    private static func firstParam(_ params: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = 0
        while end < params.count && params[end] != UInt8(ascii: " ") { end += 1 }
        return UnsafeRawBufferPointer(rebasing: params[0..<end])
    }

    private static func skipParam(_ params: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var index = 0
        while index < params.count && params[index] != UInt8(ascii: " ") { index += 1 }
        if index < params.count { index += 1 }
        return UnsafeRawBufferPointer(rebasing: params[index...])
    }
}

/// Opens client connections to one server.
struct ClientFactory: Sendable {
    let group: MultiThreadedEventLoopGroup
    let address: SocketAddress
    let password: String?
    let tally: ConnectionTally
    let registrationTimeout: TimeAmount
    let quickAck: Bool

    func connect(nick: String) async throws -> ClientRef {
        let quickAck = self.quickAck
        let password = self.password
        let tally = self.tally
        let timeout = self.registrationTimeout
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(30))
        return try await bootstrap.connect(to: address) { channel in
            channel.eventLoop.makeCompletedFuture {
                let client = IRCClient(nick: nick, password: password, tally: tally,
                                       registrationTimeout: timeout, quickAck: quickAck,
                                       eventLoop: channel.eventLoop)
                try channel.pipeline.syncOperations.addHandler(client)
                return ClientRef(channel: channel,
                                 handler: NIOLoopBound(client, eventLoop: channel.eventLoop),
                                 registered: client.registeredPromise.futureResult)
            }
        }
    }
}
#endif
