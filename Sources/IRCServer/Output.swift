import Foundation
import IRCProtocol
import NIOCore

/// Writing to clients. What is sent to a connection during a tick is serialised
/// straight into one buffer of its own (`IRCConnection.outbox`), handed to
/// the connection's loop at the end of the tick and flushed there once: a burst of
/// replies to one client leaves in one system call, and a message costs a copy of
/// its bytes, not an allocation of its own.
extension ServerState {
    /// A message from a user (or the server's pseudo-users) with the tags every
    /// relayed event carries: time, msgid, account, bot.
    func event(from client: Client, command: String, params: [String], clientTags: [IRCTag] = []) -> IRCMessage {
        var tags: [IRCTag] = []
        tags.reserveCapacity(4 + clientTags.count)
        tags.append(IRCTag("time", serverTime.now()))
        tags.append(IRCTag("msgid", messageIDs.next()))
        if let account = client.accountName { tags.append(IRCTag("account", account)) }
        if client.bot { tags.append(IRCTag("bot")) }
        tags.append(contentsOf: clientTags)
        return IRCMessage(tags: tags, source: client.relaySource, command: command, params: params)
    }

    /// An event the server itself causes in a channel (a MODE, a TOPIC), with the
    /// time and msgid every relayed event carries.
    func serverEvent(command: String, params: [String]) -> IRCMessage {
        IRCMessage(tags: [IRCTag("time", serverTime.now()), IRCTag("msgid", messageIDs.next())],
                   source: config.serverName, command: command, params: params)
    }

    /// A server numeric addressed to the client: `:server NNN nick params...`.
    func reply(_ client: Client, _ numeric: Numeric, _ params: String...) {
        send(IRCMessage(source: config.serverName, command: numeric.rawValue, params: [client.nick] + params), to: client)
    }

    func reply(_ client: Client, _ numeric: Numeric, parameters: [String]) {
        send(IRCMessage(source: config.serverName, command: numeric.rawValue, params: [client.nick] + parameters), to: client)
    }

    /// A server message that is not a numeric (NOTICE, CAP, AUTHENTICATE...).
    func serverMessage(_ client: Client, _ command: String, _ params: [String]) {
        send(IRCMessage(source: config.serverName, command: command, params: params), to: client)
    }

    /// IRCv3 standard reply. Sent to clients that negotiated standard-replies, or to
    /// everyone when `always` (for errors that have no numeric, like invalid UTF-8).
    func sendFail(_ client: Client, command: String, code: String, context: [String] = [], description: String, always: Bool = false) {
        guard always || client.has(.standardReplies) else { return }
        send(IRCMessage(source: config.serverName, command: "FAIL", params: [command, code] + Self.middle(context) + [description]), to: client)
    }

    func sendNote(_ client: Client, command: String, code: String, context: [String] = [], description: String) {
        guard client.has(.standardReplies) else { return }
        send(IRCMessage(source: config.serverName, command: "NOTE", params: [command, code] + Self.middle(context) + [description]), to: client)
    }

    /// Context parameters are middle parameters: a value that cannot be one becomes `*`.
    static func middle(_ context: [String]) -> [String] {
        context.map { $0.isEmpty || $0.contains(" ") || $0.hasPrefix(":") ? "*" : $0 }
    }

    /// Sends one message to one client, keeping only the tags it negotiated.
    func send(_ message: IRCMessage, to client: Client) {
        guard !client.isClosing else { return }
        if client.capturedReplies != nil {
            client.capturedReplies!.append(message)
            return
        }
        guard let connection = client.connection else { return }
        connection.reserveOutbox(0)
        Self.appendLines(message, shape: client.tagShape, to: &connection.outbox!)
        wrote(to: client, connection)
    }

    /// Fan-out: each tag variant is serialised once, into a scratch buffer, and its
    /// bytes are copied into every recipient's outbox.
    func deliver(_ message: IRCMessage, to recipients: some Sequence<Client>) {
        deliver(to: recipients, message) { shape, buffer in Self.appendLines(message, shape: shape, to: &buffer) }
    }

    /// Fan-out of lines `write` serialises for a tag shape: once per shape among the
    /// recipients (usually one, in the reused scratch buffer), copied into each
    /// recipient's outbox. A recipient whose replies are captured for a labeled
    /// response gets `message` there instead.
    func deliver(to recipients: some Sequence<Client>, _ message: @autoclosure () -> IRCMessage,
                 write: (TagShape, inout ByteBuffer) -> Void) {
        var scratchShape: UInt8?
        var others: [UInt8: ByteBuffer] = [:]
        for client in recipients where !client.isClosing {
            if client.capturedReplies != nil {
                send(message(), to: client)
                continue
            }
            guard let connection = client.connection else { continue }
            let shape = client.tagShape
            if scratchShape == nil {
                scratchShape = shape.bits
                fanoutScratch.clear()
                write(shape, &fanoutScratch)
            }
            if scratchShape == shape.bits {
                connection.appendToOutbox(fanoutScratch)
            } else {
                if others[shape.bits] == nil {
                    var buffer = ByteBufferAllocator().buffer(capacity: fanoutScratch.readableBytes + 64)
                    write(shape, &buffer)
                    others[shape.bits] = buffer
                }
                connection.appendToOutbox(others[shape.bits]!)
            }
            wrote(to: client, connection)
            deliveredMessages += 1
        }
    }

    /// The message with only the tags a client of this shape receives.
    static func shaped(_ message: IRCMessage, _ shape: TagShape) -> IRCMessage {
        var outgoing = message
        if !outgoing.tags.isEmpty {
            if shape.bits == 0 {
                outgoing.tags = []
            } else if outgoing.tags.contains(where: { !shape.allows($0.key) }) {
                outgoing.tags.removeAll { !shape.allows($0.key) }
            }
        }
        return outgoing
    }

    /// Appends the message, with the tags a client of `shape` takes, and CR LF to `buffer`;
    /// as several lines when it does not fit one (see `IRCMessage.fittedToLineLimit`).
    static func appendLines(_ message: IRCMessage, shape: TagShape, to buffer: inout ByteBuffer) {
        if message.exceedsLineLimit || !appendLine(message, shape: shape, to: &buffer, unlessLineBreak: true) {
            for line in message.fittedToLineLimit() { appendLine(line, shape: shape, to: &buffer, unlessLineBreak: false) }
        }
    }

    /// Appends one line. With `unlessLineBreak`, returns false and appends nothing when
    /// a parameter held a line break (found while writing, so the usual message pays no
    /// scan of its own); otherwise line breaks are written as spaces.
    @discardableResult
    private static func appendLine(_ message: IRCMessage, shape: TagShape, to buffer: inout ByteBuffer,
                                   unlessLineBreak: Bool) -> Bool {
        let start = buffer.writerIndex
        var lineBreak = false
        if message.tags.isEmpty || shape.bits == 0 {
            // No tags to write: the message as it is, tags left out (no copy to strip them).
            let count = message.lineByteCount(includingTags: false)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) {
                message.writeLine(to: $0, includingTags: false, foundLineBreak: &lineBreak)
            }
        } else {
            let outgoing = shaped(message, shape)
            let count = outgoing.lineByteCount
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) {
                outgoing.writeLine(to: $0, includingTags: true, foundLineBreak: &lineBreak)
            }
        }
        if lineBreak && unlessLineBreak {
            buffer.moveWriterIndex(to: start)
            return false
        }
        return true
    }

    /// The message (all its tags) and CR LF, serialised into a buffer of its own.
    static func lineBuffer(_ message: IRCMessage) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: message.lineByteCount)
        appendLines(message, shape: .all, to: &buffer)
        return buffer
    }

    func encodeRaw(_ line: String) -> ByteBuffer {
        ByteBuffer(string: line.isEmpty ? "" : line + "\r\n")
    }

    func write(raw line: String, to client: Client) {
        write(encodeRaw(line), to: client)
    }

    /// Appends bytes already serialised to the client's outbox.
    func write(_ bytes: ByteBuffer, to client: Client) {
        guard !client.isClosing, let connection = client.connection else { return }
        connection.appendToOutbox(bytes)
        wrote(to: client, connection)
    }

    /// After a write to the outbox: flush at the end of the tick, or now for a big burst.
    private func wrote(to client: Client, _ connection: IRCConnection) {
        if connection.outbox!.readableBytes >= Self.eagerFlushBytes {
            // A big burst goes to the kernel now: only bytes a client really does not
            // read may count against its send queue, not a busy tick's worth of output.
            flushNow(connection)
        }
        flushSoon(client)
    }

    static var eagerFlushBytes: Int { 16 * 1024 }

    /// Sends what was written to this connection so far to the connection's loop,
    /// which writes and flushes it after anything sent before.
    func flushNow(_ connection: IRCConnection) {
        if let buffer = connection.takeOutbox() {
            connection.outputLoop.execute { connection.writeAndFlush(buffer) }
        }
    }

    func flushSoon(_ client: Client) {
        if !client.needsFlush {
            client.needsFlush = true
            pendingFlush.append(client)
        }
        if !flushScheduled {
            flushScheduled = true
            let bound = NIOLoopBound(self, eventLoop: loop)
            loop.execute { bound.value.flushPending() }
        }
    }

    /// End of the tick: the output goes to the connections' loops, one task per
    /// loop, which writes each connection's buffer and flushes it once.
    private func flushPending() {
        flushScheduled = false
        let batch = pendingFlush
        pendingFlush.removeAll(keepingCapacity: true)
        var outgoing: [(loop: any OutputLoop, items: [(IRCConnection, ByteBuffer)])] = []
        for client in batch {
            client.needsFlush = false
            guard !client.isClosing, let connection = client.connection, let buffer = connection.takeOutbox() else {
                continue
            }
            if let index = outgoing.firstIndex(where: { $0.loop === connection.outputLoop }) {
                outgoing[index].items.append((connection, buffer))
            } else {
                outgoing.append((connection.outputLoop, [(connection, buffer)]))
            }
        }
        for (loop, items) in outgoing {
            loop.execute {
                for (connection, buffer) in items { connection.writeAndFlush(buffer) }
            }
        }
    }

    /// labeled-response: no reply becomes an ACK, one reply carries the label, several
    /// are wrapped in a labeled-response batch (or sent plain to clients without batch).
    func finishLabeledResponse(_ client: Client, label: String) {
        guard let captured = client.capturedReplies else { return }
        client.capturedReplies = nil
        // Counted as the lines they go out as: a reply split in two is a batch, not two labels.
        let replies = captured.flatMap { $0.fittedToLineLimit() }
        if replies.isEmpty {
            send(IRCMessage(tags: [IRCTag("label", label)], source: config.serverName, command: "ACK"), to: client)
        } else if replies.count == 1 {
            var only = replies[0]
            only.tags.insert(IRCTag("label", label), at: 0)
            writeLabeled(only, to: client)
        } else if client.has(.batch) {
            writeBatch(to: client, type: "labeled-response", label: label, lines: replies)
        } else {
            for reply in replies { send(reply, to: client) }
        }
    }

    /// Writes at once a batch of `type` (`BATCH +ref type params...`) with the label,
    /// if any, on its opening line and each line tagged with its reference. For
    /// clients that negotiated batch.
    func writeBatch(to client: Client, type: String, params: [String] = [], label: String?, lines: [IRCMessage]) {
        let reference = messageIDs.batchReference()
        var open = IRCMessage(source: config.serverName, command: "BATCH", params: ["+" + reference, type] + params)
        if let label { open.tags = [IRCTag("label", label)] }
        writeLabeled(open, to: client)
        for var line in lines {
            // A line of a batch nested in this one (a replay's chathistory) keeps only its
            // own batch's tag; its `BATCH +` line, which has none, is the one tagged here.
            if !line.tags.contains(where: { $0.key == "batch" }) { line.tags.insert(IRCTag("batch", reference), at: 0) }
            writeLabeled(line, to: client)
        }
        writeLabeled(IRCMessage(source: config.serverName, command: "BATCH", params: ["-" + reference]), to: client)
    }

    /// Writes a message whose label/batch tags go to this client whatever its shape.
    private func writeLabeled(_ message: IRCMessage, to client: Client) {
        var outgoing = message
        let shape = client.tagShape
        outgoing.tags.removeAll { $0.key != "label" && $0.key != "batch" && !shape.allows($0.key) }
        write(Self.lineBuffer(outgoing), to: client)
    }
}
