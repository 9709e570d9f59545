import Testing
import IRCProtocol

@Suite("Line limit on output")
struct LineLimitTests {
    static func bodyBytes(_ message: IRCMessage) -> Int { message.lineByteCount(includingTags: false) }

    @Test func messagesThatFitAreLeftAlone() {
        let message = IRCMessage(tags: [IRCTag("msgid", "m1")], source: "n!u@h", command: "PRIVMSG", params: ["#c", "hello"])
        #expect(!message.exceedsLineLimit)
        #expect(!message.lastParamHasLineBreak)
        #expect(message.fittedToLineLimit() == [message])
        let exact = IRCMessage(command: "PRIVMSG", params: ["#c", "a " + String(repeating: "x", count: 510 - "PRIVMSG #c :a ".utf8.count)])
        #expect(Self.bodyBytes(exact) == 512)
        #expect(!exact.exceedsLineLimit)
        var over = exact
        over.params[1] += "x"
        #expect(over.exceedsLineLimit)
    }

    @Test func longTextIsSplitBetweenWordsWithoutLoss() {
        let words = (1...150).map { "word\($0)" }
        let text = words.joined(separator: " ")
        let message = IRCMessage(tags: [IRCTag("time", "2026-11-22T10:00:00.000Z"), IRCTag("msgid", "abc-1")],
                                 source: "visitor!web@switchboard.local", command: "PRIVMSG", params: ["#conv", text])
        #expect(message.exceedsLineLimit)
        let lines = message.fittedToLineLimit()
        #expect(lines.count == 3)
        for line in lines {
            #expect(Self.bodyBytes(line) <= IRCLimits.maxLineBytes)
            #expect(line.source == message.source && line.command == "PRIVMSG" && line.params[0] == "#conv")
            #expect(line.tag("time") == "2026-11-22T10:00:00.000Z")
            #expect(!line.params[1].hasPrefix(" ") && !line.params[1].hasSuffix(" "))
        }
        // Split at spaces only: every word arrives whole, in order.
        #expect(lines.map { $0.params[1] }.joined(separator: " ") == text)
        #expect(lines.map { $0.tag("msgid") } == ["abc-1", "abc-1-2", "abc-1-3"])
    }

    @Test func lineBreaksStartNewLinesAndBlankLinesAreLeftOut() {
        let message = IRCMessage(source: "v!w@h", command: "NOTICE", params: ["op", "first\r\nsecond\n\n \t\n\u{200B}\n\u{2800}\nthird\rfourth\n"])
        #expect(!message.exceedsLineLimit && message.lastParamHasLineBreak)
        #expect(message.fittedToLineLimit().map { $0.params[1] } == ["first", "second", "third", "fourth"])
        let blank = IRCMessage(command: "PRIVMSG", params: ["#c", "\n\r\n"])
        #expect(blank.fittedToLineLimit().map { $0.params[1] } == [""])
    }

    @Test func actionsStayActionsOnEveryLine() {
        let text = String(repeating: "dances ", count: 120)
        let message = IRCMessage(source: "n!u@h", command: "PRIVMSG", params: ["#c", "\u{1}ACTION \(text)\u{1}"])
        let lines = message.fittedToLineLimit()
        #expect(lines.count == 2)
        for line in lines {
            #expect(line.params[1].hasPrefix("\u{1}ACTION ") && line.params[1].hasSuffix("\u{1}"))
            #expect(Self.bodyBytes(line) <= IRCLimits.maxLineBytes)
        }
    }

    @Test func characterBoundariesAreKept() {
        // No spaces: a hard split, never inside a multi-byte character.
        let text = String(repeating: "é😀", count: 200)
        let lines = IRCMessage(source: "n!u@h", command: "PRIVMSG", params: ["#c", text]).fittedToLineLimit()
        #expect(lines.count > 1)
        #expect(lines.map { $0.params[1] }.joined() == text)
        #expect(lines.allSatisfy { Self.bodyBytes($0) <= IRCLimits.maxLineBytes })
    }

    @Test func otherMessagesAreShortenedLastParameterFirst() throws {
        let long = String(repeating: "é", count: 300)   // 600 bytes
        let numeric = IRCMessage(source: "irc.example.org", command: "421", params: ["alice", "CMD", long])
        let fitted = numeric.fittedToLineLimit()
        #expect(fitted.count == 1)
        #expect(Self.bodyBytes(fitted[0]) <= IRCLimits.maxLineBytes)
        #expect(fitted[0].params[0] == "alice" && fitted[0].params[1] == "CMD")
        #expect(long.hasPrefix(fitted[0].params[2]) && fitted[0].params[2].count > 200)

        // A middle parameter too long on its own is cut too, after the last one.
        let middle = IRCMessage(source: "irc.example.org", command: "432", params: ["alice", long, "Erroneous nickname"])
        let cut = middle.fittedToLineLimit()[0]
        #expect(Self.bodyBytes(cut) <= IRCLimits.maxLineBytes)
        #expect(cut.params.count == 3 && cut.params[2].isEmpty && !cut.params[1].isEmpty)
        #expect(long.hasPrefix(cut.params[1]))
        #expect(try IRCMessage.parse(cut.serialized()) == cut)
    }

    @Test func writingReportsLineBreaks() {
        let cases: [(IRCMessage, Bool)] = [
            (IRCMessage(command: "NOTICE", params: ["a\nb", "text"]), true),
            (IRCMessage(command: "NOTICE", params: ["x", "a\r\nb"]), true),
            (IRCMessage(command: "NOTICE", params: ["x", "a\u{0}b c"]), false),   // NUL: a space, not a line break
            (IRCMessage(tags: [IRCTag("k", "a\nb")], command: "NOTICE", params: ["x", "y"]), false),   // escaped in tags
            (IRCMessage(command: "NOTICE", params: ["x", "plain text"]), false),
        ]
        for (message, lineBreak) in cases {
            var bytes = [UInt8](repeating: 0, count: message.lineByteCount)
            var found = !lineBreak
            let written = bytes.withUnsafeMutableBytes { message.writeLine(to: $0, includingTags: true, foundLineBreak: &found) }
            #expect(found == lineBreak, "\(message)")
            #expect(written == bytes.count)
            #expect(!bytes.dropLast(2).contains(0x0A) && !bytes.dropLast(2).contains(0x0D) && !bytes.contains(0))
        }
    }

    @Test func splittingText() {
        #expect(IRCText.split("", maxBytes: 10) == [""])
        #expect(IRCText.split("short", maxBytes: 10) == ["short"])
        #expect(IRCText.split("aaaa bbbb cccc", maxBytes: 10) == ["aaaa bbbb", "cccc"])
        #expect(IRCText.split("abcdefghijkl", maxBytes: 5) == ["abcde", "fghij", "kl"])
        // A space too early would leave a short piece: the split is then between characters.
        #expect(IRCText.split("a bcdefghij", maxBytes: 8) == ["a bcdefg", "hij"])
        #expect(IRCText.split("😀😀", maxBytes: 2) == ["😀", "😀"])
        #expect(IRCText.truncated("é😀x", bytes: 5) == "é")
        #expect(IRCText.truncated("abc", bytes: 3) == "abc")
    }
}
