import Testing
import IRCProtocol
import TestSupport

/// Random input for the parser: lines built from the bytes and words that matter
/// to it (separators, escapes, multi-byte and broken UTF-8, NUL, CR, LF), at
/// lengths around the limits. Bounded and deterministic: same seeds, same lines.
@Suite("Parser fuzzing")
struct ParserFuzzTests {
    /// Fragments the parser accepts anywhere in valid UTF-8 text.
    static let validFragments: [[UInt8]] = [
        "@", "+", "/", "=", ";", "\\", "\\s", "\\:", "\\\\", "\\r", "\\n", "\\x", ":", " ", "   ", "!", "@",
        "PRIVMSG", "privmsg", "Notice", "001", "#chan", "nick!user@host", "+draft/reply", "vendor.example/key",
        "time", "msgid", "a", "Z", "0", "9", "-", ".", ",", "é", "€", "😀", "\u{1}", "\u{7F}",
    ].map { Array($0.utf8) }
    /// Fragments that make a line invalid: broken UTF-8, NUL, CR and LF.
    static let invalidFragments: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80],
        [0xE2, 0x82], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5], [0xFF], [0x00], [0x0D], [0x0A],
    ]

    static func randomLine(_ random: inout SeededGenerator) -> [UInt8] {
        var line: [UInt8] = []
        if Int.random(in: 0..<3, using: &random) == 0 { line.append(UInt8(ascii: "@")) }
        // Half the lines have no broken fragment, so both outcomes are exercised.
        let clean = Bool.random(using: &random)
        let pieces = Int.random(in: 0...40, using: &random)
        for _ in 0..<pieces {
            if !clean, Int.random(in: 0..<8, using: &random) == 0 {
                line += invalidFragments.randomElement(using: &random)!
            } else {
                line += validFragments.randomElement(using: &random)!
            }
        }
        // Now and then, long enough to reach the line or tag limits.
        switch Int.random(in: 0..<12, using: &random) {
        case 0: line += Array(repeating: UInt8(ascii: "x"), count: Int.random(in: 440...560, using: &random))
        case 1: line = Array("@k=".utf8) + Array(repeating: UInt8(ascii: "v"), count: Int.random(in: 4070...4110, using: &random))
            + Array(" PRIVMSG #c :hi".utf8)
        default: break
        }
        return line
    }

    /// What the parser accepts is valid UTF-8 with no NUL, CR or LF, within the limits; serialising it
    /// gives a line no longer than the input that parses back to the same message.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func randomLines(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var accepted = 0
        for _ in 0..<10_000 {
            let line = Self.randomLine(&random)
            let isValidUTF8 = String(validating: line, as: UTF8.self) != nil
            let message: IRCMessage
            do {
                message = try IRCMessage.parse(line)
            } catch .invalidUTF8 {
                #expect(!isValidUTF8, "rejected as invalid UTF-8: \(line)")
                continue
            } catch .empty {
                #expect(line.allSatisfy { $0 == UInt8(ascii: " ") }, "called empty: \(line)")
                continue
            } catch {
                continue
            }
            accepted += 1
            #expect(isValidUTF8, "accepted invalid UTF-8: \(line)")
            #expect(!line.contains(0) && !line.contains(0x0D) && !line.contains(0x0A), "accepted NUL, CR or LF: \(line)")
            #expect(!message.command.isEmpty)

            let wire = message.serialized()
            #expect(wire.utf8.count == message.serializedByteCount)
            #expect(wire.utf8.count <= line.count, "serialised longer than its input: \(line) -> \(wire)")
            #expect(!wire.utf8.contains(0) && !wire.utf8.contains(0x0D) && !wire.utf8.contains(0x0A))
            do {
                let reparsed = try IRCMessage.parse(wire)
                #expect(reparsed == message, "round trip changed \(line): \(wire)")
            } catch {
                Issue.record("\(String(decoding: line, as: UTF8.self).debugDescription) serialised as \(wire.debugDescription) does not parse: \(error)")
            }
        }
        // The generator must exercise both outcomes, or the test proves nothing.
        #expect(accepted > 2_000)
        #expect(accepted < 8_000)
    }

    // MARK: Messages built from valid parts

    static let textScalars: [Character] = [
        "a", "b", "z", "A", "Q", "0", "7", " ", " ", ":", ";", "=", "\\", "@", "!", "#", ",", "+", "/", "é", "€", "😀",
        "\u{1}", "\u{7F}", "\t",
    ]

    static func text(_ random: inout SeededGenerator, count: ClosedRange<Int>, allowSpace: Bool = true) -> String {
        var result = ""
        for _ in 0..<Int.random(in: count, using: &random) {
            let c = textScalars.randomElement(using: &random)!
            if !allowSpace && c == " " { continue }
            result.append(c)
        }
        return result
    }

    static func word(_ random: inout SeededGenerator, alphabet: String, count: ClosedRange<Int>) -> String {
        let letters = Array(alphabet)
        return String((0..<Int.random(in: count, using: &random)).map { _ in letters.randomElement(using: &random)! })
    }

    static func randomMessage(_ random: inout SeededGenerator) -> IRCMessage {
        var tags: [IRCTag] = []
        var keys: Set<String> = []
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            var key = word(&random, alphabet: "abcxyz019-", count: 1...8)
            if Bool.random(using: &random) { key = word(&random, alphabet: "example.org-", count: 1...6) + "/" + key }
            if Bool.random(using: &random) { key = "+" + key }
            guard keys.insert(key).inserted else { continue }
            // Any text but NUL (which cannot be escaped), with CR and LF that must be.
            var value = text(&random, count: 0...12)
            if Bool.random(using: &random) { value += ["\r", "\n", "\r\n", "\\s"].randomElement(using: &random)! }
            tags.append(IRCTag(key, value))
        }
        let source = Bool.random(using: &random)
            ? word(&random, alphabet: "nick", count: 1...6) + "!" + word(&random, alphabet: "user~", count: 1...5) + "@" + word(&random, alphabet: "host.:", count: 1...8)
            : nil
        let command = Bool.random(using: &random)
            ? word(&random, alphabet: "PRIVMSGNOTCE", count: 1...8)
            : word(&random, alphabet: "0123456789", count: 3...3)
        var params: [String] = []
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            var middle = text(&random, count: 1...8, allowSpace: false)
            while middle.hasPrefix(":") { middle.removeFirst() }
            if !middle.isEmpty { params.append(middle) }
        }
        if Bool.random(using: &random) { params.append(text(&random, count: 0...60)) }
        return IRCMessage(tags: tags, source: source, command: command, params: params)
    }

    @Test(arguments: [UInt64(11), 12])
    func builtMessagesRoundTrip(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<5_000 {
            let message = Self.randomMessage(&random)
            let wire = message.serialized()
            #expect(!wire.utf8.contains(0x0D) && !wire.utf8.contains(0x0A), "a line break escaped into \(wire)")
            var bytes: [UInt8] = []
            message.write(into: &bytes)
            #expect(bytes == Array((wire + "\r\n").utf8))
            let parsed = try IRCMessage.parse(wire)
            #expect(parsed == message, "\(message) became \(parsed) through \(wire)")
        }
    }
}
