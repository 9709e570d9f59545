import Testing
import IRCProtocol

@Suite("Length limits")
struct LimitTests {
    /// A PRIVMSG line of exactly `length` bytes.
    static func line(length: Int) -> String {
        let head = "PRIVMSG #c :"
        return head + String(repeating: "x", count: length - head.utf8.count)
    }

    /// A tag section (without '@' and space) of exactly `length` bytes.
    static func tagSection(length: Int) -> String {
        "k=" + String(repeating: "v", count: length - 2)
    }

    @Test func limitsHaveTheDocumentedValues() {
        #expect(IRCLimits.maxLineBytes == 512)
        #expect(IRCLimits.maxClientTagBytes == 4094)
        #expect(IRCLimits.maxTagBytes == 8191)
    }

    @Test func exactly510BytesIsAccepted() throws {
        let text = Self.line(length: 510)
        #expect(text.utf8.count == 510)
        let message = try IRCMessage.parse(text)
        #expect(message.params[1].utf8.count == 510 - 12)
    }

    @Test func lineOf511BytesIsTooLong() {
        #expect(throws: IRCParseError.lineTooLong) { try IRCMessage.parse(Self.line(length: 511)) }
        #expect(throws: IRCParseError.lineTooLong) { try IRCMessage.parse(Self.line(length: 5000)) }
    }

    @Test func multiByteCharactersCountAsBytes() throws {
        let head = "PRIVMSG #c :"
        let fits = head + String(repeating: "é", count: 249)  // 12 + 498 = 510 bytes
        #expect(try IRCMessage.parse(fits).params[1].count == 249)
        let tooLong = head + String(repeating: "é", count: 250)  // 512 bytes
        #expect(throws: IRCParseError.lineTooLong) { try IRCMessage.parse(tooLong) }
    }

    @Test func tagsDoNotCountTowardsTheLineLimit() throws {
        let text = "@" + Self.tagSection(length: 4094) + " " + Self.line(length: 510)
        let message = try IRCMessage.parse(text)
        #expect(message.tags.count == 1)
        #expect(message.tags[0].value.utf8.count == 4092)
        #expect(message.params[1].utf8.count == 498)
        #expect(throws: IRCParseError.lineTooLong) {
            try IRCMessage.parse("@a=b " + Self.line(length: 511))
        }
    }

    @Test func spacesAfterTagsDoNotCount() throws {
        let text = "@a=b" + String(repeating: " ", count: 300) + Self.line(length: 510)
        #expect(try IRCMessage.parse(text).command == "PRIVMSG")
        // Leading spaces are skipped and not counted either.
        #expect(try IRCMessage.parse("   " + Self.line(length: 510)).command == "PRIVMSG")
    }

    @Test func tagSectionOf4094BytesIsAccepted() throws {
        let message = try IRCMessage.parse("@" + Self.tagSection(length: 4094) + " PING")
        #expect(message.tag("k")?.utf8.count == 4092)
    }

    @Test func tagSectionOf4095BytesIsTooLong() {
        #expect(throws: IRCParseError.tagsTooLong) {
            try IRCMessage.parse("@" + Self.tagSection(length: 4095) + " PING")
        }
        // Many small tags adding up.
        let many = (0..<1000).map { "t\($0)" }.joined(separator: ";")  // > 4094 bytes
        #expect(many.utf8.count > 4094)
        #expect(throws: IRCParseError.tagsTooLong) { try IRCMessage.parse("@" + many + " PING") }
    }

    @Test func hugeTagSectionWithoutSpaceIsTooLong() {
        #expect(throws: IRCParseError.tagsTooLong) {
            try IRCMessage.parse("@" + String(repeating: "a", count: 100_000))
        }
    }

    @Test func escapedTagBytesCountAsWireBytes() throws {
        // 2047 escapes = 4094 wire bytes minus "k=" -> use 2046 escapes plus "k=" and 2 extra chars.
        let value = String(repeating: #"\s"#, count: 2046) + "ab"
        let section = "k=" + value
        #expect(section.utf8.count == 4096)
        #expect(throws: IRCParseError.tagsTooLong) { try IRCMessage.parse("@" + section + " PING") }
        let fitting = "k=" + String(repeating: #"\s"#, count: 2046)
        #expect(fitting.utf8.count == 4094)
        #expect(try IRCMessage.parse("@" + fitting + " PING").tag("k") == String(repeating: " ", count: 2046))
    }

    @Test func lengthChecksComeBeforeUTF8Validation() {
        var tooLong = Array(Self.line(length: 511).utf8)
        tooLong[20] = 0xFF
        #expect(throws: IRCParseError.lineTooLong) { try IRCMessage.parse(tooLong) }
        var tags = Array(("@" + Self.tagSection(length: 4095) + " PING").utf8)
        tags[10] = 0x80
        #expect(throws: IRCParseError.tagsTooLong) { try IRCMessage.parse(tags) }
    }
}

@Suite("UTF-8")
struct UTF8Tests {
    struct BadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        var testDescription: String { name }
    }

    static let prefix = Array("PRIVMSG #c :ab".utf8)

    static let invalid: [BadCase] = [
        BadCase(name: "lone continuation 0x80", bytes: [0x80]),
        BadCase(name: "lone continuation 0xBF", bytes: [0xBF]),
        BadCase(name: "continuation after ASCII", bytes: [0x41, 0x80, 0x41]),
        BadCase(name: "truncated 2-byte at end", bytes: [0xC3]),
        BadCase(name: "truncated 2-byte before ASCII", bytes: [0xC3, 0x41]),
        BadCase(name: "truncated 3-byte at end", bytes: [0xE2, 0x82]),
        BadCase(name: "truncated 3-byte before space", bytes: [0xE2, 0x82, 0x20, 0x41]),
        BadCase(name: "truncated 4-byte at end", bytes: [0xF0, 0x9F, 0x98]),
        BadCase(name: "overlong '/' C0 AF", bytes: [0xC0, 0xAF]),
        BadCase(name: "overlong C1 BF", bytes: [0xC1, 0xBF]),
        BadCase(name: "overlong 3-byte E0 80 AF", bytes: [0xE0, 0x80, 0xAF]),
        BadCase(name: "overlong 3-byte E0 9F BF", bytes: [0xE0, 0x9F, 0xBF]),
        BadCase(name: "overlong 4-byte F0 80 80 AF", bytes: [0xF0, 0x80, 0x80, 0xAF]),
        BadCase(name: "overlong 4-byte F0 8F BF BF", bytes: [0xF0, 0x8F, 0xBF, 0xBF]),
        BadCase(name: "surrogate ED A0 80", bytes: [0xED, 0xA0, 0x80]),
        BadCase(name: "surrogate ED BF BF", bytes: [0xED, 0xBF, 0xBF]),
        BadCase(name: "above U+10FFFF F4 90 80 80", bytes: [0xF4, 0x90, 0x80, 0x80]),
        BadCase(name: "lead F5", bytes: [0xF5, 0x80, 0x80, 0x80]),
        BadCase(name: "byte FE", bytes: [0xFE]),
        BadCase(name: "byte FF", bytes: [0xFF]),
        BadCase(name: "bad second byte in 3-byte", bytes: [0xE2, 0x28, 0xA1]),
        BadCase(name: "bad third byte in 4-byte", bytes: [0xF0, 0x9F, 0x28, 0x80]),
        BadCase(name: "Latin-1 text", bytes: Array("caf".utf8) + [0xE9]),
    ]

    @Test(arguments: invalid)
    func invalidInTrailing(_ c: BadCase) {
        #expect(throws: IRCParseError.invalidUTF8) { try IRCMessage.parse(Self.prefix + c.bytes) }
        #expect(throws: IRCParseError.invalidUTF8) { try IRCMessage.parse(Self.prefix + c.bytes + Array(" more text here".utf8)) }
    }

    @Test func invalidAnywhereInTheLine() {
        let pieces: [[UInt8]] = [
            Array("@k=".utf8) + [0xC3] + Array(" PING".utf8),         // tag value
            Array(":n".utf8) + [0xFF] + Array("!u@h PING".utf8),      // source
            Array("PI".utf8) + [0x80] + Array("NG".utf8),             // command
            Array("PRIVMSG #c".utf8) + [0xED, 0xA0, 0x80] + Array(" :x".utf8), // middle param
            Array("PRIVMSG #c :".utf8) + [0xC0, 0x80],                // overlong NUL
        ]
        for bytes in pieces {
            #expect(throws: IRCParseError.invalidUTF8) { try IRCMessage.parse(bytes) }
        }
    }

    @Test func validMultiByteSequences() throws {
        let samples = [
            "\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFD}", "\u{FFFF}",
            "\u{10000}", "\u{10FFFF}", "é", "ß", "€", "日本語", "🎉", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷",
        ]
        for sample in samples {
            let message = try IRCMessage.parse("PRIVMSG #\(sample) :\(sample) and \(sample)")
            #expect(message.params == ["#\(sample)", "\(sample) and \(sample)"])
            let tagged = try IRCMessage.parse("@+draft/react=\(sample) TAGMSG #c")
            #expect(tagged.tag("+draft/react") == sample)
        }
    }

    @Test func forbiddenControlCharactersAtEveryOffset() {
        // Exercises both the 8-byte fast path and the byte-by-byte path.
        for control: UInt8 in [0x00, 0x0A, 0x0D] {
            for offset in 12..<40 {
                var bytes = Array(("PRIVMSG #c :" + String(repeating: "a", count: 40)).utf8)
                bytes[offset] = control
                do {
                    _ = try IRCMessage.parse(bytes)
                    Issue.record("accepted control byte \(control) at \(offset)")
                } catch {
                    guard case .malformed = error else {
                        Issue.record("wrong error \(error)")
                        continue
                    }
                }
            }
        }
    }

    @Test func invalidByteAtEveryOffset() {
        for offset in 12..<40 {
            var bytes = Array(("PRIVMSG #c :" + String(repeating: "a", count: 40)).utf8)
            bytes[offset] = 0x80
            #expect(throws: IRCParseError.invalidUTF8) { try IRCMessage.parse(bytes) }
        }
    }

    @Test func otherControlCharactersAreAllowed() throws {
        // Formatting codes (bold, colour, ...) and tabs are ordinary text.
        let text = "\u{02}bold\u{02} \u{03}4red\u{0F} \u{01}ACTION waves\u{01}\tTab"
        #expect(try IRCMessage.parse("PRIVMSG #c :" + text).params[1] == text)
    }
}
