import Testing
import IRCProtocol

@Suite("Parsing: source, command, params")
struct MessageParsingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let line: String
        let source: String?
        let command: String
        let params: [String]
        var testDescription: String { line }
    }

    static let cases: [Case] = [
        Case(line: "PING", source: nil, command: "PING", params: []),
        Case(line: "ping :abc", source: nil, command: "PING", params: ["abc"]),
        Case(line: "privmsg #chan :hello world", source: nil, command: "PRIVMSG", params: ["#chan", "hello world"]),
        Case(line: "PrivMsg #chan hi", source: nil, command: "PRIVMSG", params: ["#chan", "hi"]),
        Case(line: "NICK alice", source: nil, command: "NICK", params: ["alice"]),
        Case(line: "USER alice 0 * :Alice Liddell", source: nil, command: "USER", params: ["alice", "0", "*", "Alice Liddell"]),
        // Source forms.
        Case(line: ":irc.example.org 001 alice :Welcome to IRC", source: "irc.example.org", command: "001", params: ["alice", "Welcome to IRC"]),
        Case(line: ":alice!ali@host.example PRIVMSG #c :x", source: "alice!ali@host.example", command: "PRIVMSG", params: ["#c", "x"]),
        Case(line: ":alice QUIT", source: "alice", command: "QUIT", params: []),
        Case(line: ":alice@host JOIN #c", source: "alice@host", command: "JOIN", params: ["#c"]),
        Case(line: ":srv 372 alice :- MOTD line", source: "srv", command: "372", params: ["alice", "- MOTD line"]),
        // Trailing params.
        Case(line: "PRIVMSG #c :", source: nil, command: "PRIVMSG", params: ["#c", ""]),
        Case(line: "PRIVMSG #c ::-)", source: nil, command: "PRIVMSG", params: ["#c", ":-)"]),
        Case(line: "PRIVMSG #c :a : b :: c", source: nil, command: "PRIVMSG", params: ["#c", "a : b :: c"]),
        Case(line: "PRIVMSG #c :  leading and trailing spaces  ", source: nil, command: "PRIVMSG", params: ["#c", "  leading and trailing spaces  "]),
        Case(line: "TOPIC #c :", source: nil, command: "TOPIC", params: ["#c", ""]),
        Case(line: "CMD :", source: nil, command: "CMD", params: [""]),
        // Middle params containing ':' (only a leading ':' starts the trailing).
        Case(line: "CMD a:b c: d::e :f g", source: nil, command: "CMD", params: ["a:b", "c:", "d::e", "f g"]),
        Case(line: "MODE #c +b *!*@2001:db8::1", source: nil, command: "MODE", params: ["#c", "+b", "*!*@2001:db8::1"]),
        // Multiple spaces.
        Case(line: "PRIVMSG   #c    :hi  there", source: nil, command: "PRIVMSG", params: ["#c", "hi  there"]),
        Case(line: ":src    NOTICE   a   b", source: "src", command: "NOTICE", params: ["a", "b"]),
        Case(line: "   JOIN #c", source: nil, command: "JOIN", params: ["#c"]),
        Case(line: "JOIN #c   ", source: nil, command: "JOIN", params: ["#c"]),
        Case(line: "PING   ", source: nil, command: "PING", params: []),
        // Lots of params: all are kept.
        Case(line: "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 :18 19", source: nil, command: "CMD",
             params: (1...17).map(String.init) + ["18 19"]),
        // Non-ASCII commands and params.
        Case(line: "PRIVMSG #café :héllo wörld", source: nil, command: "PRIVMSG", params: ["#café", "héllo wörld"]),
        Case(line: "PRIVMSG #c :🎉👍🏽 日本語", source: nil, command: "PRIVMSG", params: ["#c", "🎉👍🏽 日本語"]),
        Case(line: "PRIVMSG 🦄 😀", source: nil, command: "PRIVMSG", params: ["🦄", "😀"]),
        Case(line: "cmd-with_stuff x", source: nil, command: "CMD-WITH_STUFF", params: ["x"]),
        Case(line: "éa x", source: nil, command: "éA", params: ["x"]),
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        let message = try IRCMessage.parse(c.line)
        #expect(message.tags.isEmpty)
        #expect(message.source == c.source)
        #expect(message.command == c.command)
        #expect(message.params == c.params)
        // The byte entry point agrees with the String one.
        #expect(try IRCMessage.parse(Array(c.line.utf8)) == message)
    }

    @Test func numericsAreNotChanged() throws {
        #expect(try IRCMessage.parse(":s 433 * nick :in use").command == "433")
        #expect(try IRCMessage.parse("005 a b").command == "005")
    }

    @Test func acceptsAnyByteCollection() throws {
        let bytes = Array("@a=b :src CMD x :y z".utf8)
        let expected = IRCMessage(tags: [IRCTag("a", "b")], source: "src", command: "CMD", params: ["x", "y z"])
        #expect(try IRCMessage.parse(bytes) == expected)
        #expect(try IRCMessage.parse(bytes[...]) == expected)
        #expect(try IRCMessage.parse(ContiguousArray(bytes)) == expected)
        // Non-contiguous collections take the copying path.
        #expect(try IRCMessage.parse(bytes.lazy.map { $0 }) == expected)
        #expect(try IRCMessage.parse("@a=b :src CMD x :y z".utf8) == expected)
        // A slice in the middle of a bigger buffer.
        let framed = Array("JUNK\r\n@a=b :src CMD x :y z\r\nMORE".utf8)
        #expect(try IRCMessage.parse(framed[6..<(6 + bytes.count)]) == expected)
    }

    @Test(arguments: ["", " ", "    ", String(repeating: " ", count: 1000)])
    func emptyLines(_ line: String) {
        #expect(throws: IRCParseError.empty) { try IRCMessage.parse(line) }
        #expect(throws: IRCParseError.empty) { try IRCMessage.parse([UInt8]()) }
    }

    static let malformedLines: [String] = [
        "@",                 // '@' with no tags and nothing after
        "@   ",
        "@a=b",              // tags with no command
        "@a=b   ",
        ":",                 // empty source
        ": PRIVMSG #c",      // empty source
        ":source",           // source with no command
        ":source    ",
        "@a :source",
        "@bad_key=1 PING",   // '_' not allowed in keys
        "@=v PING",          // empty key
        "@+ PING",           // only the client prefix
        "@vendor/ PING",     // vendor with no name
        "@/name PING",       // empty vendor
        "@a/b/c PING",       // two slashes
        "@ven_dor/x PING",
        "@k€y=1 PING",
        "PRIVMSG #c :a\rb",  // CR
        "PRIVMSG #c :a\nb",  // LF
        "PRIVMSG #c :a\u{0}b", // NUL
        "@a=\r PING",
        "@ @x PING",         // a command starting with '@' (it would be written back as tags)
        ":n!u@h @x",
    ]

    @Test(arguments: malformedLines)
    func malformed(_ line: String) {
        do {
            let message = try IRCMessage.parse(line)
            Issue.record("expected failure, got \(message)")
        } catch {
            guard case .malformed(let reason) = error else {
                Issue.record("expected .malformed, got \(error)")
                return
            }
            #expect(!reason.isEmpty)
        }
    }

    @Test func malformedReasonsAreSpecific() {
        #expect(throws: IRCParseError.malformed("'@' with no tags and nothing after")) { try IRCMessage.parse("@") }
        #expect(throws: IRCParseError.malformed("tags with no command")) { try IRCMessage.parse("@a") }
        #expect(throws: IRCParseError.malformed("source with no command")) { try IRCMessage.parse(":nick!u@h") }
        #expect(throws: IRCParseError.malformed("empty source")) { try IRCMessage.parse(": CMD") }
        #expect(throws: IRCParseError.malformed("a command cannot start with '@'")) { try IRCMessage.parse("@   @x") }
    }

    @Test func emptyTagSectionBeforeCommandIsAccepted() throws {
        // "@" followed by a space: no tags, but there is a message.
        let message = try IRCMessage.parse("@ PING x")
        #expect(message == IRCMessage(command: "PING", params: ["x"]))
    }

    @Test func parseIsRepeatable() throws {
        let line = "@time=2026-11-21T19:53:00.123Z;msgid=abc :n!u@h PRIVMSG #c :hi"
        let first = try IRCMessage.parse(line)
        for _ in 0..<100 {
            #expect(try IRCMessage.parse(line) == first)
        }
    }
}
