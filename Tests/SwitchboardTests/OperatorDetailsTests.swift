import Foundation
import IRCProtocol
import Testing

/// What operators and bots read in LiveChat's answers, WHOIS and refusals: one
/// line per item, the reason a conversation waits, the kind of who left.
@Suite("What operators and bots are told")
struct OperatorDetailsTests {
    @Test("LIST shows a last message with line breaks on one line; INFO says why a conversation waits and that nothing was written yet")
    func listAndInfo() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let waiting = try await TestVisitor.start(web, name: "Anna")
            let alice = try await server.client("alice")
            try await alice.send("PRIVMSG LiveChat :INFO \(waiting.id)")
            let info = try await alice.liveChatLines()
            #expect(info.contains { $0.hasPrefix("Waiting because: ") && $0.contains("no operator") }, "\(info)")
            #expect(info.last == "Messages: none yet.", "\(info)")

            #expect(try await waiting.say("first line\nsecond line").status == 201)
            try await alice.send("PRIVMSG LiveChat :LIST")
            let list = try await alice.liveChatLines(until: { $0.hasPrefix("End of the list") })
            #expect(list.contains { $0.hasSuffix("Anna: first line second line") }, "\(list)")
            #expect(!list.contains("second line"), "\(list)")
        }
    }

    @Test("with echo-message, a !command comes back to the connection that typed it, and to nobody else")
    func commandEcho() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice", caps: ["echo-message"])
            let visitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
            let bob = try await server.client("bob")
            try await alice.send("INVITE bob \(visitor.channel)")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await alice.send("PRIVMSG \(visitor.channel) :!status")
            let echo = try await alice.expect("the echo") { $0.command == "PRIVMSG" && $0.params.first == visitor.channel }
            #expect(echo.params[1] == "!status" && echo.source?.hasPrefix("alice!") == true)
            #expect(try await bob.expectNothing(for: .milliseconds(500)) { $0.command == "PRIVMSG" && $0.params.first == visitor.channel } == nil)
            // A ! with no command is answered, not dropped.
            try await alice.send("PRIVMSG \(visitor.channel) :!")
            // Read up to that answer: !status's answers come before it, and under load a fixed quiet
            // window after them can end before it arrives.
            #expect(try await alice.liveChatLines(until: { $0.hasPrefix("No command after the !") })
                .contains { $0.hasPrefix("No command after the !") })
            // A !command gets what was typed, as LiveChat does: a stray control is refused, not dropped,
            // and quoted written out, as is a text-direction control.
            try await alice.send("PRIVMSG \(visitor.channel) :!canned add zb ding\u{7}dong")
            #expect(try await alice.liveChatLines().contains { $0.contains("U+0007") }, "a control in a !canned add")
            try await alice.send("PRIVMSG \(visitor.channel) :!fo\u{7}o\u{202E}x")
            let unknown = try await alice.liveChatLines()
            #expect(unknown.contains { $0.contains("!fo\\u{7}o\\u{202E}x") }, "\(unknown)")
            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(!texts.contains { $0.contains("status") }, "\(texts)")
        }
    }

    @Test("conversations do not count toward CHANLIMIT: an operator with one still joins 100 channels of their own")
    func conversationsBesideTheChannelLimit() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            _ = try await assignedVisitor(to: alice, on: server, name: "Anna")
            // #website and 99 more: 100 channels of her own, 101 with the conversation.
            for first in stride(from: 1, through: 99, by: 11) {
                let names = (first..<first + 11).map { "#room\($0)" }
                try await alice.send("JOIN \(names.joined(separator: ","))")
                let last = try await alice.expect("the join of \(names.last!)") {
                    ($0.command == "366" && $0.params[1] == names.last!) || $0.command == "405"
                }
                #expect(last.command == "366", "\(last)")
            }
            try await alice.send("JOIN #room100")
            #expect(try await alice.expect("405") { $0.command == "405" || ($0.command == "366" && $0.params[1] == "#room100") }.command == "405")
        }
    }

    @Test("a canned response reaches the other operators with its formatting and the operator's; the visitor gets plain text")
    func cannedFormattingForOperators() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            let visitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
            let bob = try await server.client("bob")
            try await alice.send("INVITE bob \(visitor.channel)")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            _ = try await alice.askLiveChat("CANNED ADD fmt \u{2}Bold\u{2} and \u{3}04red\u{3}")
            try await alice.send("PRIVMSG \(visitor.channel) :\u{1D}::fmt\u{1D} here")
            let relayed = try await bob.expect("alice's message") { $0.command == "PRIVMSG" && $0.params.first == visitor.channel }
            #expect(relayed.params[1] == "\u{1D}\u{2}Bold\u{2} and \u{3}04red\u{3}\u{1D} here", "\(relayed.params[1].debugDescription)")
            _ = try await visitor.waitForMessage("Bold and red here")
        }
    }

    @Test("LiveChat takes its command in bold, and answers an empty one")
    func commandWords() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["standard-replies"])
            try await alice.send("PRIVMSG LiveChat :\u{2}STATUS\u{2}")
            #expect(try await alice.expect("NOTE") { $0.command == "NOTE" || $0.command == "FAIL" }.params[1] == "NOT_JOINED")
            try await alice.send("PRIVMSG LiveChat :   ")
            let empty = try await alice.expect("FAIL") { $0.command == "FAIL" }
            #expect(empty.params[1] == "UNKNOWN_COMMAND" && empty.params.last?.contains("No command given") == true, "\(empty)")
        }
    }

    @Test("CANNED ADD refuses control characters other than formatting codes; errors show control characters escaped")
    func cannedAndNameControls() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["standard-replies"])
            try await alice.send("PRIVMSG LiveChat :CANNED ADD ring a\u{7}b")
            let refused = try await alice.expect("FAIL") { $0.command == "FAIL" }
            #expect(refused.params[1] == "INVALID_CANNED" && refused.params.last?.contains("U+0007") == true, "\(refused)")
            try await alice.send("PRIVMSG LiveChat :CANNED ADD bold \u{2}Hello\u{2} there")
            #expect(try await alice.expect("NOTE") { $0.command == "NOTE" || $0.command == "FAIL" }.params[1] == "CANNED_ADDED")
            try await alice.send("PRIVMSG LiveChat :NAME Al\u{7}ice")
            let name = try await alice.expect("FAIL") { $0.command == "FAIL" }
            #expect(name.params[1] == "INVALID_NAME", "\(name)")
            #expect(name.params.last?.contains("Al\\u{7}ice") == true && name.params.last?.contains("\u{7}") == false, "\(name)")
            // Every answer that quotes what was typed writes a bell out.
            try await alice.send("PRIVMSG LiveChat :LANG fr\u{7}")
            let lang = try await alice.expect("FAIL") { $0.command == "FAIL" }
            #expect(lang.params.last?.contains("fr\\u{7}") == true && lang.params.last?.contains("\u{7}") == false, "\(lang)")
        }
    }

    @Test("INVITE of LiveChat or of a website visitor is refused with CANNOT_INVITE; a visitor's nick shape is refused to operators")
    func inviteAndNicks() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            let visitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
            try await alice.send("JOIN #team")
            try await alice.expect("366")
            let nick = "Anna-\(visitor.id)"
            try await alice.send("INVITE \(nick) #team")
            let refusedVisitor = try await alice.expect("FAIL") { $0.command == "FAIL" || $0.command == "341" }
            #expect(refusedVisitor.params.prefix(3) == ["INVITE", "CANNOT_INVITE", nick], "\(refusedVisitor)")
            try await alice.send("INVITE LiveChat #team")
            let refusedService = try await alice.expect("FAIL") { $0.command == "FAIL" || $0.command == "341" || $0.command == "401" }
            #expect(refusedService.params.prefix(3) == ["INVITE", "CANNOT_INVITE", "LiveChat"], "\(refusedService)")

            let bob = try await server.client("bob")
            for taken in ["Visitor-999", "Anna-\(visitor.id + 1)"] {
                try await bob.send("NICK \(taken)")
                let answer = try await bob.expect("432") { $0.command == "432" || $0.command == "NICK" }
                #expect(answer.command == "432" && answer.params.last?.contains("website visitors") == true, "\(answer)")
            }
            // Dashes and numbers elsewhere are fine.
            try await bob.send("NICK bob-the-2nd")
            #expect(try await bob.expect("NICK") { $0.command == "NICK" || $0.command == "432" }.command == "NICK")

            // During registration the same nicks are 433, to which clients answer with another nick.
            let carol = try await server.connect()
            try await carol.send("PASS carol:\(TestServer.password)\r\nUSER carol 0 * :Carol\r\nNICK Visitor-998")
            let kept = try await carol.expect("433") { $0.command == "433" || $0.command == "432" || $0.command == "001" }
            #expect(kept.command == "433" && kept.params.prefix(2) == ["*", "Visitor-998"], "\(kept)")
            #expect(kept.params.last?.contains("website visitors") == true)
            try await carol.send("NICK LiveChat")
            let service = try await carol.expect("433") { $0.command == "433" || $0.command == "432" || $0.command == "001" }
            #expect(service.command == "433" && service.params.last == "Nickname is reserved for a service", "\(service)")
            try await carol.send("NICK Visitor-998_")
            #expect(try await carol.expect("001").params[0] == "Visitor-998_")
        }
    }

    @Test("WHOIS of a visitor gives the conversation's start as signon and idle since their last message, after a restart too")
    func visitorWhois() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await operatorInWebsite(server, "alice")
            let visitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
            let created = try #require(try server.server.database.conversations.conversation(id: Int64(visitor.id))?.createdAt)
            try await Task.sleep(for: .milliseconds(2200))
            // Taken before: the message's time is when it was received, and its answer may come
            // a while later on a loaded machine.
            let said = Date()
            #expect(try await visitor.say("still there").status == 201)
            try await Task.sleep(for: .milliseconds(1500))
            server = try await server.restarted()
            let bob = try await server.client("bob")
            try await bob.send("WHOIS Anna-\(visitor.id)")
            let idle = try await bob.expect("317")
            let sinceSaid = Date().timeIntervalSince(said)
            #expect(idle.params[3] == String(Int(created.timeIntervalSince1970)), "\(idle)")
            // Since the message: not since the start (2.2 s more), nor since the restart (0 s).
            let seconds = Double(idle.params[2]) ?? -1
            #expect(seconds >= 1 && seconds <= sinceSaid + 1, "idle \(seconds) s, \(sinceSaid) s after the message")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("a bot removed with its conversation open leaves as a bot; a bot's FORWARD of a conversation the visitor left ends it")
    func botsLeaving() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let bot = try await server.client("faqbot", caps: ["standard-replies"])
            let gone = try await TestVisitor.start(web, name: "Gaston")
            try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == gone.channel }
            #expect(try await gone.close().status == 200)
            try await bot.send("PRIVMSG LiveChat :FORWARD \(gone.channel)")
            let note = try await bot.expect("NOTE") { $0.command == "NOTE" || $0.command == "FAIL" }
            #expect(note.params.prefix(3) == ["LIVECHAT", "CLOSED", gone.channel], "\(note)")
            try await eventually("the conversation closed") {
                try server.server.database.conversations.conversation(id: Int64(gone.id))?.status == .closed
            }

            let visitor = try await TestVisitor.start(web, name: "Anna")
            try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == visitor.channel }
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            try server.server.database.operators.remove(login: "faqbot")
            let left = try await socket.next(timeout: .seconds(8)) { $0["type"] as? String == "operator_left" }
            #expect((left["author"] as? [String: Any])?["kind"] as? String == "bot", "\(left)")
            await socket.close()
        }
    }

    @Test("a connection parted for inactivity is told whether another of the account's, in the channel and not away, still gets conversations",
          arguments: [false, true])
    func inactivityOfOneDevice(laptopAway: Bool) async throws {
        // 4 s, not less: the laptop's activity comes from a task of the test process, which a
        // loaded machine running the whole suite can hold back for a second or two.
        try await withServer(configure: { $0.inactivityTimeout = 4 }) { server in
            // The laptop is busy before the phone comes: it is in #website when the phone is parted.
            let laptop = try await operatorInWebsite(server, "alice_", login: "alice")
            if laptopAway {
                try await laptop.send("AWAY :lunch")
                try await laptop.expect("306")
            }
            let keepBusy = Task {
                for _ in 0..<100 {
                    try await laptop.send("MODE alice_")
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            defer { keepBusy.cancel() }
            let phone = try await operatorInWebsite(server, "alice")
            let told = try await phone.expect("LiveChat's notice", timeout: .seconds(15)) {
                $0.command == "PRIVMSG" && $0.source?.hasPrefix("LiveChat!") == true && $0.params[1].hasPrefix("Inactive for 4 seconds")
            }
            let expected = laptopAway ? "you were removed from #website and get no new conversations"
                : "this connection was removed from #website; new conversations still come to your other connection"
            #expect(told.params[1].contains(expected), "\(told.params[1])")
            keepBusy.cancel()
        }
    }
}
