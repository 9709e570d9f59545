import Testing
import IRCProtocol

@Suite("Casemapping")
struct CasemappingTests {
    struct Case: Sendable {
        let input: String
        let ascii: String
        let rfc1459: String
    }

    static let cases: [Case] = [
        Case(input: "", ascii: "", rfc1459: ""),
        Case(input: "alice", ascii: "alice", rfc1459: "alice"),
        Case(input: "ALICE", ascii: "alice", rfc1459: "alice"),
        Case(input: "AbCxYz09", ascii: "abcxyz09", rfc1459: "abcxyz09"),
        Case(input: "[Foo]\\Bar~", ascii: "[foo]\\bar~", rfc1459: "{foo}|bar^"),
        Case(input: "{foo}|bar^", ascii: "{foo}|bar^", rfc1459: "{foo}|bar^"),
        Case(input: "#Chan[1]", ascii: "#chan[1]", rfc1459: "#chan{1}"),
        Case(input: "ÉCOLE Straße", ascii: "École straße", rfc1459: "École straße"),  // non-ASCII untouched
        Case(input: "@_`-", ascii: "@_`-", rfc1459: "@_`-"),
    ]

    @Test(arguments: cases)
    func folds(_ c: Case) {
        #expect(Casemapping.ascii.fold(c.input) == c.ascii)
        #expect(Casemapping.rfc1459.fold(c.input) == c.rfc1459)
        #expect(Casemapping.ascii.equals(c.input, c.ascii))
        #expect(Casemapping.rfc1459.equals(c.input, c.rfc1459))
    }

    @Test func equality() {
        #expect(Casemapping.ascii.equals("Nick", "nICK"))
        #expect(!Casemapping.ascii.equals("Nick[]", "nick{}"))
        #expect(Casemapping.rfc1459.equals("Nick[]", "nick{}"))
        #expect(Casemapping.rfc1459.equals("a\\~", "A|^"))
        #expect(!Casemapping.rfc1459.equals("abc", "abcd"))
        #expect(!Casemapping.rfc1459.equals("abc", "abd"))
    }

    @Test func byteFolding() {
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") {
            #expect(Casemapping.ascii.fold(byte) == byte + 32)
            #expect(Casemapping.rfc1459.fold(byte) == byte + 32)
        }
        #expect(Casemapping.ascii.fold(UInt8(ascii: "[")) == UInt8(ascii: "["))
        #expect(Casemapping.rfc1459.fold(UInt8(ascii: "~")) == UInt8(ascii: "^"))
        #expect(Casemapping.rfc1459.fold(0xC3) == 0xC3)
    }

    @Test func rawValuesMatchISupportTokens() {
        #expect(Casemapping(rawValue: "ascii") == .ascii)
        #expect(Casemapping(rawValue: "rfc1459") == .rfc1459)
        #expect(Casemapping.rfc1459.rawValue == "rfc1459")
    }
}

@Suite("Name validation")
struct NameValidationTests {
    static let validNicks = [
        "a", "alice", "Alice", "bob_", "[away]", "{x}", "a|b", "x^y", "`quote", "\\back", "_", "n1ck", "a-b", "a-",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
    ]
    static let invalidNicks = [
        "", "1abc", "-abc", "a b", "a!b", "a@b", "a.b", "a,b", "#chan", ":x", "*", "né", "a\u{0}", "😀",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234",  // 31 > maxLength 30
    ]

    @Test(arguments: validNicks)
    func validNick(_ nick: String) {
        #expect(IRCNames.isValidNick(nick, maxLength: 30))
    }

    @Test(arguments: invalidNicks)
    func invalidNick(_ nick: String) {
        #expect(!IRCNames.isValidNick(nick, maxLength: 30))
    }

    @Test func nickLengthBoundary() {
        #expect(IRCNames.isValidNick("abcde", maxLength: 5))
        #expect(!IRCNames.isValidNick("abcdef", maxLength: 5))
        #expect(!IRCNames.isValidNick("a", maxLength: 0))
    }

    static let validChannels = ["#a", "#chan", "#Chan-1", "##meta", "#café", "#日本語", "#🎉", "#a:b", "#a.b/c", "#[x]"]
    static let invalidChannels = [
        "", "#", "chan", "&chan", "+chan", "#a b", "#a,b", "#a\u{7}", "#a\u{0}", "#a\r", "#a\n",
        "#" + String(repeating: "x", count: 50),  // 51 bytes > 50
    ]

    @Test(arguments: validChannels)
    func validChannel(_ name: String) {
        #expect(IRCNames.isValidChannel(name, maxLength: 50))
    }

    @Test(arguments: invalidChannels)
    func invalidChannel(_ name: String) {
        #expect(!IRCNames.isValidChannel(name, maxLength: 50))
    }

    /// The first byte decides, as on the wire: `#` and a combining mark is one
    /// Unicode character, but still a channel.
    @Test func channelTargets() {
        for target in ["#ops", "#", "##x", "#\u{301}x", "#日本語"] { #expect(IRCNames.isChannelTarget(target)) }
        for target in ["", "ops", "&ops", "+x", "LiveChat", " #ops"] { #expect(!IRCNames.isChannelTarget(target)) }
        #expect(IRCNames.isValidChannel("#\u{301}x", maxLength: 50))
    }

    @Test func channelLengthIsInBytes() {
        #expect(IRCNames.isValidChannel("#" + String(repeating: "x", count: 49), maxLength: 50))
        #expect(IRCNames.isValidChannel("#éé", maxLength: 5))
        #expect(!IRCNames.isValidChannel("#ééé", maxLength: 6))  // 7 bytes
    }

    static let validUsers = ["a", "alice", "~alice", "user.name", "x_y-z", "[]{}|^`", "!#$%&'()*+,-./:;<=>?"]
    static let invalidUsers = ["", "a b", "a@b", "@", "né", "tab\t", "a\u{7F}", "a\u{0}", "abcdefghijk"]

    @Test(arguments: validUsers)
    func validUser(_ user: String) {
        #expect(IRCNames.isValidUser(user, maxLength: 20))
    }

    @Test(arguments: invalidUsers)
    func invalidUser(_ user: String) {
        #expect(!IRCNames.isValidUser(user, maxLength: 10))
    }
}
