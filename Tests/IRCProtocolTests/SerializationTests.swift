import Testing
import IRCProtocol

@Suite("Serialising and round trips")
struct SerializationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let message: IRCMessage
        let wire: String
        var testDescription: String { wire }
    }

    static let cases: [Case] = [
        Case(message: IRCMessage(command: "PING"), wire: "PING"),
        Case(message: IRCMessage(command: "PING", params: ["token"]), wire: "PING token"),
        Case(message: IRCMessage(command: "PRIVMSG", params: ["#c", "hello world"]), wire: "PRIVMSG #c :hello world"),
        Case(message: IRCMessage(command: "PRIVMSG", params: ["#c", ""]), wire: "PRIVMSG #c :"),
        Case(message: IRCMessage(command: "PRIVMSG", params: ["#c", ":)"]), wire: "PRIVMSG #c ::)"),
        Case(message: IRCMessage(command: "PRIVMSG", params: ["#c", "a:b"]), wire: "PRIVMSG #c a:b"),
        Case(message: IRCMessage(command: "MODE", params: ["#c", "+o", "alice"]), wire: "MODE #c +o alice"),
        Case(message: IRCMessage(source: "irc.example.org", command: "001", params: ["alice", "Welcome"]),
             wire: ":irc.example.org 001 alice Welcome"),
        Case(message: IRCMessage(source: "n!u@h", command: "JOIN", params: ["#c"]), wire: ":n!u@h JOIN #c"),
        Case(message: IRCMessage(tags: [IRCTag("a", "1"), IRCTag("b")], command: "PING"), wire: "@a=1;b PING"),
        Case(message: IRCMessage(tags: [IRCTag("k", "a;b c\\d\r\n")], command: "X"), wire: #"@k=a\:b\sc\\d\r\n X"#),
        Case(message: IRCMessage(tags: [IRCTag("time", "2026-11-21T19:53:00.123Z"), IRCTag("+draft/reply", "x")],
                                 source: "n!u@h", command: "PRIVMSG", params: ["#c", "hi there"]),
             wire: "@time=2026-11-21T19:53:00.123Z;+draft/reply=x :n!u@h PRIVMSG #c :hi there"),
        Case(message: IRCMessage(command: "PRIVMSG", params: ["#c", "🎉 ok"]), wire: "PRIVMSG #c :🎉 ok"),
    ]

    @Test(arguments: cases)
    func serialises(_ c: Case) throws {
        #expect(c.message.serialized() == c.wire)
        #expect(c.message.serializedByteCount == c.wire.utf8.count)
        var bytes: [UInt8] = []
        c.message.write(into: &bytes)
        #expect(bytes == Array((c.wire + "\r\n").utf8))
        #expect(try IRCMessage.parse(c.wire) == c.message)
    }

    @Test func writeAppendsToExistingBytes() {
        var bytes = Array("PING a\r\n".utf8)
        IRCMessage(command: "PONG", params: ["b c"]).write(into: &bytes)
        IRCMessage(command: "PONG", params: ["d"]).write(into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "PING a\r\nPONG :b c\r\nPONG d\r\n")
    }

    @Test func emptyTagValueIsWrittenAsBareKey() {
        let message = IRCMessage(tags: [IRCTag("x", ""), IRCTag("+y")], command: "TAGMSG", params: ["#c"])
        #expect(message.serialized() == "@x;+y TAGMSG #c")
    }

    @Test func lineBreaksCannotBeInjected() throws {
        let message = IRCMessage(source: "a\rb", command: "PRIVMSG",
                                 params: ["#c", "hi\r\nQUIT :bye\u{0}"])
        let wire = message.serialized()
        #expect(!wire.utf8.contains(0x0D))
        #expect(!wire.utf8.contains(0x0A))
        #expect(!wire.utf8.contains(0x00))
        #expect(wire == ":a b PRIVMSG #c :hi  QUIT :bye ")
        #expect(message.serializedByteCount == wire.utf8.count)
        // Tag values escape CR/LF and drop NUL.
        let tagged = IRCMessage(tags: [IRCTag("k", "a\u{0}b\nc")], command: "X")
        #expect(tagged.serialized() == #"@k=ab\nc X"#)
        #expect(tagged.serializedByteCount == tagged.serialized().utf8.count)
        var bytes: [UInt8] = []
        tagged.write(into: &bytes)
        #expect(bytes.count == tagged.serializedByteCount + 2)
        // A last param with only a CR becomes trailing (it is written as a space).
        #expect(IRCMessage(command: "X", params: ["a\rb"]).serialized() == "X :a b")
    }

    static let roundTrips: [IRCMessage] = [
        IRCMessage(command: "PING"),
        IRCMessage(command: "PING", params: [""]),
        IRCMessage(command: "CAP", params: ["*", "LS", "multi-prefix sasl server-time message-tags"]),
        IRCMessage(command: "CAP", params: ["REQ", "server-time"]),
        IRCMessage(source: "srv", command: "005", params: ["alice", "CASEMAPPING=rfc1459", "NICKLEN=30", "are supported by this server"]),
        IRCMessage(source: "srv", command: "353", params: ["alice", "=", "#c", "@alice +bob carol"]),
        IRCMessage(source: "srv", command: "332", params: ["alice", "#c", ":starts with a colon"]),
        IRCMessage(source: "srv", command: "332", params: ["alice", "#c", "::"]),
        IRCMessage(command: "PRIVMSG", params: ["#c", " leading space"]),
        IRCMessage(command: "PRIVMSG", params: ["#c", "trailing space "]),
        IRCMessage(command: "PRIVMSG", params: ["#c", "  "]),
        IRCMessage(command: "PRIVMSG", params: ["#c", "a:b:c"]),
        IRCMessage(command: "MODE", params: ["#c", "+b", "*!*@2001:db8::1"]),
        IRCMessage(command: "PRIVMSG", params: ["#日本", "こんにちは 世界 🎌"]),
        IRCMessage(command: "PRIVMSG", params: ["#c", "\u{01}ACTION dances\u{01}"]),
        IRCMessage(tags: [IRCTag("k", ";")], command: "X"),
        IRCMessage(tags: [IRCTag("k", " ")], command: "X"),
        IRCMessage(tags: [IRCTag("k", "\\")], command: "X"),
        IRCMessage(tags: [IRCTag("k", "\r\n")], command: "X"),
        IRCMessage(tags: [IRCTag("k", "\\s\\:")], command: "X"),
        IRCMessage(tags: [IRCTag("k", "end\\")], command: "X"),
        IRCMessage(tags: [IRCTag("k", "=")], command: "X"),
        IRCMessage(tags: [IRCTag("a"), IRCTag("b", "2"), IRCTag("+c"), IRCTag("vendor.example/d", "4")], command: "X"),
        IRCMessage(tags: [IRCTag("msgid", "abc"), IRCTag("time", "2026-11-21T19:53:00.123Z")],
                   source: "nick!user@host.example", command: "PRIVMSG", params: ["#room", "hello, how are you?"]),
        IRCMessage(tags: [IRCTag("+typing", "active")], source: "n!u@h", command: "TAGMSG", params: ["#c"]),
        IRCMessage(tags: [IRCTag("+draft/react", "👍")], command: "TAGMSG", params: ["#c"]),
        IRCMessage(source: "n!u@h", command: "QUIT", params: ["Quit: gone"]),
        IRCMessage(source: "n!u@h", command: "NICK", params: ["newnick"]),
        IRCMessage(command: "X", params: (1...20).map { "p\($0)" }),
        IRCMessage(command: "X", params: (1...20).map { "p\($0)" } + ["last one"]),
    ]

    @Test(arguments: roundTrips)
    func roundTrip(_ message: IRCMessage) throws {
        let wire = message.serialized()
        #expect(try IRCMessage.parse(wire) == message)
        var bytes: [UInt8] = []
        message.write(into: &bytes)
        #expect(bytes.suffix(2) == [0x0D, 0x0A])
        #expect(try IRCMessage.parse(bytes.dropLast(2)) == message)
        // And back again gives the same text.
        #expect(try IRCMessage.parse(wire).serialized() == wire)
    }

    @Test func reserialisingParsedLinesNormalisesSpacing() throws {
        let parsed = try IRCMessage.parse("@a=1;;b   :src   privmsg   #c    :hi  there")
        #expect(parsed.serialized() == "@a=1;b :src PRIVMSG #c :hi  there")
    }

    @Test func messagesAreHashable() throws {
        let a = try IRCMessage.parse("@a=1 :s X y")
        let b = IRCMessage(tags: [IRCTag("a", "1")], source: "s", command: "X", params: ["y"])
        #expect(Set([a, b]).count == 1)
    }
}

@Suite("Serialiser byte scanning")
struct ByteScanTests {
    /// Straightforward reference implementation of the serialiser's escaping and sanitising.
    static func naiveEscape(_ value: [UInt8]) -> [UInt8] {
        value.flatMap { byte -> [UInt8] in
            switch byte {
            case 0x3B: return Array(#"\:"#.utf8)
            case 0x20: return Array(#"\s"#.utf8)
            case 0x5C: return Array(#"\\"#.utf8)
            case 0x0D: return Array(#"\r"#.utf8)
            case 0x0A: return Array(#"\n"#.utf8)
            case 0x00: return []
            default: return [byte]
            }
        }
    }

    static func naiveSanitise(_ value: [UInt8]) -> [UInt8] {
        value.map { [0x00, 0x0A, 0x0D].contains($0) ? 0x20 : $0 }
    }

    /// Puts each special byte at every offset of values of many lengths, so both the 8-byte
    /// word scan and the byte-by-byte tail are exercised.
    @Test func specialBytesAtEveryOffset() {
        for length in 1..<40 {
            for offset in 0..<length {
                for needle: UInt8 in [0x00, 0x0A, 0x0D, 0x20, 0x3B, 0x5C, 0x3A, 0x41] {
                    var value = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    value[offset] = needle
                    let text = String(decoding: value, as: UTF8.self)
                    let message = IRCMessage(tags: [IRCTag("k", text)], command: "X", params: ["m", text])
                    let lastIsTrailing = [0x00, 0x0A, 0x0D, 0x20].contains(needle) || (offset == 0 && needle == 0x3A)
                    let expected = Array("@k=".utf8) + Self.naiveEscape(value) + Array(" X m ".utf8)
                        + (lastIsTrailing ? [0x3A] : []) + Self.naiveSanitise(value)
                    #expect(Array(message.serialized().utf8) == expected, "length \(length) offset \(offset) byte \(needle)")
                    #expect(message.serializedByteCount == expected.count)
                    var bytes: [UInt8] = []
                    message.write(into: &bytes)
                    #expect(bytes == expected + [0x0D, 0x0A])
                }
            }
        }
    }

    @Test func sanitisesAndEscapesAtEveryOffset() throws {
        for offset in 0..<30 {
            var chars = Array(repeating: Character("x"), count: 30)
            chars[offset] = "\n"
            let text = String(chars)
            let message = IRCMessage(tags: [IRCTag("k", text)], command: "X", params: ["a", text])
            let wire = message.serialized()
            #expect(!wire.utf8.contains(0x0A))
            #expect(wire.utf8.count == message.serializedByteCount)
            let parsed = try IRCMessage.parse(wire)
            #expect(parsed.tag("k") == text)
            chars[offset] = " "
            #expect(parsed.params == ["a", String(chars)])
        }
    }

    @Test("writeLine leaves the tags out when asked, and counts the same bytes it writes")
    func writeLineWithoutTags() {
        let message = IRCMessage(
            tags: [IRCTag("time", "2026-11-21T10:00:00.000Z"), IRCTag("+typing", "active")],
            source: "alice!a@host", command: "PRIVMSG", params: ["#c", "hello there"])
        for (includingTags, expected) in [
            (true, "@time=2026-11-21T10:00:00.000Z;+typing=active :alice!a@host PRIVMSG #c :hello there\r\n"),
            (false, ":alice!a@host PRIVMSG #c :hello there\r\n"),
        ] {
            let count = message.lineByteCount(includingTags: includingTags)
            #expect(count == expected.utf8.count)
            var bytes = [UInt8](repeating: 0, count: count)
            let written = bytes.withUnsafeMutableBytes { message.writeLine(to: $0, includingTags: includingTags) }
            #expect(written == count)
            #expect(String(decoding: bytes, as: UTF8.self) == expected)
        }
    }
}
