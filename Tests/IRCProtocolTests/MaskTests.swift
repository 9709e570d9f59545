import Testing
import IRCProtocol

@Suite("Masks")
struct MaskTests {
    @Test(arguments: [
        ("nick", "nick!*@*"),
        ("Nick", "Nick!*@*"),
        ("*", "*!*@*"),
        ("user@host", "*!user@host"),
        ("*@host.example", "*!*@host.example"),
        ("nick!user", "nick!user@*"),
        ("nick!*", "nick!*@*"),
        ("*.example.org", "*!*@*.example.org"),
        ("host.example", "*!*@host.example"),
        ("192.168.0.*", "*!*@192.168.0.*"),
        ("n!u@h", "n!u@h"),
        ("*!*@*", "*!*@*"),
        ("a.b!c", "a.b!c@*"),
        ("a.b@c", "*!a.b@c"),
    ])
    func normalises(_ input: String, _ expected: String) {
        #expect(IRCMask(input).pattern == expected)
    }

    struct MatchCase: Sendable {
        let mask: String
        let candidate: String
        let matches: Bool
    }

    static let matchCases: [MatchCase] = [
        MatchCase(mask: "*!*@*", candidate: "alice!al@host.example", matches: true),
        MatchCase(mask: "alice", candidate: "alice!al@host.example", matches: true),
        MatchCase(mask: "alice", candidate: "alicex!al@host.example", matches: false),
        MatchCase(mask: "ali*", candidate: "alice!al@host.example", matches: true),
        MatchCase(mask: "*ice", candidate: "alice!al@host.example", matches: true),
        MatchCase(mask: "*ice", candidate: "icebob!al@host.example", matches: false),
        MatchCase(mask: "*.example", candidate: "alice!al@host.example", matches: true),
        MatchCase(mask: "*.example", candidate: "alice!al@host.example.net", matches: false),
        MatchCase(mask: "*!*@*.example", candidate: "alice!al@example", matches: false),
        MatchCase(mask: "al@*", candidate: "alice!al@anything", matches: true),
        MatchCase(mask: "al@*", candidate: "alice!xal@anything", matches: false),
        MatchCase(mask: "alice!al", candidate: "alice!al@h", matches: true),
        // '?' is exactly one character.
        MatchCase(mask: "a?ice", candidate: "alice!u@h", matches: true),
        MatchCase(mask: "a?ice", candidate: "aice!u@h", matches: false),
        MatchCase(mask: "a?ice", candidate: "allice!u@h", matches: false),
        MatchCase(mask: "???", candidate: "bob!u@h", matches: true),
        MatchCase(mask: "???", candidate: "bo!u@h", matches: false),
        MatchCase(mask: "*!?@*", candidate: "n!é@h", matches: true),   // '?' = one character, not one byte
        MatchCase(mask: "*!??@*", candidate: "n!é@h", matches: false),
        MatchCase(mask: "*!*@???", candidate: "n!u@🎉🎉🎉", matches: true),
        // Case-insensitivity.
        MatchCase(mask: "ALICE", candidate: "alice!u@h", matches: true),
        MatchCase(mask: "alice", candidate: "ALICE!U@H", matches: true),
        MatchCase(mask: "*!*@HOST.Example", candidate: "n!u@host.EXAMPLE", matches: true),
        // ASCII mapping: brackets are not folded.
        MatchCase(mask: "[x]", candidate: "{x}!u@h", matches: false),
        // Several stars and backtracking.
        MatchCase(mask: "*!*a*b*c*@*", candidate: "n!xaybzc@h", matches: true),
        MatchCase(mask: "*!*a*b*c*@*", candidate: "n!xcybza@h", matches: false),
        MatchCase(mask: "**!**@**", candidate: "n!u@h", matches: true),
        MatchCase(mask: "*!*@*a*a*a*a*a*b", candidate: "n!u@" + String(repeating: "a", count: 200), matches: false),
        MatchCase(mask: "*!*@*a*a*a*a*a*b", candidate: "n!u@" + String(repeating: "a", count: 200) + "b", matches: true),
        // No escaping: other glob-ish characters are literal.
        MatchCase(mask: "*!*@[abc]", candidate: "n!u@a", matches: false),
        MatchCase(mask: "*!*@[abc]", candidate: "n!u@[abc]", matches: true),
        MatchCase(mask: #"*!*@a\*"#, candidate: #"n!u@a\xyz"#, matches: true),
        // Empty parts.
        MatchCase(mask: "*!*@*", candidate: "!@", matches: true),
        MatchCase(mask: "n!u@h", candidate: "n!u@hh", matches: false),
        MatchCase(mask: "n!u@h", candidate: "", matches: false),
        MatchCase(mask: "*", candidate: "", matches: false),  // "*!*@*" needs the ! and @
    ]

    @Test(arguments: matchCases)
    func matches(_ c: MatchCase) {
        #expect(IRCMask(c.mask).matches(c.candidate) == c.matches, "\(c.mask) vs \(c.candidate)")
        #expect(IRCMask(c.mask, casemapping: .rfc1459).matches(c.candidate) == c.matches || c.mask.contains("["))
    }

    /// A plain glob is not normalised into a mask: a '.' does not make it a host.
    @Test func plainGlobs() {
        #expect(IRCGlob("127.0.0.*").matches("127.0.0.1"))
        #expect(IRCGlob("#Web-*").matches("#web-one"))
        #expect(IRCGlob("#a.b").matches("#A.B"))
        #expect(!IRCGlob("#a.b").matches("#a.bc"))
        #expect(IRCGlob("?é").matches("xé"))
        #expect(IRCGlob("[x]", casemapping: .rfc1459).matches("{X}"))
        #expect(!IRCMask("127.0.0.*").matches("127.0.0.1"))
    }

    @Test func rfc1459Folding() {
        let mask = IRCMask("[Away]", casemapping: .rfc1459)
        #expect(mask.matches("{away}!u@h"))
        #expect(mask.matches("[AWAY]!u@h"))
        #expect(IRCMask("a\\b", casemapping: .rfc1459).matches("A|B!u@h"))
        #expect(IRCMask("x~", casemapping: .rfc1459).matches("X^!u@h"))
        #expect(!IRCMask("[Away]", casemapping: .ascii).matches("{away}!u@h"))
        #expect(IRCMask("[Away]", casemapping: .ascii).matches("[away]!u@h"))
    }

    @Test func patternKeepsItsCaseButEqualityFolds() {
        let upper = IRCMask("Alice")
        let lower = IRCMask("alice")
        #expect(upper.pattern == "Alice!*@*")
        #expect(upper == lower)
        #expect(Set([upper, lower]).count == 1)
        #expect(IRCMask("[a]", casemapping: .rfc1459) == IRCMask("{A}", casemapping: .rfc1459))
        #expect(IRCMask("[a]", casemapping: .ascii) != IRCMask("{A}", casemapping: .ascii))
        #expect(IRCMask("a") != IRCMask("b"))
        #expect(IRCMask("a").casemapping == .ascii)
    }
}
