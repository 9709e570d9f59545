import Testing
import IRCProtocol

@Suite("Tags and tag escaping")
struct TagTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let line: String
        let tags: [IRCTag]
        var testDescription: String { line }
    }

    static let cases: [Case] = [
        Case(line: "@time=2026-11-21T19:53:00.123Z PING", tags: [IRCTag("time", "2026-11-21T19:53:00.123Z")]),
        Case(line: "@a=1;b=2;c=3 PING", tags: [IRCTag("a", "1"), IRCTag("b", "2"), IRCTag("c", "3")]),
        // Empty values: "key" and "key=" are the same.
        Case(line: "@flag PING", tags: [IRCTag("flag")]),
        Case(line: "@flag= PING", tags: [IRCTag("flag", "")]),
        Case(line: "@a;b=;c=x PING", tags: [IRCTag("a"), IRCTag("b"), IRCTag("c", "x")]),
        // All escapes.
        Case(line: #"@k=a\:b\sc\\d\re\nf PING"#, tags: [IRCTag("k", "a;b c\\d\re\nf")]),
        Case(line: #"@k=\:\:\s\s PING"#, tags: [IRCTag("k", ";;  ")]),
        // Unknown escape "\x" -> "x".
        Case(line: #"@k=\a\b\t\0 PING"#, tags: [IRCTag("k", "abt0")]),
        Case(line: #"@k=\é PING"#, tags: [IRCTag("k", "é")]),
        // Trailing lone backslash dropped.
        Case(line: #"@k=abc\ PING"#, tags: [IRCTag("k", "abc")]),
        Case(line: #"@k=\ PING"#, tags: [IRCTag("k", "")]),
        Case(line: #"@k=abc\\ PING"#, tags: [IRCTag("k", "abc\\")]),
        Case(line: #"@k=a\;b=c PING"#, tags: [IRCTag("k", "a"), IRCTag("b", "c")]),
        // '=' in a value is kept.
        Case(line: "@k=a=b==c PING", tags: [IRCTag("k", "a=b==c")]),
        // Duplicate keys: last value wins, position of the first.
        Case(line: "@a=1;b=2;a=3 PING", tags: [IRCTag("a", "3"), IRCTag("b", "2")]),
        Case(line: "@a=1;a PING", tags: [IRCTag("a", "")]),
        Case(line: "@a;a=2;a=3 PING", tags: [IRCTag("a", "3")]),
        // Keys are case-sensitive.
        Case(line: "@a=1;A=2 PING", tags: [IRCTag("a", "1"), IRCTag("A", "2")]),
        // Client-only tags.
        Case(line: "@+typing=active PING", tags: [IRCTag("+typing", "active")]),
        Case(line: "@+draft/react=👍;+draft/reply=abc PING",
             tags: [IRCTag("+draft/react", "👍"), IRCTag("+draft/reply", "abc")]),
        // Vendor tags.
        Case(line: "@draft/reply=msg1 PING", tags: [IRCTag("draft/reply", "msg1")]),
        Case(line: "@example.com/my-tag=v;+example.com/x-y=z PING",
             tags: [IRCTag("example.com/my-tag", "v"), IRCTag("+example.com/x-y", "z")]),
        Case(line: "@a-b-1=x PING", tags: [IRCTag("a-b-1", "x")]),
        // Empty entries skipped.
        Case(line: "@;;a=1;;;b;; PING", tags: [IRCTag("a", "1"), IRCTag("b")]),
        Case(line: "@; PING", tags: []),
        // UTF-8 values.
        Case(line: "@k=日本語\\s🎉 PING", tags: [IRCTag("k", "日本語 🎉")]),
    ]

    @Test(arguments: cases)
    func parsesTags(_ c: Case) throws {
        let message = try IRCMessage.parse(c.line)
        #expect(message.tags == c.tags)
        #expect(message.command == "PING")
        #expect(message.params.isEmpty)
    }

    @Test func tagsWithSourceAndParams() throws {
        let message = try IRCMessage.parse("@id=123AB;rose :nick!ident@host.com PRIVMSG me :Hello")
        #expect(message == IRCMessage(
            tags: [IRCTag("id", "123AB"), IRCTag("rose")],
            source: "nick!ident@host.com", command: "PRIVMSG", params: ["me", "Hello"]))
    }

    @Test func tagLookup() throws {
        let message = try IRCMessage.parse("@a=1;+b;c=x\\sy PING")
        #expect(message.tag("a") == "1")
        #expect(message.tag("+b") == "")
        #expect(message.tag("b") == nil)
        #expect(message.tag("c") == "x y")
        #expect(message.tag("missing") == nil)
        // First match wins for hand-built messages.
        let built = IRCMessage(tags: [IRCTag("k", "1"), IRCTag("k", "2")], command: "X")
        #expect(built.tag("k") == "1")
    }

    @Test func manyDuplicateTagsAreDeduplicated() throws {
        // More than 16 distinct keys switches to the indexed dedupe path.
        var entries = (0..<40).map { "k\($0)=\($0)" }
        entries += (0..<40).map { "k\($0)=again\($0)" }
        entries.append("k0=last")
        let message = try IRCMessage.parse("@" + entries.joined(separator: ";") + " PING")
        #expect(message.tags.count == 40)
        #expect(message.tags[0] == IRCTag("k0", "last"))
        for i in 1..<40 {
            #expect(message.tags[i] == IRCTag("k\(i)", "again\(i)"))
        }
    }

    @Test func tagInitDefaultsToEmptyValue() {
        #expect(IRCTag("x") == IRCTag("x", ""))
        #expect(IRCTag("x").value == "")
    }

    struct EscapeCase: Sendable {
        let raw: String
        let escaped: String
    }

    static let escapeCases: [EscapeCase] = [
        EscapeCase(raw: "", escaped: ""),
        EscapeCase(raw: "plain", escaped: "plain"),
        EscapeCase(raw: ";", escaped: #"\:"#),
        EscapeCase(raw: " ", escaped: #"\s"#),
        EscapeCase(raw: "\\", escaped: #"\\"#),
        EscapeCase(raw: "\r", escaped: #"\r"#),
        EscapeCase(raw: "\n", escaped: #"\n"#),
        EscapeCase(raw: "a;b c\\d\r\ne", escaped: #"a\:b\sc\\d\r\ne"#),
        EscapeCase(raw: "\\s", escaped: #"\\s"#),
        EscapeCase(raw: "héllo wörld 🎉", escaped: #"héllo\swörld\s🎉"#),
        EscapeCase(raw: "=:", escaped: "=:"),
    ]

    @Test(arguments: escapeCases)
    func escapeAndUnescape(_ c: EscapeCase) {
        #expect(TagEscaping.escape(c.raw) == c.escaped)
        #expect(TagEscaping.unescape(c.escaped) == c.raw)
        #expect(TagEscaping.unescape(TagEscaping.escape(c.raw)) == c.raw)
    }

    @Test func unescapeOddities() {
        #expect(TagEscaping.unescape(#"\x"#) == "x")
        #expect(TagEscaping.unescape(#"a\bc"#) == "abc")
        #expect(TagEscaping.unescape(#"abc\"#) == "abc")
        #expect(TagEscaping.unescape(#"\"#) == "")
        #expect(TagEscaping.unescape(#"\\\"#) == "\\")
        #expect(TagEscaping.unescape(#"\🎉"#) == "🎉")
    }
}
