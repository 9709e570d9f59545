import Foundation
import IRCProtocol
import SwitchboardApp
import Testing

/// An operator joined to a live chat channel, and a visitor whose conversation they got.
private func assignedConversation(_ server: TestServer, operator nick: String = "alice", caps: [String] = [],
                                  channel: String = "#website") async throws -> (TestIRCClient, TestVisitor) {
    let op = try await server.client(nick, caps: caps)
    try await op.send("JOIN \(channel)")
    try await op.expect("366")
    let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna", languages: "en")
    try await op.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
    return (op, visitor)
}

private func texts(_ visitor: TestVisitor) async throws -> [String] {
    try await visitor.messages().messages.compactMap { $0["text"] as? String }
}

@Suite("Operator tools")
struct OperatorToolsTests {
    @Test("canned responses: added, listed, expanded alone and inside a sentence; unknown ones are not sent")
    func canned() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server, caps: ["echo-message", "standard-replies"])
            #expect(try await alice.askLiveChat("CANNED ADD hello Hello! How can I help you today?") == "Added ::hello: Hello! How can I help you today?")
            let note = try await alice.expect("NOTE")
            #expect(note.params[0...2] == ["LIVECHAT", "CANNED_ADDED", "hello"])
            _ = try await alice.askLiveChat("CANNED ADD thanks Thank you for waiting.")
            try await alice.send("PRIVMSG LiveChat :CANNED LIST")
            let list = try await alice.liveChatLines()
            #expect(list.contains("::hello — Hello! How can I help you today?"))
            #expect(list.contains("::thanks — Thank you for waiting."))

            try await alice.send("PRIVMSG \(visitor.channel) :::hello")
            let echoed = try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(echoed.params[1] == "Hello! How can I help you today?")
            _ = try await visitor.waitForMessage("Hello! How can I help you today?")

            try await alice.send("PRIVMSG \(visitor.channel) :Sure. ::thanks I will check.")
            let sentence = try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(sentence.params[1] == "Sure. Thank you for waiting. I will check.")

            // Next to punctuation and other shortcuts too; operators keep the formatting codes, the
            // visitor gets none; actions expand.
            _ = try await alice.askLiveChat("CANNED ADD promo \u{2}-20%\u{2} with code \u{3}04SPRING\u{3}")
            for (sent, echoed, expected) in [
                ("(::thanks)", "(Thank you for waiting.)", "(Thank you for waiting.)"),
                ("::promo,::thanks", "\u{2}-20%\u{2} with code \u{3}04SPRING\u{3},Thank you for waiting.", "-20% with code SPRING,Thank you for waiting."),
                ("std::vector and [::1] stay", "std::vector and [::1] stay", "std::vector and [::1] stay"),
            ] {
                try await alice.send("PRIVMSG \(visitor.channel) :\(sent)")
                let echo = try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
                #expect(echo.params[1] == echoed, "\(echo.params[1].debugDescription)")
                _ = try await visitor.waitForMessage(expected)
            }
            try await alice.send("PRIVMSG \(visitor.channel) :\u{1}ACTION says ::thanks\u{1}")
            let action = try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(action.params[1] == "\u{1}ACTION says Thank you for waiting.\u{1}")
            #expect(try await texts(visitor).contains { $0.hasSuffix(" says Thank you for waiting.*") })

            try await alice.send("PRIVMSG \(visitor.channel) :::nope")
            let told = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(told.params[1].contains("Unknown canned response ::nope"))
            let fail = try await alice.expect("FAIL")
            #expect(fail.params[0...1] == ["LIVECHAT", "UNKNOWN_CANNED"])
            #expect(try await !texts(visitor).contains { $0.contains("nope") })

            #expect(try await alice.askLiveChat("CANNED DEL hello") == "Deleted ::hello.")
            let stored = try server.server.database.cannedResponses.all().map(\.shortcut)
            #expect(stored == ["promo", "thanks"])
        }
    }

    @Test("without echo-message the operator is told what the expansion sent")
    func cannedWithoutEcho() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server)
            _ = try await alice.askLiveChat("CANNED ADD hi Hi there!")
            try await alice.send("PRIVMSG \(visitor.channel) :::hi")
            let notice = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(notice.params[1] == "Sent to the visitor: Hi there!")
            _ = try await visitor.waitForMessage("Hi there!")
        }
    }

    @Test("LIST shows open and waiting conversations; TRANSFER to an operator; !leave")
    func listAndTransfer() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server)
            _ = try await visitor.say("I need help with my order")
            try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            let bob = try await server.client("bob")
            try await bob.send("JOIN #website")
            try await bob.expect("366")
            try await bob.send("PRIVMSG LiveChat :LIST")
            let list = try await bob.liveChatLines()
            #expect(list.contains { $0.hasPrefix("\(visitor.channel) Anna (en) — with alice") && $0.contains("I need help with my order") })

            try await alice.send("PRIVMSG LiveChat :TRANSFER \(visitor.channel) bob")
            try await bob.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            let replay = try await bob.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(replay.params[1].hasSuffix("I need help with my order"))
            // bob learns who handed it over.
            let handover = try await bob.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(handover.params[1] == "alice transferred this conversation to bob.")
            let part = try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            #expect(part.params[1] == "Transferred to bob")
            try await bob.send("PRIVMSG \(visitor.channel) :Bob here, I'll take it from now")
            let answer = try await visitor.waitForMessage("Bob here, I'll take it from now")
            #expect((answer["author"] as? [String: Any])?["name"] as? String == "Bob")
            try await bob.send("PRIVMSG \(visitor.channel) :!leave")
            try await bob.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            #expect(try await visitor.say("hello?").status == 409)
        }
    }

    @Test("TRANSFER to a colleague already in the conversation: the visitor hears only that the first operator left")
    func transferToInvitedColleague() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server)
            let bob = try await server.client("bob")
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            try await alice.send("INVITE bob \(visitor.channel)")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            let joined = try await socket.next { $0["type"] as? String == "operator_joined" }
            #expect((joined["author"] as? [String: Any])?["name"] as? String == "Bob")
            try await alice.send("PRIVMSG LiveChat :TRANSFER \(visitor.channel) bob")
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            let next = try await socket.next { ["operator_joined", "operator_left"].contains($0["type"] as? String ?? "") }
            #expect(next["type"] as? String == "operator_left", "\(next)")
            #expect((next["author"] as? [String: Any])?["name"] as? String == "Alice")
            await socket.close()
        }
    }

    @Test("TRANSFER to a live chat channel: the rule picks an operator there")
    func transferToChannel() async throws {
        try await withServer(configure: {
            $0.channels.append(.init(name: "Support", irc: "#support", slug: "support", welcome: "Support here.",
                                     button: "Support", bot: nil, botWhen: .always))
        }) { server in
            let (alice, visitor) = try await assignedConversation(server)
            let carol = try await server.client("carol")
            try await carol.send("JOIN #support")
            try await carol.expect("366")
            try await alice.send("PRIVMSG \(visitor.channel) :!transfer #support")
            try await carol.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            try await carol.send("PRIVMSG LiveChat :INFO \(visitor.id)")
            let info = try await carol.liveChatLines()
            #expect(info.contains { $0.contains("transferred by alice to #support") })
            // Nobody available in a channel: the conversation stays.
            try await alice.send("PART #website")
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == "#website" }
            try await carol.send("PRIVMSG \(visitor.channel) :!transfer #website")
            #expect(try await carol.liveChatLines().contains { $0.contains("Nobody is available in #website") })
        }
    }

    @Test("!help, !history, !info, !take and !close inside the conversation; none reaches the visitor")
    func bangCommands() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server)
            _ = try await visitor.visit("https://shop.example/faq", title: "FAQ")
            try await alice.send("PRIVMSG \(visitor.channel) :!help")
            #expect(try await alice.liveChatLines().contains { $0.contains("!history, !info, !transfer") })
            try await alice.send("PRIVMSG \(visitor.channel) :!history")
            #expect(try await alice.liveChatLines().contains { $0.hasSuffix("https://shop.example/faq — FAQ") })
            try await alice.send("PRIVMSG \(visitor.channel) :!take")
            #expect(try await alice.liveChatLines().contains("\(visitor.channel) is already yours; you are in it."))
            try await alice.send("PRIVMSG \(visitor.channel) :!close Solved, thanks")
            let part = try await alice.expect("PART") { $0.command == "PART" && $0.source?.hasPrefix("alice!") == true }
            #expect(part.params == [visitor.channel, "Conversation ended: Solved, thanks"])
            let stored = try await texts(visitor)
            #expect(!stored.contains { $0.hasPrefix("!") })
            #expect(try await visitor.say("wait").status == 409)
        }
    }

    @Test("reconnect replay: [HH:MM] prefix without server-time; time tags in a batch with it; only what was missed")
    func reconnectReplay() async throws {
        try await withServer { server in
            let (alice, visitor) = try await assignedConversation(server)
            _ = try await visitor.say("seen live")
            try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "seen live" }
            await alice.close()
            try await Task.sleep(for: .milliseconds(200))
            _ = try await visitor.say("missed one")
            _ = try await visitor.say("missed two")

            let plain = try await server.client("alice")
            try await plain.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            var replayed: [String] = []
            while let message = try await plain.expectNothing(for: .milliseconds(500), where: { $0.command == "PRIVMSG" }) {
                replayed.append(message.params[1])
            }
            #expect(replayed.count == 2)
            #expect(replayed.allSatisfy { $0.range(of: #"^\[\d\d:\d\d\] missed (one|two)$"#, options: .regularExpression) != nil })

            // A second connection of the same account gets the whole conversation, with tags and a batch.
            let modern = try await server.client("alice2", login: "alice", caps: ["server-time", "batch", "message-tags"])
            try await modern.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            let batch = try await modern.expect("BATCH")
            #expect(batch.params.count == 3 && batch.params[1] == "chathistory" && batch.params[2] == visitor.channel)
            let first = try await modern.expect("PRIVMSG")
            #expect(first.params[1] == "seen live")
            #expect(first.tag("time") != nil && first.tag("msgid") != nil)
            #expect(first.tag("batch") == String(batch.params[0].dropFirst()))
        }
    }
}
