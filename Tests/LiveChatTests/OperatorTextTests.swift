import LiveChat
import Testing

@Suite("What visitors read of an operator's IRC text")
struct OperatorTextTests {
    @Test("mIRC formatting codes are removed, colours with their numbers", arguments: [
        ("\u{2}bold\u{2}", "bold"),
        ("\u{3}04red\u{3} text", "red text"),
        ("\u{3}4,12on blue\u{3}", "on blue"),
        ("\u{3}04,text", ",text"),
        ("\u{3}123", "3"),
        ("\u{3},5 comma kept", ",5 comma kept"),
        ("\u{4}FF0000red\u{4} plain", "red plain"),
        ("\u{4}face", "face"),
        ("\u{1D}it\u{1D} \u{1F}under\u{1F} \u{1E}strike\u{1E} \u{11}mono\u{11} \u{16}rev\u{16}\u{F}", "it under strike mono rev"),
        ("plain café ☕", "plain café ☕"),
    ])
    func plain(text: String, expected: String) {
        #expect(OperatorText.plain(text) == expected)
    }

    @Test("/me is an action; other CTCP requests are recognised; text is text")
    func classify() {
        #expect(OperatorText.classify("\u{1}ACTION waves\u{1}") == .action("waves"))
        #expect(OperatorText.classify("\u{1}ACTION \u{2}waves\u{2} hello") == .action("waves hello"))
        #expect(OperatorText.classify("\u{1}VERSION\u{1}") == .ctcp("VERSION"))
        #expect(OperatorText.classify("\u{1}ping 123\u{1}") == .ctcp("PING"))
        #expect(OperatorText.classify("::hello\u{2}") == .text("::hello"))
        #expect(OperatorText.describe(action: "waves", by: "Bob") == "*Bob waves*")
        // And back, for IRC history; text that is not one gives nil.
        #expect(OperatorText.action(in: "*Bob Jones waves at *you**", by: "Bob Jones") == "waves at *you*")
        #expect(OperatorText.action(in: "*Bob waves*", by: "Alice") == nil)
        #expect(OperatorText.action(in: "*Bob *", by: "Bob") == "")
        #expect(OperatorText.action(in: "Bob waves", by: "Bob") == nil)
    }
}
