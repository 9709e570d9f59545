import Testing
import IRCProtocol

@Suite("Text lines read and written without an IRCMessage")
struct TextLineTests {
    private func read(_ line: String) -> TextLine? {
        var copy = line
        return copy.withUTF8 { TextLine.read($0) }
    }

    @Test("the usual PRIVMSG and NOTICE lines are read as parse reads them",
          arguments: ["PRIVMSG #c :hello world", "NOTICE #c :x", "PRIVMSG alice :hi", "PRIVMSG #c ::)",
                      "PRIVMSG #c :a  b ", "PRIVMSG #ünï :🎉 ok", "PRIVMSG #c :" + String(repeating: "x", count: 490)])
    func readsAsParseDoes(_ line: String) throws {
        let textLine = try #require(read(line))
        let message = try IRCMessage.parse(line)
        let bytes = Array(line.utf8)
        #expect(textLine.command.name == message.command)
        #expect([String(decoding: bytes[textLine.target], as: UTF8.self), String(decoding: bytes[textLine.text], as: UTF8.self)]
                == message.params)
    }

    @Test("every other line is left to parse",
          arguments: [
            "privmsg #c :lower case", "PRIVMSG #c hello", "PRIVMSG #c :", "PRIVMSG #c", "PRIVMSG  #c :two spaces",
            " PRIVMSG #c :leading space", "PRIVMSG #a,#b :two targets", "PRIVMSG :#c :colon target",
            "@+typing=active PRIVMSG #c :tags", ":nick PRIVMSG #c :source", "TAGMSG #c", "PRIVMSGS #c :x",
            "PRIVMSG #c  :two spaces before the text", "PRIVMSG #c :" + String(repeating: "x", count: 499),
          ])
    func leavesTheRest(_ line: String) {
        #expect(read(line) == nil)
    }

    @Test("a line parse would refuse is not read either")
    func refusedLines() {
        for bytes: [UInt8] in [Array("PRIVMSG #c :bad ".utf8) + [0xC3, 0x28], Array("PRIVMSG #c :nul ".utf8) + [0]] {
            #expect(bytes.withUnsafeBufferPointer { TextLine.read($0) } == nil)
        }
    }

    @Test("a relayed line is byte for byte what IRCMessage writes for the same message")
    func writesAsIRCMessageDoes() {
        let tagSets = [
            RelayTags(time: "2026-11-23T04:00:00.123Z", msgid: "abc-1", account: "alice", bot: true),
            RelayTags(time: "2026-11-23T04:00:00.123Z", msgid: nil, account: nil, bot: false),
            RelayTags(time: nil, msgid: "abc-2", account: "odd;acc ount\\", bot: false),
            RelayTags(time: nil, msgid: nil, account: "", bot: true),
            RelayTags(time: nil, msgid: nil, account: nil, bot: false),
        ]
        let texts = ["hello world", "word", ":)", "a:b", "🎉 ok", " leading space"]
        for tags in tagSets {
            for command in [TextLine.Command.privmsg, .notice] {
                for text in texts {
                    let message = IRCMessage(tags: tags.list, source: "nick!user@host", command: command.name, params: ["#chan", text])
                    var expected = [UInt8](repeating: 0, count: message.lineByteCount)
                    let expectedCount = expected.withUnsafeMutableBytes { message.writeLine(to: $0) }
                    var utf8 = Array(text.utf8)
                    let written: [UInt8] = utf8.withUnsafeMutableBufferPointer { buffer in
                        let textBytes = UnsafeBufferPointer(buffer)
                        let room = TextLine.maximumByteCount(tags: tags, source: "nick!user@host", command: command, target: "#chan",
                                                             text: textBytes)
                        var out = [UInt8](repeating: 0, count: room)
                        let used = out.withUnsafeMutableBytes {
                            TextLine.write(tags: tags, source: "nick!user@host", command: command, target: "#chan", text: textBytes, to: $0)
                        }
                        #expect(used <= room)
                        return Array(out.prefix(used))
                    }
                    #expect(written == Array(expected.prefix(expectedCount)), "\(String(decoding: written, as: UTF8.self))")
                }
            }
        }
    }

    @Test("the line limit is the one IRCMessage splits at")
    func lineLimit() {
        for length in [440, 460, 463, 464, 465, 470, 480] {
            for text in [String(repeating: "x", count: length), "a " + String(repeating: "x", count: length - 2)] {
                let message = IRCMessage(tags: [IRCTag("time", "t")], source: "nick!user@some.host.example", command: "PRIVMSG",
                                         params: ["#channel", text])
                var utf8 = Array(text.utf8)
                let exceeds = utf8.withUnsafeMutableBufferPointer {
                    TextLine.exceedsLineLimit(source: "nick!user@some.host.example", command: .privmsg, target: "#channel",
                                              text: UnsafeBufferPointer($0))
                }
                #expect(exceeds == message.exceedsLineLimit, "\(text.prefix(4)) \(length)")
            }
        }
    }
}
