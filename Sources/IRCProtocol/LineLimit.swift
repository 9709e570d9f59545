/// Keeping what a server sends within the line limit: 512 bytes with CR LF, tags
/// aside. Clients and bots with strict parsers drop longer lines, and a text that
/// holds line breaks (a website visitor's message) cannot go out as one line.
extension IRCMessage {
    /// Whether the message's line, tags aside, is over `IRCLimits.maxLineBytes`.
    public var exceedsLineLimit: Bool {
        // A bound from the strings' sizes first (no scan): the exact count only near the limit.
        var bound = command.utf8.count + 2
        if let source { bound += source.utf8.count + 2 }
        for param in params { bound += param.utf8.count + 2 }
        return bound > IRCLimits.maxLineBytes && lineByteCount(includingTags: false) > IRCLimits.maxLineBytes
    }

    /// Whether the last parameter holds a CR or LF, which cannot go out in one line.
    public var lastParamHasLineBreak: Bool {
        guard let last = params.last else { return false }
        return withUTF8Bytes(last) { ByteScan.containsAny($0, WireByte.cr, WireByte.lf, WireByte.cr, WireByte.lf, WireByte.cr, WireByte.lf) }
    }

    /// The message as lines that each fit the limit, in order.
    ///
    /// The text of a PRIVMSG or NOTICE is split, never cut: at its line breaks, then
    /// between words where a line is still too long, else between characters. Blank
    /// lines (spaces or invisible characters alone included) are left out, and a CTCP ACTION stays an ACTION on every line. Each
    /// piece keeps the tags; after the first, the msgid gets `-2`, `-3`... so that
    /// every line has its own. Any other message is shortened instead: its last
    /// parameter first, then the others from the end (a middle one keeps at least one
    /// character), never inside a character.
    public func fittedToLineLimit() -> [IRCMessage] {
        guard exceedsLineLimit || lastParamHasLineBreak else { return [self] }
        if (command == "PRIVMSG" || command == "NOTICE"), params.count >= 2, let pieces = splitText() {
            return pieces
        }
        return [shortened()]
    }

    private func splitText() -> [IRCMessage]? {
        var text = params[params.count - 1]
        var wrapper: (head: String, tail: String)?
        let action = "\u{1}ACTION "
        if text.hasPrefix(action) && text.hasSuffix("\u{1}") && text.utf8.count > action.utf8.count {
            wrapper = (action, "\u{1}")
            text = String(text.dropFirst(action.count).dropLast())
        }
        var empty = self
        empty.params[empty.params.count - 1] = ":"   // forces the trailing form: " :" is counted
        let overhead = empty.lineByteCount(includingTags: false) - 1
            + (wrapper.map { $0.head.utf8.count + $0.tail.utf8.count } ?? 0)
        let budget = IRCLimits.maxLineBytes - overhead
        // Middle parameters too long to leave a useful room for the text: shorten instead.
        guard budget >= 32 else { return nil }

        var lines: [String] = []
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        where IRCText.hasVisibleCharacter(line) {
            lines += IRCText.split(String(line), maxBytes: budget)
        }
        if lines.isEmpty { lines = [""] }
        let msgid = tag("msgid")
        return lines.enumerated().map { index, line in
            var piece = self
            piece.params[piece.params.count - 1] = wrapper.map { $0.head + line + $0.tail } ?? line
            if index > 0, let msgid, let position = piece.tags.firstIndex(where: { $0.key == "msgid" }) {
                piece.tags[position].value = msgid + "-" + String(index + 1)
            }
            return piece
        }
    }

    private func shortened() -> IRCMessage {
        // Line breaks are left to the serialiser, which writes them as spaces.
        var result = self
        var index = result.params.count - 1
        while index >= 0 {
            let excess = result.lineByteCount(includingTags: false) - IRCLimits.maxLineBytes
            if excess <= 0 { break }
            let param = result.params[index]
            let isLast = index == result.params.count - 1
            let keep = max(param.utf8.count - excess, 0)
            var cut = IRCText.truncated(param, bytes: keep)
            if !isLast && cut.isEmpty, let first = param.first { cut = String(first) }
            result.params[index] = cut
            index -= 1
        }
        return result
    }
}

/// Cutting and splitting text by its UTF-8 size without breaking a character.
public enum IRCText {
    /// Whether `text` has something a reader sees: other than blanks and invisible
    /// characters (zero-width and other default-ignorable code points, such as U+200B
    /// or U+FEFF, and the blank braille pattern U+2800, which fonts draw as nothing).
    public static func hasVisibleCharacter(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains {
            !$0.properties.isWhitespace && !$0.properties.isDefaultIgnorableCodePoint && $0.value != 0x2800
        }
    }

    /// `text` cut to at most `bytes` UTF-8 bytes, at a character boundary.
    public static func truncated(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > bytes { break }
            result.append(character)
            used += size
        }
        return result
    }

    /// `text` in pieces of at most `maxBytes` UTF-8 bytes each, split at the last
    /// space that leaves a piece at least half full (the space is dropped), else
    /// between characters. A single character larger than `maxBytes` is a piece of
    /// its own.
    public static func split(_ text: String, maxBytes: Int) -> [String] {
        var pieces: [String] = []
        var rest = Substring(text)
        while rest.utf8.count > maxBytes {
            var end = rest.startIndex
            var used = 0
            var lastSpace: String.Index?
            for index in rest.indices {
                let size = rest[index].utf8.count
                if used + size > maxBytes { break }
                if rest[index] == " " && used >= maxBytes / 2 { lastSpace = index }
                used += size
                end = rest.index(after: index)
            }
            if end == rest.startIndex { end = rest.index(after: end) }   // one oversized character
            if let lastSpace {
                pieces.append(String(rest[..<lastSpace]))
                rest = rest[rest.index(after: lastSpace)...]
            } else {
                pieces.append(String(rest[..<end]))
                rest = rest[end...]
            }
        }
        if !rest.isEmpty || pieces.isEmpty { pieces.append(String(rest)) }
        return pieces
    }
}
