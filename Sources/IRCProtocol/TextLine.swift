/// The line clients send most, `PRIVMSG <target> :<text>` (or `NOTICE`) with no tags
/// and no source, read as offsets into the line instead of as an `IRCMessage`: a
/// server can relay its text without making strings and arrays for it, and write
/// what it relays with `TextLine.write`.
///
/// `read` accepts only that exact form (upper-case command, single spaces, one
/// target, a trailing text that is not empty) on a line `IRCMessage.parse` accepts,
/// and then means what `parse` would: the command and the parameters
/// `[target, text]`. Anything else is nil, for `parse` to read (or refuse).
public struct TextLine: Sendable, Equatable {
    public enum Command: Sendable, Equatable {
        case privmsg, notice

        public var name: String { self == .privmsg ? "PRIVMSG" : "NOTICE" }
    }

    public let command: Command
    /// Offsets of the target and of the text (after its ':') in the line.
    public let target: Range<Int>
    public let text: Range<Int>

    /// Reads one line without its CR LF; nil when it is not a text line of that form.
    public static func read(_ line: UnsafeBufferPointer<UInt8>) -> TextLine? {
        let n = line.count
        guard n <= IRCLimits.maxLineBytes - 2 else { return nil }
        let command: Command
        let targetStart: Int
        if starts(line, with: "PRIVMSG ") {
            command = .privmsg
            targetStart = 8
        } else if starts(line, with: "NOTICE ") {
            command = .notice
            targetStart = 7
        } else {
            return nil
        }
        var i = targetStart
        while i < n, line[i] != WireByte.space {
            if line[i] == UInt8(ascii: ",") { return nil }   // several targets
            i += 1
        }
        // A target, one space, ':' and at least one byte of text.
        guard i > targetStart, line[targetStart] != WireByte.colon, i + 2 < n,
              line[i] == WireByte.space, line[i + 1] == WireByte.colon else { return nil }
        do throws(IRCParseError) {
            try UTF8Check.validate(line)
        } catch {
            return nil
        }
        return TextLine(command: command, target: targetStart..<i, text: (i + 2)..<n)
    }

    private static func starts(_ line: UnsafeBufferPointer<UInt8>, with prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard line.count > count else { return false }
        let bytes = prefix.utf8Start
        for index in 0..<count where line[index] != bytes[index] { return false }
        return true
    }
}

/// The tags a server puts on a message it relays (IRCv3 server-time, msgid,
/// account-tag and bot), in that order; nil or false ones are left out.
public struct RelayTags: Sendable {
    public var time: String?
    public var msgid: String?
    public var account: String?
    public var bot: Bool

    static let timeKey: StaticString = "time"
    static let msgidKey: StaticString = "msgid"
    static let accountKey: StaticString = "account"
    static let botKey: StaticString = "bot"

    public init(time: String?, msgid: String?, account: String?, bot: Bool) {
        self.time = time
        self.msgid = msgid
        self.account = account
        self.bot = bot
    }

    /// The tags as an `IRCMessage` carries them.
    public var list: [IRCTag] {
        var tags: [IRCTag] = []
        if let time { tags.append(IRCTag("\(Self.timeKey)", time)) }
        if let msgid { tags.append(IRCTag("\(Self.msgidKey)", msgid)) }
        if let account { tags.append(IRCTag("\(Self.accountKey)", account)) }
        if bot { tags.append(IRCTag("\(Self.botKey)")) }
        return tags
    }
}

extension TextLine {
    /// At least the bytes `write` writes (`@tags :source COMMAND target text` and
    /// CR LF), from the parts' sizes alone: tag values counted as if every byte
    /// were escaped, and the text as if it needed its ':'.
    public static func maximumByteCount(tags: RelayTags, source: String, command: Command, target: String,
                                        text: UnsafeBufferPointer<UInt8>) -> Int {
        // Each tag with its separator ('@' or ';') and '='; then the space after them.
        func tag(_ key: StaticString, _ value: String?) -> Int { 2 + key.utf8CodeUnitCount + 2 * (value?.utf8.count ?? 0) }
        var count = 1
        if let time = tags.time { count += tag(RelayTags.timeKey, time) }
        if let msgid = tags.msgid { count += tag(RelayTags.msgidKey, msgid) }
        if let account = tags.account { count += tag(RelayTags.accountKey, account) }
        if tags.bot { count += tag(RelayTags.botKey, nil) }
        return count + untaggedByteCount(source: source, command: command, target: target, text: text, trailing: true)
    }

    /// Writes the relayed line at the start of `destination` (at least
    /// `maximumByteCount` bytes) and returns its length: byte for byte what
    /// `IRCMessage.writeLine` writes for
    /// `IRCMessage(tags: tags.list, source: source, command: command.name, params: [target, text])`.
    public static func write(tags: RelayTags, source: String, command: Command, target: String,
                             text: UnsafeBufferPointer<UInt8>, to destination: UnsafeMutableRawBufferPointer) -> Int {
        precondition(destination.count >= maximumByteCount(tags: tags, source: source, command: command, target: target, text: text),
                     "destination too small for the line")
        guard let base = destination.baseAddress else { return 0 }
        var writer = SerialWriter(base: base.assumingMemoryBound(to: UInt8.self))
        emit(into: &writer, tags: tags, source: source, command: command, target: target, text: text)
        writer.put(WireByte.cr)
        writer.put(WireByte.lf)
        return writer.offset
    }

    /// Whether the line, without its tags, is longer than a line may be: such a
    /// message goes out as several lines (`IRCMessage.fittedToLineLimit`), not as one.
    public static func exceedsLineLimit(source: String, command: Command, target: String,
                                        text: UnsafeBufferPointer<UInt8>) -> Bool {
        // Without the scan for the ':' when even with it the line fits.
        untaggedByteCount(source: source, command: command, target: target, text: text, trailing: true) > IRCLimits.maxLineBytes
            && untaggedByteCount(source: source, command: command, target: target, text: text,
                                 trailing: IRCMessage.needsTrailing(text)) > IRCLimits.maxLineBytes
    }

    /// `:source COMMAND target [:]text` and CR LF.
    private static func untaggedByteCount(source: String, command: Command, target: String,
                                          text: UnsafeBufferPointer<UInt8>, trailing: Bool) -> Int {
        1 + source.utf8.count + 1 + command.name.utf8.count + 1 + target.utf8.count + 1 + (trailing ? 1 : 0) + text.count + 2
    }

    private static func emit<Sink: SerialSink>(into sink: inout Sink, tags: RelayTags, source: String, command: Command,
                                               target: String, text: UnsafeBufferPointer<UInt8>) {
        var separator = WireByte.at
        func tag(_ key: StaticString, _ value: String?) {
            sink.put(separator)
            separator = WireByte.semicolon
            sink.putRaw(key)
            if let value, !value.isEmpty {
                sink.put(WireByte.equals)
                sink.putEscapedTagValue(value)
            }
        }
        if let time = tags.time { tag(RelayTags.timeKey, time) }
        if let msgid = tags.msgid { tag(RelayTags.msgidKey, msgid) }
        if let account = tags.account { tag(RelayTags.accountKey, account) }
        if tags.bot { tag(RelayTags.botKey, nil) }
        if separator != WireByte.at { sink.put(WireByte.space) }
        sink.put(WireByte.colon)
        sink.putRaw(source)
        sink.put(WireByte.space)
        sink.putRaw(command.name)
        sink.put(WireByte.space)
        sink.putRaw(target)
        sink.put(WireByte.space)
        if IRCMessage.needsTrailing(text) { sink.put(WireByte.colon) }
        sink.putRaw(text)
    }
}
