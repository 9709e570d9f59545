import Foundation
import IRCProtocol
import Testing

/// An operator connected over IRC and joined to #website.
func operatorInWebsite(_ server: TestServer, _ nick: String, login: String? = nil, caps: [String] = []) async throws -> TestIRCClient {
    let client = try await server.client(nick, login: login, caps: caps)
    try await client.send("JOIN #website")
    try await client.expect("366")
    return client
}

@Suite("Conversations between visitors and operators")
struct ConversationTests {
    @Test("a visitor's conversation is assigned; the operator gets one JOIN, topic, names; messages go both ways")
    func assignedAndRelayed() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice", caps: ["message-tags", "echo-message"])
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna", languages: "fr-CH, fr;q=0.9, en;q=0.5")
            #expect(visitor.status == "assigned")
            #expect(visitor.operatorName == "Alice")
            #expect(visitor.created.messages.first?["text"] as? String == "How may I help you?")
            #expect((visitor.created.json["languages"] as? [String])?.first == "fr-CH")

            let join = try await alice.expect("JOIN")
            #expect(join.params[0] == visitor.channel)
            let topic = try await alice.expect("332")
            #expect(topic.params[2].contains("Anna (fr-CH, fr, en)"))
            #expect(topic.params[2].contains("https://shop.example/pricing"))
            let names = try await alice.expect("353")
            #expect(Set(names.params.last!.split(separator: " ")) == ["alice", "Anna-\(visitor.id)"])
            try await alice.expect("366")
            let notice = try await alice.expect("NOTICE")
            #expect(notice.params == ["#website", "New conversation \(visitor.channel) from Anna (fr-CH, fr, en) assigned to alice"])

            let posted = try await visitor.say("Bonjour, j'ai une question")
            #expect(posted.status == 201)
            let messageID = try #require(posted.json["id"] as? Int)
            let relayed = try await alice.expect("PRIVMSG")
            #expect(relayed.source == "Anna-\(visitor.id)!visitor@visitor.switchboard.local")
            #expect(relayed.params == [visitor.channel, "Bonjour, j'ai une question"])
            #expect(relayed.tag("msgid") == String(messageID))

            try await alice.send("PRIVMSG \(visitor.channel) :Bonjour Anna, je vous écoute")
            let echo = try await alice.expect("PRIVMSG")
            let answer = try await visitor.waitForMessage("Bonjour Anna, je vous écoute")
            #expect(echo.tag("msgid") == String(answer["id"] as! Int))
            let author = answer["author"] as? [String: Any]
            #expect(author?["kind"] as? String == "operator")
            #expect(author?["name"] as? String == "Alice")

            // Only one JOIN for the conversation, ever.
            #expect(!alice.history.dropFirst().contains { $0.contains(" JOIN \(visitor.channel)") && $0 != alice.history.first { $0.contains(" JOIN \(visitor.channel)") } })
        }
    }

    @Test("a conversation's topic keeps to the advertised TOPICLEN, a long page address cut")
    func topicWithinTopicLength() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            let page = "https://shop.example/" + String(repeating: "é", count: 600)
            let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna", page: page)
            let topic = try await alice.expect("332").params[2]
            #expect(topic.hasPrefix("Anna (en) — https://shop.example/é"))
            #expect(topic.utf8.count <= 390, "\(topic.utf8.count) bytes")
            _ = visitor
        }
    }

    @Test("a long visitor message with line breaks reaches IRC whole, as lines that each fit 512 bytes")
    func longVisitorMessage() async throws {
        try await withServer { server in
            let (alice, visitor) = try await aliceWithAnna(server)
            try await alice.send("CAP REQ message-tags")
            try await alice.expect("CAP")
            let paragraph = (1...120).map { "mot\($0)" }.joined(separator: " ")
            let text = "Bonjour,\n\n" + paragraph + "\r\nMerci !"
            let posted = try await visitor.say(text)
            #expect(posted.status == 201)
            let messageID = try #require(posted.json["id"] as? Int)
            var lines: [IRCMessage] = []
            while lines.last?.params.last != "Merci !" {
                lines.append(try await alice.expect("PRIVMSG"))
            }
            #expect(lines.map { $0.params.last! }.first == "Bonjour,")
            #expect(lines.dropFirst().dropLast().map { $0.params.last! }.joined(separator: " ") == paragraph)
            #expect(lines.count == 4)
            #expect(lines.allSatisfy { $0.params[0] == visitor.channel && $0.source == lines[0].source })
            #expect(lines.map { $0.tag("msgid") } == (1...4).map { $0 == 1 ? "\(messageID)" : "\(messageID)-\($0)" })
            SocketFuzzTests.checkWire(alice.history, of: "alice")
            // Stored whole: the visitor's own view is unchanged.
            #expect(try await visitor.messages().messages.contains { $0["text"] as? String == text })
        }
    }

    @Test("WHOIS on the visitor shows name, languages, page and user agent; typing goes both ways; events reach the visitor")
    func visitorDetailsTypingAndEvents() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice", caps: ["message-tags"])
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna", languages: "fr, en;q=0.8")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await alice.send("WHOIS Anna-\(visitor.id)")
            let whois = try await alice.collect(until: "318")
            let special = whois.filter { $0.command == "320" }.map { $0.params[2] }
            #expect(special.contains { $0.contains("website visitor in \(visitor.channel)") && $0.contains("#website") })
            #expect(special.contains("languages: fr, en"))
            #expect(special.contains("page: https://shop.example/pricing"))
            #expect(special.contains("user agent: TestBrowser/1.0"))

            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            // Visitor typing -> +typing TAGMSG for operators with message-tags.
            try await socket.send(["type": "typing"])
            let typing = try await alice.expect("TAGMSG")
            #expect(typing.params == [visitor.channel])
            #expect(typing.tag("+typing") == "active")
            #expect(typing.source?.hasPrefix("Anna-\(visitor.id)!") == true)
            // Operator typing -> typing event for the visitor.
            try await alice.send("@+typing=active TAGMSG \(visitor.channel)")
            let event = try await socket.next { $0["type"] as? String == "typing" }
            #expect(event["active"] as? Bool == true)
            #expect((event["author"] as? [String: Any])?["name"] as? String == "Alice")
            // A colleague invited: the visitor sees operator_joined; the operator messages as events.
            _ = try await server.client("bob")
            try await alice.send("INVITE bob \(visitor.channel)")
            let joined = try await socket.next { $0["type"] as? String == "operator_joined" }
            #expect((joined["author"] as? [String: Any])?["name"] as? String == "Bob")
            try await alice.send("PRIVMSG \(visitor.channel) :live over the socket")
            let message = try await socket.next { $0["type"] as? String == "message" }
            #expect(message["text"] as? String == "live over the socket")
            try await alice.send("PART \(visitor.channel)")
            let left = try await socket.next { $0["type"] as? String == "operator_left" }
            #expect((left["author"] as? [String: Any])?["name"] as? String == "Alice")
        }
    }

    @Test("assignment by language: French to the French speaker, English speaker when no French speaker is available")
    func languages() async throws {
        try await withServer { server in
            try server.server.database.operators.setLanguages(login: "bob", ["fr", "en"])
            let alice = try await operatorInWebsite(server, "alice")
            let bob = try await operatorInWebsite(server, "bob")
            let web = WebTestClient(port: server.webPort)
            let french = try await TestVisitor.start(web, name: "Amélie", languages: "fr")
            #expect(french.operatorName == "Bob")
            try await bob.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == french.channel }

            try await bob.send("AWAY :busy")
            try await bob.expect("306")
            let second = try await TestVisitor.start(web, name: "Basile", languages: "fr")
            #expect(second.operatorName == "Alice")
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == second.channel }
        }
    }

    @Test("with nobody available the conversation waits, then goes to the operator who joins, with the visitor's messages")
    func waitingThenAssigned() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Zoë", languages: "en")
            #expect(visitor.status == "waiting")
            #expect(visitor.created.json["operator"] is NSNull)
            // Blank lines before the text: the replay's [HH:MM] goes on the line with the text.
            _ = try await visitor.say("\n \nIs anyone there?")

            let alice = try await server.client("alice")   // no server-time: a [HH:MM] prefix
            let bob = try await server.client("bob", caps: ["server-time", "batch"])
            try await bob.send("JOIN #team")
            try await bob.expect("366")
            try await alice.send("JOIN #website")
            let join = try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            #expect(join.source?.hasPrefix("alice!") == true)
            let replay = try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(replay.source?.hasPrefix("Zoe-\(visitor.id)!") == true)
            let text = replay.params[1]
            #expect(text.range(of: #"^\[\d\d:\d\d\] Is anyone there\?$"#, options: .regularExpression) != nil, "\(text)")

            // bob, with server-time and batch, is invited and gets the history in a batch with the original time.
            try await alice.send("INVITE bob \(visitor.channel)")
            try await alice.expect("341")
            try await bob.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            let start = try await bob.expect("BATCH")
            #expect(start.params.dropFirst().first == "chathistory")
            let batched = try await bob.expect("PRIVMSG")
            #expect(batched.params[1] == "Is anyone there?")
            #expect(batched.tag("time") != nil)
            #expect(batched.tag("batch") == String(start.params[0].dropFirst()))
        }
    }

    @Test("the registered-clients metric counts IRC connections, not visitors")
    func registeredMetric() async throws {
        try await withServer { server in
            _ = try await operatorInWebsite(server, "alice")
            let web = WebTestClient(port: server.webPort)
            _ = try await TestVisitor.start(web, name: "Anna")
            var value: String?
            for _ in 0..<40 {
                try await Task.sleep(for: .milliseconds(100))
                let text = String(decoding: try await web.request("GET", "/metrics").body, as: UTF8.self)
                value = text.split(separator: "\n").first { $0.hasPrefix("switchboard_irc_registered_clients ") }
                    .map { String($0.split(separator: " ")[1]) }
                if value != nil && Double(value!) != 0 { break }
            }
            #expect(value.flatMap(Double.init) == 1, "\(value ?? "none")")
        }
    }

    @Test("a conversation the visitor closed no longer counts toward max_sessions")
    func visitorClosedFreesASession() async throws {
        try await withServer(configure: { $0.maxSessions = 1 }) { server in
            let alice = try await operatorInWebsite(server, "alice")
            let web = WebTestClient(port: server.webPort)
            let first = try await TestVisitor.start(web, name: "Anna")
            #expect(first.status == "assigned")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == first.channel }
            #expect(try await first.close().status == 200)
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == first.channel }
            // alice has not parted #website-N yet, but nobody is waiting on her there.
            let second = try await TestVisitor.start(web, name: "Basile")
            #expect(second.status == "assigned" && second.operatorName == "Alice")
        }
    }

    @Test("the visitor closes: operators see them leave; the last operator parting ends it")
    func visitorCloses() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            #expect(try await visitor.close().status == 200)
            let part = try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            #expect(part.source?.hasPrefix("Anna-\(visitor.id)!") == true)
            let notice = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(notice.params[1].contains("Anna closed the conversation"))
            // Her rating reaches alice, still in the conversation.
            let rated = try await web.request("POST", "/api/v1/conversations/\(visitor.id)/rating",
                                              json: ["rating": 5, "comment": "Quick and kind"],
                                              headers: ["Authorization": "Bearer \(visitor.token)"])
            #expect(rated.status == 200)
            let rating = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(rating.params[1] == "Anna rated the conversation 5/5: Quick and kind")
            let refused = try await visitor.say("one more thing")
            #expect(refused.status == 409)
            #expect(refused.json["error"] as? String == "conversation_closed")
            try await alice.send("PRIVMSG \(visitor.channel) :are you there?")
            try await alice.expect("404")
            try await alice.send("PART \(visitor.channel)")
            try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == "#website" && $0.params[1].contains("ended") }
            var stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            for _ in 0..<40 where stored?.status != .closed {
                try await Task.sleep(for: .milliseconds(50))
                stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            }
            #expect(stored?.status == .closed)
        }
    }

    @Test("CLOSE by the operator ends it for the visitor, with the reason")
    func operatorCloses() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice")
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await alice.send("PRIVMSG LiveChat :CLOSE \(visitor.id) all sorted")
            let part = try await alice.expect("PART") { $0.command == "PART" && $0.source?.hasPrefix("alice!") == true }
            #expect(part.params == [visitor.channel, "Conversation ended: all sorted"])
            let refused = try await visitor.say("thanks")
            #expect(refused.status == 409)
            var stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            for _ in 0..<40 where stored?.closeReason == nil {
                try await Task.sleep(for: .milliseconds(50))
                stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            }
            #expect(stored?.closeReason == "all sorted")
        }
    }

    @Test("a returning visitor prefers the previous operator")
    func returningVisitor() async throws {
        try await withServer { server in
            let bob = try await operatorInWebsite(server, "bob")
            let web = WebTestClient(port: server.webPort)
            let first = try await TestVisitor.start(web, name: "Anna", visitor: "visitor-abc")
            #expect(first.operatorName == "Bob")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == first.channel }
            try await bob.send("PART \(first.channel)")
            _ = try await operatorInWebsite(server, "alice")
            // bob was assigned seconds ago and alice never: the rule alone would pick alice.
            let other = try await TestVisitor.start(web, name: "Someone")
            #expect(other.operatorName == "Alice")
            let again = try await TestVisitor.start(web, name: "Anna", visitor: "visitor-abc")
            #expect(again.operatorName == "Bob")
        }
    }

    @Test("HISTORY, INFO and !commands in the conversation never reach the visitor; TAKE takes a waiting one")
    func commands() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna", languages: "de")
            #expect(visitor.status == "waiting")
            #expect(try await visitor.visit("https://shop.example/cart", title: "Cart").status == 200)
            let alice = try await server.client("alice")
            try await alice.send("PRIVMSG LiveChat :TAKE \(visitor.channel)")
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            #expect(try await alice.liveChatLines().contains("You took \(visitor.channel) from Anna (de)."))
            try await alice.send("PRIVMSG LiveChat :HISTORY \(visitor.id)")
            let pages = try await alice.liveChatLines()
            #expect(pages.contains { $0.hasSuffix("https://shop.example/cart — Cart") })
            try await alice.send("PRIVMSG \(visitor.channel) :!info")
            let info = try await alice.liveChatLines()
            #expect(info.first?.contains("Anna, with alice") == true)
            #expect(info.contains { $0.contains("Languages: de") && $0.contains("TestBrowser/1.0") })
            #expect(info.contains { $0.contains("taken by alice") })
            let stored = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(!stored.contains("!info"))
            try await alice.send("PRIVMSG \(visitor.channel) :!bogus")
            #expect(try await alice.liveChatLines().contains { $0.contains("Unknown command !bogus") })
        }
    }

    @Test("open conversations survive a restart; the operator is rejoined on reconnect with only what was missed")
    func restart() async throws {
        try await withRestartableServer { server in
            let (alice, visitor) = try await aliceWithAnna(server)
            _ = try await visitor.say("before the restart")
            try await alice.expect("PRIVMSG")
            try await alice.send("MODE \(visitor.channel)")
            let created = try await alice.expect("329").params[2]
            try await Task.sleep(for: .milliseconds(1100))   // a restart in the same second would prove nothing
            await alice.close()
            server = try await server.restarted()
            let resumed = visitor.resumed(on: server)
            // Before alice is back, the visitor already sees her Online Chat Name, not her login.
            let state = try await resumed.web.request("GET", "/api/v1/conversations/\(visitor.id)",
                                                      headers: ["Authorization": "Bearer \(visitor.token)"])
            #expect((state.json["operator"] as? [String: Any])?["name"] as? String == "Alice", "\(state.json)")
            #expect(try await resumed.say("after the restart").status == 201)
            // Its channel is back too, invite-only as before, while its operator is away.
            let bob = try await server.client("bob")
            try await bob.send("JOIN \(visitor.channel)")
            #expect(try await bob.expect("473").params[1] == visitor.channel)
            let back = try await server.client("alice")
            try await back.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            // What alice had seen was stored when she disconnected: only the message after it comes again.
            let missed = try await back.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(missed.params[1].hasSuffix("after the restart"))
            let all = try await resumed.messages().messages.compactMap { $0["text"] as? String }
            #expect(all == ["How may I help you?", "before the restart", "after the restart"])
            // The channel was created with the conversation, not with the restart.
            try await back.send("MODE \(visitor.channel)")
            #expect(try await back.expect("329").params[2] == created)
        }
    }

    @Test("a replay of more than the last 200 messages says that the earlier ones are not shown, before and after a restart")
    func longReplaysSaySo() async throws {
        try await withRestartableServer { server in
            let (alice, visitor) = try await aliceWithAnna(server)
            await alice.close()
            try await Task.sleep(for: .milliseconds(100))
            for number in 1...205 { #expect(try await visitor.say("line \(number)").status == 201) }
            let back = try await server.client("alice")
            let notice = try await back.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(notice.params[1].hasPrefix("Only the last 200 messages"))
            var replayed: [String] = []
            while replayed.last?.hasSuffix("line 205") != true {
                replayed.append(try await back.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }.params[1])
            }
            #expect(replayed.count == 200 && replayed[0].hasSuffix("line 6"), "\(replayed.count) \(replayed.first ?? "")")

            server = try await server.restarted()
            await back.close()
            let again = try await server.client("alice")
            try await again.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            // A second device gets the whole conversation, as far as it is replayed, and is told so.
            let phone = try await server.client("alicephone", login: "alice")
            try await phone.send("JOIN \(visitor.channel)")
            let told = try await phone.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(told.params[1].hasPrefix("Only the last 200 messages"))
            #expect(try await again.expectNothing(for: .milliseconds(300)) { $0.command == "NOTICE" } == nil)
        }
    }

    @Test("an operator still connected when the server stops gets, after the restart, only what came later")
    func stopWhileConnected() async throws {
        try await withRestartableServer { server in
            let (alice, visitor) = try await aliceWithAnna(server)
            for text in ["first", "second"] {
                _ = try await visitor.say(text)
                try await alice.expect("PRIVMSG \(text)") { $0.command == "PRIVMSG" && $0.params.last?.hasSuffix(text) == true }
            }
            server = try await server.restarted()   // alice is connected when it stops
            await alice.close()
            #expect(try await visitor.resumed(on: server).say("third").status == 201)
            let back = try await server.client("alice")
            try await back.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            try await back.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await back.send("PING :replay-done")
            let lines = try await back.collect(until: "PONG")
            let replayed = lines.filter { $0.command == "PRIVMSG" && $0.params.first == visitor.channel }.map { $0.params[1] }
            #expect(replayed.count == 1 && replayed[0].hasSuffix("third"), "replayed: \(replayed)")
        }
    }
}

/// alice, joined to #website, with visitor Anna's new conversation assigned to her.
private func aliceWithAnna(_ server: TestServer) async throws -> (TestIRCClient, TestVisitor) {
    let alice = try await operatorInWebsite(server, "alice")
    let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna")
    try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
    return (alice, visitor)
}

/// Runs `body` with a server it may replace (`restarted()`); the last one is always stopped.
private func withRestartableServer(_ body: (inout TestServer) async throws -> Void) async throws {
    var server = try await TestServer.start()
    do {
        try await body(&server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

private extension TestVisitor {
    /// The same visitor (id and token) talking to another server, e.g. after a restart.
    func resumed(on server: TestServer) -> TestVisitor {
        TestVisitor(web: WebTestClient(port: server.webPort), id: id, token: token, created: created)
    }
}
