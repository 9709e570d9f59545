import IRCProtocol
import NIOCore

/// The usual message, a PRIVMSG or NOTICE to one ordinary channel the sender is
/// in, relayed from the bytes of its line (`TextLine`): no `IRCMessage` is made
/// for what comes in or for what goes out, whose strings and arrays were a fifth
/// of the server's work per message. What goes out, and what is archived, is what `handleMessage`
/// sends and archives for the same line. Any other line, and any line that would
/// be refused, is left to the general path.
extension ServerState {
    /// Relays `line` if it is such a message; false when it must be handled the general way.
    func relayTextLine(_ line: ByteBuffer, from client: Client) -> Bool {
        // Registration, a bot's pending conversations and labeled responses are the general path's.
        guard client.isRegistered, client.pendingBotAssignment == 0, client.capturedReplies == nil else { return false }
        return line.withUnsafeReadableBytes { raw in
            let bytes = raw.assumingMemoryBound(to: UInt8.self)
            guard let textLine = TextLine.read(bytes) else { return false }
            // The sender's channels are keyed by folded name: a target typed otherwise is looked up the general way.
            let target = String(decoding: UnsafeBufferPointer(rebasing: bytes[textLine.target]), as: UTF8.self)
            guard let channel = client.channels[target], channel.conversation == nil,
                  cannotSend(client, to: channel) == nil else { return false }
            let text = UnsafeBufferPointer(rebasing: bytes[textLine.text])
            let source = client.relaySource
            // Too long once the source is in: split into several lines by the general path.
            guard !TextLine.exceedsLineLimit(source: source, command: textLine.command, target: channel.name, text: text) else {
                return false
            }
            relay(textLine.command, text: text, from: client, source: source, to: channel)
            return true
        }
    }

    private func relay(_ command: TextLine.Command, text: UnsafeBufferPointer<UInt8>, from client: Client, source: String,
                       to channel: IRCChannel) {
        client.lastActivityDate = inputDate
        relayedMessages += 1
        let time = serverTime.stamp()
        let msgid = messageIDs.next()
        let tags = RelayTags(time: time.formatted, msgid: msgid, account: client.accountName, bot: client.bot)
        let textString = String(decoding: text, as: UTF8.self)
        archive(in: channel, name: channel.name, msgid: msgid, at: time.milliseconds,
                source: source, account: tags.account, notice: command == .notice, text: textString, tags: nil)
        let echo = client.has(.echoMessage)
        // The message itself is made only for a recipient whose replies are captured, which none is here.
        deliver(to: channel.members.keys.lazy.filter { $0 !== client || echo },
                IRCMessage(tags: tags.list, source: source, command: command.name, params: [channel.name, textString])) { shape, buffer in
            let shaped = shape.filter(tags)
            let room = TextLine.maximumByteCount(tags: shaped, source: source, command: command, target: channel.name, text: text)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) {
                TextLine.write(tags: shaped, source: source, command: command, target: channel.name, text: text, to: $0)
            }
        }
    }
}
