import Foundation
import IRCProtocol
import Storage
import GRDB
import Testing

/// Polls `condition` until it holds (the server writes on its thread pool).
func eventually(_ what: String, timeout: Duration = .seconds(8), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: what, seen: []) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// A visitor's new conversation, once `op` (joined to #website) is in it.
func assignedVisitor(to op: TestIRCClient, on server: TestServer, name: String) async throws -> TestVisitor {
    let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: name)
    try await op.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
    return visitor
}

@Suite("Operator accounts removed while their conversations are open")
struct RemovedAccountTests {
    @Test("a removed operator's conversation waits again, is re-assigned, and a new account with the login gets nothing")
    func removedOperatorLosesConversation() async throws {
        try await withServer(operators: ["alice", "dave"]) { server in
            let dave = try await operatorInWebsite(server, "dave")
            let visitor = try await assignedVisitor(to: dave, on: server, name: "Anna")
            try await dave.send("PRIVMSG \(visitor.channel) :Hello Anna")
            _ = try await visitor.waitForMessage("Hello Anna")
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            let alice = try await server.client("alice")

            try server.server.database.operators.remove(login: "dave")
            try await dave.expectClosed(timeout: .seconds(8))
            let left = try await socket.next(timeout: .seconds(8)) { $0["type"] as? String == "operator_left" }
            #expect((left["author"] as? [String: Any])?["name"] as? String == "Dave")
            let info = try await alice.askLiveChat("INFO \(visitor.id)")
            #expect(info.contains("waiting for an operator"), "\(info)")
            let lines = try await alice.liveChatLines()
            #expect(lines.contains { $0.hasPrefix("Last assigned (before it waited again) at ") }, "\(lines)")
            #expect(!lines.contains { $0.hasPrefix("Assigned at ") }, "\(lines)")
            let stored = try #require(try server.server.database.conversations.conversation(id: Int64(visitor.id)))
            #expect(stored.status == .waiting)
            #expect(stored.operators.isEmpty)

            // The normal rule gives it to the next available operator.
            try await alice.send("JOIN #website")
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            try await eventually("the assignment to alice") {
                try server.server.database.conversations.conversation(id: Int64(visitor.id))?.operators == ["alice"]
            }

            // Someone else created later with the same login inherits nothing.
            _ = try server.server.database.operators.add(
                login: "dave", displayName: "Dave Other", chatName: nil, languages: ["en"],
                isBot: false, isAdmin: false, password: TestServer.password, bcryptCost: 4)
            let other = try await server.client("dave")
            #expect(try await other.expectNothing(for: .milliseconds(800)) { $0.command == "JOIN" } == nil)
        }
    }

    @Test("the visitor is told a removed operator left by the Online Chat Name, never the login")
    func removedOperatorLeavesByChatName() async throws {
        try await withServer(operators: ["alice"]) { server in
            _ = try server.server.database.operators.add(
                login: "dan", displayName: "Dan Account", chatName: "Danny", languages: ["en"],
                isBot: false, isAdmin: false, password: TestServer.password, bcryptCost: 4)
            let dan = try await operatorInWebsite(server, "dan")
            let visitor = try await assignedVisitor(to: dan, on: server, name: "Anna")
            #expect((visitor.created.json["operator"] as? [String: Any])?["name"] as? String == "Danny")
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            // Dan never wrote in the conversation: no message carries his name.
            try server.server.database.operators.remove(login: "dan")
            let left = try await socket.next(timeout: .seconds(8)) { $0["type"] as? String == "operator_left" }
            #expect((left["author"] as? [String: Any])?["name"] as? String == "Danny")
        }
    }

    @Test("an account removed and created again between two account checks is still a removal")
    func removedAndRecreatedAtOnce() async throws {
        try await withServer(operators: ["alice", "dave"]) { server in
            let dave = try await operatorInWebsite(server, "dave")
            let visitor = try await assignedVisitor(to: dave, on: server, name: "Anna")
            let alice = try await server.client("alice")

            // Faster than the 2-second account check: the running server sees the same login throughout.
            try server.server.database.operators.remove(login: "dave")
            _ = try server.server.database.operators.add(
                login: "dave", displayName: "Dave Other", chatName: nil, languages: ["en"],
                isBot: false, isAdmin: false, password: TestServer.password, bcryptCost: 4)
            let quit = try await dave.expect("the old connection's end", timeout: .seconds(8)) { $0.command == "ERROR" }
            #expect(quit.params.last?.contains("Operator account removed") == true, "\(quit)")
            try await eventually("the conversation waiting again") {
                try server.server.database.conversations.conversation(id: Int64(visitor.id))?.status == .waiting
            }
            let info = try await alice.askLiveChat("INFO \(visitor.id)")
            #expect(info.contains("waiting for an operator"), "\(info)")
            // The new account logs in and starts with nothing of the old one's.
            let other = try await server.client("dave")
            #expect(try await other.expectNothing(for: .milliseconds(500)) { $0.command == "JOIN" } == nil)
        }
    }

    @Test("removing an account, server running or not, takes it out of the stored conversations")
    func removalUpdatesStoredConversations() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-removal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = try SwitchboardDatabase(path: folder.appendingPathComponent("db.sqlite").path)
        defer { try? database.close() }
        for login in ["alice", "dave"] {
            _ = try database.operators.add(login: login, displayName: login.capitalized, chatName: nil, languages: ["en"],
                                           isBot: false, isAdmin: false, password: TestServer.password, bcryptCost: 4)
        }
        let store = database.conversations
        func open(_ visitor: String) throws -> Int64 {
            try store.create(slug: "website", visitorName: "Anna", visitorID: visitor, languages: ["en"], userAgent: nil,
                             page: nil, tokenHash: ConversationStore.hashToken("t"), welcome: "Hi", welcomeAuthor: "Website",
                             at: Date()).0.id
        }
        let alone = try open("v-1")
        try store.assign(id: alone, to: "dave", reason: "test", at: Date())
        let shared = try open("v-2")
        try store.assign(id: shared, to: "dave", reason: "test", at: Date())
        try store.addOperator(id: shared, login: "alice")
        let left = try open("v-3")
        try store.assign(id: left, to: "Dave", reason: "test", at: Date())
        try store.markVisitorLeft(id: left, at: Date())

        try database.operators.remove(login: "dave")
        let aloneAfter = try #require(try store.conversation(id: alone))
        #expect(aloneAfter.status == .waiting && aloneAfter.operators.isEmpty)
        let sharedAfter = try #require(try store.conversation(id: shared))
        #expect(sharedAfter.status == .assigned && sharedAfter.operators == ["alice"])
        #expect(try store.conversation(id: left)?.status == .closed)
        #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == nil)
        #expect(try store.open().allSatisfy { !$0.operators.contains { $0.lowercased() == "dave" } })
    }
}

@Suite("Assignment of waiting conversations")
struct WaitingAssignmentTests {
    @Test("another connection of the assigned account may JOIN the conversation, and gets all of it; others may not")
    func secondConnectionJoinsTheAccountsConversation() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice")
            let phone = try await server.client("alicephone", login: "alice")
            let bob = try await server.client("bob")
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Cleo")
            _ = try await visitor.say("first question")
            try await laptop.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            try await phone.send("JOIN \(visitor.channel)")
            try await phone.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            let replayed = try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(replayed.params[1].hasSuffix("first question"))
            try await bob.send("JOIN \(visitor.channel)")
            #expect(try await bob.expect("473").params[1] == visitor.channel)
        }
    }

    @Test("conversation-shaped names cannot become ordinary channels, before or after their conversation")
    func conversationNamesAreKept() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            for name in ["#website-9", "#WEBSITE-12"] {
                try await alice.send("JOIN \(name)")
                let refused = try await alice.expect("403")
                #expect(refused.params[1] == name && refused.params[2].contains("kept for conversations"))
            }
            // Other names with the prefix are ordinary channels.
            try await alice.send("JOIN #website-team")
            try await alice.expect("366")
        }
    }

    @Test("a labeled message to a conversation gets its echo as the labeled answer, not ACK")
    func labeledEchoInConversation() async throws {
        try await withServer { server in
            let caps = ["echo-message", "labeled-response", "batch", "message-tags", "server-time"]
            let bot = try await operatorInWebsite(server, "alice", caps: caps)
            let visitor = try await assignedVisitor(to: bot, on: server, name: "Dora")
            try await bot.send("@label=a1 PRIVMSG \(visitor.channel) :labeled echo\r\nPING :after")
            let echo = try await bot.expect("PRIVMSG") { $0.command == "PRIVMSG" || $0.command == "ACK" }
            #expect(echo.command == "PRIVMSG" && echo.tag("label") == "a1" && echo.params[1] == "labeled echo", "\(echo)")
            #expect(echo.tag("msgid") != nil)
            try await bot.expect("PONG")
            _ = try await visitor.waitForMessage("labeled echo")

            // What the command said before its deferred part (an echo, another target's
            // echo) is in the same labeled response.
            try await bot.send("@label=n1 PRIVMSG LiveChat :NAME Dora's helper")
            let opened = try await bot.expect("BATCH")
            #expect(opened.tag("label") == "n1")
            let inside = try await bot.collect(until: "BATCH")
            #expect(inside.first?.command == "PRIVMSG" && inside.first?.params == ["LiveChat", "NAME Dora's helper"], "\(inside)")
            #expect(inside.filter { $0.command != "BATCH" }.allSatisfy { $0.tag("batch") == String(opened.params[0].dropFirst()) }, "\(inside)")

            try await bot.send("JOIN #lounge")
            try await bot.expect("366")
            try await bot.send("@label=m1 PRIVMSG \(visitor.channel),#lounge :both")
            let multi = try await bot.expect("BATCH")
            #expect(multi.tag("label") == "m1")
            let echoes = try await bot.collect(until: "BATCH").filter { $0.command == "PRIVMSG" }
            #expect(Set(echoes.map { $0.params[0] }) == [visitor.channel, "#lounge"], "\(echoes)")
        }
    }

    @Test("when the account's connection in a conversation leaves, the account's other connection gets it, whole")
    func conversationGoesToTheAccountsOtherConnection() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice")
            let phone = try await server.client("alicephone", login: "alice")   // online, not in #website
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Orph")
            _ = try await visitor.say("first question")
            try await laptop.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            try await laptop.send("QUIT :battery")
            try await phone.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            let replayed = try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(replayed.params[1].hasSuffix("first question"))
            _ = try await visitor.say("hello? anyone?")
            let live = try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(live.params[1] == "hello? anyone?")
            try await phone.send("PRIVMSG \(visitor.channel) :Still here")
            _ = try await visitor.waitForMessage("Still here")
        }
    }

    @Test("a waiting conversation is assigned once when an operator joins: one notice, one event, one decision")
    func assignedOnceOnJoin() async throws {
        let logs = CapturedLogs()
        try await withServer(logs: logs) { server in
            let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Dup", languages: "en")
            #expect(visitor.status == "waiting")
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            let bob = try await operatorInWebsite(server, "bob")
            let assigned = "Conversation \(visitor.channel) from Dup (en) assigned to bob"
            try await bob.expect("the assignment notice") { $0.command == "NOTICE" && $0.params.last == assigned }
            _ = try await socket.next { $0["type"] as? String == "operator_joined" }
            // The sweep runs every second: give it two chances to assign again.
            #expect(try await bob.expectNothing(for: .milliseconds(2500)) { $0.command == "NOTICE" && $0.params.last == assigned } == nil)
            #expect((try? await socket.next(timeout: .milliseconds(300)) { $0["type"] as? String == "operator_joined" }) == nil)
            let decisions = logs.entries(atLeast: .info).filter { $0.message.hasPrefix("conversation assigned") }
            #expect(decisions.count == 1, "\(decisions.map(\.message))")
        }
    }

    @Test("back from away, each waiting conversation is assigned once")
    func assignedOnceAfterAway() async throws {
        let logs = CapturedLogs()
        try await withServer(logs: logs) { server in
            let bob = try await server.client("bob")
            try await bob.send("AWAY :lunch")
            try await bob.expect("306")
            try await bob.send("JOIN #website")
            try await bob.expect("366")
            let web = WebTestClient(port: server.webPort)
            let first = try await TestVisitor.start(web, name: "One")
            let second = try await TestVisitor.start(web, name: "Two")
            #expect(first.status == "waiting" && second.status == "waiting")
            try await bob.send("AWAY")
            try await bob.expect("305")
            for visitor in [first, second] {
                try await bob.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            }
            #expect(try await bob.expectNothing(for: .milliseconds(2500)) { $0.command == "JOIN" } == nil)
            let decisions = logs.entries(atLeast: .info).filter { $0.message.hasPrefix("conversation assigned") }
            #expect(decisions.count == 2, "\(decisions.map(\.message))")
        }
    }
}

/// Runs `body` with alice in #website (with `caps`) and Anna's conversation assigned to her.
private func withAliceAndAnna(caps: [String] = [], _ body: (TestServer, TestIRCClient, TestVisitor) async throws -> Void) async throws {
    try await withServer { server in
        let alice = try await operatorInWebsite(server, "alice", caps: caps)
        try await body(server, alice, try await assignedVisitor(to: alice, on: server, name: "Anna"))
    }
}

/// Two conversations of alice's: one the visitor closed, one alice closed with the reason "all sorted".
private func closedConversations(_ server: TestServer) async throws -> (alice: TestIRCClient, byVisitor: TestVisitor, byOperator: TestVisitor) {
    let alice = try await operatorInWebsite(server, "alice")
    let byVisitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
    let byOperator = try await assignedVisitor(to: alice, on: server, name: "Bruno")
    #expect(try await byVisitor.close().status == 200)
    try await alice.send("PRIVMSG \(byOperator.channel) :!close all sorted")
    try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == byOperator.channel }
    return (alice, byVisitor, byOperator)
}

@Suite("Closed conversations")
struct ClosedConversationTests {
    @Test("a page reported after the visitor or the operator closed the conversation is refused with 409")
    func pagesAfterClose() async throws {
        try await withServer { server in
            let (alice, byVisitor, byOperator) = try await closedConversations(server)
            let refused = try await byVisitor.visit("https://shop.example/after-close")
            #expect(refused.status == 409)
            #expect(refused.json["error"] as? String == "conversation_closed")
            #expect(try await byOperator.visit("https://shop.example/after-close").status == 409)
            #expect(alice.history.allSatisfy { !$0.contains("after-close") })
            for visitor in [byVisitor, byOperator] {
                let stored = try server.server.database.conversations
                #expect(try stored.conversation(id: Int64(visitor.id))?.currentPage == "https://shop.example/pricing")
                #expect(try stored.pages(id: Int64(visitor.id)).map(\.url) == ["https://shop.example/pricing"])
            }
        }
    }

    @Test("the events socket of a closed conversation says why it was closed, after a reconnect too")
    func reasonOnReconnect() async throws {
        try await withServer { server in
            let (_, byVisitor, byOperator) = try await closedConversations(server)
            for (visitor, reason) in [(byVisitor, "Closed by the visitor"), (byOperator, "all sorted")] {
                for query in ["", "&after=0"] {
                    let socket = try await TestSocket.open(
                        port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)\(query)")
                    let closed = try await socket.next { $0["type"] as? String == "closed" }
                    #expect(closed["reason"] as? String == reason, "\(visitor.id)\(query): \(closed)")
                    try await socket.waitUntilClosed()
                }
            }
        }
    }
}

@Suite("Assignment after a restart")
struct RestartAssignmentTests {
    @Test("the 2-minute spreading buffer counts assignments made before a restart")
    func lastAssignmentSurvivesRestart() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await operatorInWebsite(server, "alice")
            let first = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna")
            #expect(first.operatorName == "Alice")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == first.channel }
            try await alice.send("PRIVMSG LiveChat :CLOSE \(first.id)")
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == first.channel }
            server = try await server.restarted()
            _ = try await operatorInWebsite(server, "alice")
            _ = try await operatorInWebsite(server, "bob")
            // Both have no ongoing conversation; alice was assigned seconds ago, bob never.
            let second = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Basile")
            #expect(second.operatorName == "Bob")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

@Suite("INFO")
struct InfoTests {
    @Test("INFO gives a conversation younger than a minute as started just now")
    func youngConversation() async throws {
        try await withAliceAndAnna { _, alice, visitor in
            try await Task.sleep(for: .seconds(2))
            let info = try await alice.askLiveChat("INFO \(visitor.id)")
            #expect(info.hasSuffix("UTC (just now)."), "\(info)")
            #expect(!info.contains("seconds"))
        }
    }
}

@Suite("FORWARD")
struct ForwardTests {
    @Test("a human operator's FORWARD is refused with a pointer to TRANSFER, and the conversation stays")
    func humanForwardRefused() async throws {
        try await withAliceAndAnna(caps: ["standard-replies"]) { _, alice, visitor in
            try await alice.send("PRIVMSG LiveChat :FORWARD \(visitor.id)")
            let fail = try await alice.expect("FAIL")
            #expect(fail.params.prefix(2) == ["LIVECHAT", "NOT_BOT"])
            #expect(fail.params.last?.contains("TRANSFER \(visitor.channel)") == true)
            #expect(try await alice.expectNothing(for: .milliseconds(1500)) {
                ["PART", "JOIN"].contains($0.command) && $0.params.first == visitor.channel
            } == nil)
            let info = try await alice.askLiveChat("INFO \(visitor.id)")
            #expect(info.contains("with alice"))
        }
    }
}

@Suite("Visitor name limit")
struct VisitorNameLimitTests {
    @Test("a visitor name of up to 100 characters is accepted, and a longer one refused with one message")
    func nameLimit() async throws {
        let hundred = String(repeating: "é", count: 100)
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let accepted = try await TestVisitor.start(web, name: hundred)
            #expect(try server.server.database.conversations.conversation(id: Int64(accepted.id))?.visitorName == hundred)
            let refused = try await web.request("POST", "/api/v1/livechat/website/conversations", json: ["name": hundred + "x"])
            #expect(refused.status == 400)
            #expect(refused.json["message"] as? String == "The field \"name\" is longer than 100 characters.")
            // A name that would read reordered to operators is refused; one that shows nothing is none.
            for control in ["\u{202E}", "\u{2067}", "\u{200F}", "\u{061C}"] {
                let reordered = try await web.request("POST", "/api/v1/livechat/website/conversations", json: ["name": "evil\(control)gnp.exe"])
                #expect(reordered.status == 400 && (reordered.json["message"] as? String)?.contains("text-direction") == true)
            }
            // One line: no tab, no line or paragraph separator, no noncharacter.
            for breaking in ["\t", "\u{2028}", "\u{FFFE}"] {
                let refused = try await web.request("POST", "/api/v1/livechat/website/conversations", json: ["name": "An\(breaking)na"])
                #expect(refused.json["message"] as? String == "The field \"name\" contains control characters or noncharacters, which one line cannot hold.", "\(refused.json)")
            }
            for blank in ["\u{200B}", "\u{2800}"] {
                let invisible = try await TestVisitor.start(web, name: blank)
                #expect(try server.server.database.conversations.conversation(id: Int64(invisible.id))?.visitorName == nil)
            }
            // A page address is shown to operators too.
            let reorderedPage = try await web.request("POST", "/api/v1/livechat/website/conversations",
                                                      json: ["page": "https://shop.example/\u{202E}fdp.exe"])
            #expect(reorderedPage.json["message"] as? String == "The field \"page\" contains text-direction controls.")
            // The first page's title comes with the conversation, as later pages' do.
            let titled = try await web.request("POST", "/api/v1/livechat/website/conversations",
                                               json: ["page": "https://shop.example/", "title": "Shop"])
            let titledID = try #require(titled.json["id"] as? Int)
            #expect(try server.server.database.conversations.pages(id: Int64(titledID)).map(\.title) == ["Shop"])
            let blankTitle = try await web.request("POST", "/api/v1/livechat/website/conversations",
                                                   json: ["page": "https://shop.example/", "title": "\u{2800}"])
            let blankID = try #require(blankTitle.json["id"] as? Int)
            #expect(try server.server.database.conversations.pages(id: Int64(blankID)).map(\.title) == [nil])
        }
    }
}

@Suite("Operator text as the visitor reads it")
struct OperatorTextRelayTests {
    @Test("/me reads as an action, formatting is stripped for the visitor only, CTCP requests stay on IRC, ::hello\\u{2} expands")
    func formattingAndCTCP() async throws {
        try await withAliceAndAnna(caps: ["echo-message"]) { server, alice, visitor in
            let bob = try await server.client("bob")
            try await alice.send("INVITE bob \(visitor.channel)")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await alice.send("PRIVMSG LiveChat :CANNED ADD hello Hello! How can I help you today?")
            _ = try await alice.liveChatLines()

            try await alice.send("PRIVMSG \(visitor.channel) :\u{1}ACTION waves\u{1}")
            _ = try await visitor.waitForMessage("*Alice waves*")
            let action = try await bob.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(action.params[1] == "\u{1}ACTION waves\u{1}")

            try await alice.send("PRIVMSG \(visitor.channel) :\u{2}bold\u{2} and \u{3}04,12red\u{3} text\u{F}")
            _ = try await visitor.waitForMessage("bold and red text")
            let formatted = try await bob.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(formatted.params[1] == "\u{2}bold\u{2} and \u{3}04,12red\u{3} text\u{F}")

            try await alice.send("PRIVMSG \(visitor.channel) :\u{1}VERSION\u{1}")
            let why = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params[0] == visitor.channel }
            #expect(why.params[1].contains("CTCP VERSION is not sent to the visitor"))

            try await alice.send("PRIVMSG \(visitor.channel) :::hello\u{2}")
            _ = try await visitor.waitForMessage("Hello! How can I help you today?")
            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(texts == ["How may I help you?", "*Alice waves*", "bold and red text", "Hello! How can I help you today?"])
            #expect(!bob.history.contains { $0.contains("VERSION") })
        }
    }

    @Test("/me stays an action in IRC history: replays, CHATHISTORY, and the [HH:MM] prefix goes inside it")
    func actionsInHistory() async throws {
        try await withAliceAndAnna { server, alice, visitor in
            try await alice.send("PRIVMSG \(visitor.channel) :\u{1}ACTION waves\u{1}")
            _ = try await visitor.waitForMessage("*Alice waves*")
            func replayed(to client: TestIRCClient, _ nick: String) async throws -> String {
                try await alice.send("INVITE \(nick) \(visitor.channel)")
                let line = try await client.expect("the replayed action") {
                    $0.command == "PRIVMSG" && $0.params[0] == visitor.channel && $0.source?.hasPrefix("alice!") == true
                }
                return line.params[1]
            }
            // With server-time: the action as sent. Without: a [HH:MM] prefix inside the action.
            let bob = try await server.client("bob", caps: ["server-time"])
            #expect(try await replayed(to: bob, "bob") == "\u{1}ACTION waves\u{1}")
            let carol = try await server.client("carol")
            let plain = try await replayed(to: carol, "carol")
            #expect(plain.hasPrefix("\u{1}ACTION [") && plain.hasSuffix("] waves\u{1}"), "\(plain.debugDescription)")
            // CHATHISTORY gives it back the same way, also after a restart (the flag is stored).
            let reader = try await server.client("reader", login: "bob", caps: ["server-time", "batch", "draft/chathistory"])
            try await reader.send("CHATHISTORY LATEST \(visitor.channel) * 10")
            let fetched = try await reader.expect("the action in the batch") {
                $0.command == "PRIVMSG" && $0.tag("batch") != nil && $0.source?.hasPrefix("alice!") == true
            }
            #expect(fetched.params[1] == "\u{1}ACTION waves\u{1}")
            let stored = try server.server.database.conversations.messages(conversationID: Int64(visitor.id), after: 0, limit: 10)
            #expect(stored.messages.contains { $0.isAction && $0.text == "*Alice waves*" })
        }
    }

    @Test("a channel's /me replayed to a client without server-time keeps the [HH:MM] prefix inside the action")
    func channelActionPrefix() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let carol = try await server.client("carol", caps: ["batch", "draft/chathistory"])
            for client in [alice, carol] {
                try await client.send("JOIN #team")
                try await client.expect("366")
            }
            try await alice.send("PRIVMSG #team :\u{1}ACTION waves\u{1}")
            try await carol.expect("PRIVMSG")
            try await carol.send("CHATHISTORY LATEST #team * 10")
            let action = try await carol.expect("the batch's message") { $0.command == "PRIVMSG" && $0.tag("batch") != nil }
            #expect(action.params[1].hasPrefix("\u{1}ACTION [") && action.params[1].hasSuffix("] waves\u{1}"),
                    "\(action.params[1].debugDescription)")
        }
    }
}

@Suite("LiveChat replies and !commands")
struct ServiceReplyTests {
    /// The standard replies of one command, up to the one with `last` as its code.
    private func notes(_ client: TestIRCClient, until last: String) async throws -> [IRCMessage] {
        var notes: [IRCMessage] = []
        while notes.last?.params[1] != last {
            notes.append(try await client.expect("NOTE or FAIL") { ($0.command == "NOTE" || $0.command == "FAIL") && $0.params[0] == "LIVECHAT" })
            #expect(notes.last?.command == "NOTE", "\(notes)")
        }
        return notes
    }

    @Test("every LiveChat command works as !command in a conversation, and lists come with a START and an END")
    func everyCommandInAConversation() async throws {
        try await withAliceAndAnna(caps: ["standard-replies"]) { server, alice, visitor in
            let channel = visitor.channel
            try await alice.send("PRIVMSG \(channel) :!canned list")
            #expect(try await notes(alice, until: "CANNED_LIST").last?.params[2] == "0")
            try await alice.send("PRIVMSG \(channel) :!status")
            #expect(try await notes(alice, until: "AVAILABLE").last?.params[2...3] == ["#website", "1"])
            try await alice.send("PRIVMSG \(channel) :!name Mitch")
            _ = try await notes(alice, until: "NAME_SET")
            try await alice.send("PRIVMSG \(channel) :!help !close")
            #expect(try await alice.liveChatLines().first?.hasPrefix("CLOSE <conv> [reason]") == true)
            // In bold it is still a command, and nothing of it reaches the visitor.
            try await alice.send("PRIVMSG \(channel) :\u{2}!status\u{2}")
            _ = try await notes(alice, until: "AVAILABLE")
            try await alice.send("PRIVMSG \(channel) :!list")
            let list = try await notes(alice, until: "LIST_END").map { Array($0.params[1...2]) }
            #expect(list == [["LIST_START", "1"], ["CONVERSATION", channel], ["LIST_END", "1"]])
            try await alice.send("PRIVMSG \(channel) :!history")
            let pages = try await notes(alice, until: "HISTORY_END")
            // The page the conversation started on is the first.
            #expect(pages.map { $0.params[1] } == ["HISTORY_START", "PAGE", "HISTORY_END"], "\(pages)")
            #expect(pages.first?.params[3] == "1" && pages.last?.params[3] == "1")
            try server.server.database.conversations.addPage(id: Int64(visitor.id), url: "https://shop.example/a", title: nil, at: Date())
            try await alice.send("PRIVMSG \(channel) :!history")
            let listed = try await notes(alice, until: "HISTORY_END").map { $0.params[1] }
            #expect(listed == ["HISTORY_START", "PAGE", "PAGE", "HISTORY_END"])

            // Out of the live chat channel, the conversation is still hers: STATUS counts it.
            try await alice.send("PART #website")
            try await alice.send("PRIVMSG LiveChat :STATUS")
            #expect(try await notes(alice, until: "NOT_JOINED").last?.params[2] == "1")
            try await alice.send("PRIVMSG \(channel) :!close")
            _ = try await notes(alice, until: "CLOSED")
            try await alice.send("PRIVMSG LiveChat :LIST")
            let empty = try await notes(alice, until: "LIST_END").map { Array($0.params[1...2]) }
            #expect(empty == [["LIST_START", "0"], ["LIST_END", "0"]])
            // None of it reached the visitor.
            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(!texts.contains { $0.hasPrefix("!") }, "\(texts)")
        }
    }

    @Test("control characters never reach the visitor; a canned response must show the visitor something")
    func noControlCharactersForTheVisitor() async throws {
        try await withAliceAndAnna(caps: ["standard-replies"]) { server, alice, visitor in
            try await alice.send("PRIVMSG \(visitor.channel) :x \u{1}y\u{7F} \u{1B}[31mred\u{7}")
            _ = try await visitor.waitForMessage("x y [31mred")
            for text in ["\u{2}\u{2}", "\u{200B}", "\u{3}04\u{2}"] {
                try await alice.send("PRIVMSG LiveChat :CANNED ADD blank \(text)")
                let refusal = try await alice.expect("FAIL")
                #expect(refusal.params[1] == "INVALID_CANNED" && refusal.params[2].contains("visitor can see"), "\(refusal)")
            }
            // Formatting codes are allowed in a canned response (and stripped for the visitor); other controls are not.
            try await alice.send("PRIVMSG LiveChat :CANNED ADD ctl a\u{1}b")
            let stray = try await alice.expect("FAIL")
            #expect(stray.params[1] == "INVALID_CANNED" && stray.params[2].contains("U+0001"), "\(stray)")
            try await alice.send("PRIVMSG LiveChat :CANNED ADD ctl \u{2}a\u{2}\u{3}04b")
            _ = try await notes(alice, until: "CANNED_ADDED")
            try await alice.send("PRIVMSG \(visitor.channel) :::ctl")
            _ = try await visitor.waitForMessage("ab")
            // A line of shortcuts may not grow past what a message may hold.
            try await alice.send("PRIVMSG LiveChat :CANNED ADD big \(String(repeating: "B", count: 400))")
            _ = try await notes(alice, until: "CANNED_ADDED")
            try await alice.send("PRIVMSG \(visitor.channel) :\(Array(repeating: "::big", count: 11).joined(separator: " "))")
            #expect(try await alice.expect("FAIL").params[1] == "TOO_LONG")
            try await alice.send("PRIVMSG \(visitor.channel) :\(Array(repeating: "::big", count: 9).joined(separator: " "))")
            _ = try await visitor.waitForMessage(Array(repeating: String(repeating: "B", count: 400), count: 9).joined(separator: " "))
            // A /me counts as the visitor reads it, "*Alice ...*": 3995 characters of action make 4003.
            let action = Array(repeating: "::big", count: 9).joined(separator: " ") + " " + String(repeating: "a", count: 386)
            try await alice.send("PRIVMSG \(visitor.channel) :\u{1}ACTION \(action)\u{1}")
            #expect(try await alice.expect("FAIL").params[1] == "TOO_LONG")
            try await alice.send("PRIVMSG LiveChat :CLOSE \(visitor.channel) \u{2}\u{7}")
            _ = try await notes(alice, until: "CLOSED")
            let stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            #expect(stored?.closeReason == "Closed by Alice", "\(String(describing: stored?.closeReason))")
        }
    }

    @Test("an account's conversations go to its connections in the live chat channel: a phone gets them when it joins #website")
    func conversationsFollowTheLiveChatChannel() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice")
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Cleo")
            _ = try await visitor.say("first question")
            try await laptop.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            let phone = try await server.client("alicephone", login: "alice", caps: ["labeled-response", "batch", "message-tags", "server-time"])
            #expect(try await phone.expectNothing(for: .milliseconds(500)) { $0.command == "JOIN" } == nil)
            try await phone.send("@label=J1 JOIN #website")
            try await phone.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            let replayed = try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[0] == visitor.channel }
            #expect(replayed.params[1].hasSuffix("first question"))
            // The replay's chathistory batch sits inside the labeled response: one batch tag per line.
            try await phone.send("PING :done")
            _ = try await phone.collect(until: "PONG")
            let tagged = phone.history.filter { $0.hasPrefix("@") }.map { $0.prefix { $0 != " " } }
            #expect(tagged.contains { $0.contains("batch=") } && tagged.allSatisfy { $0.components(separatedBy: "batch=").count <= 2 }, "\(tagged)")
            // Alone again after a reconnect, an account gets its conversations back at login.
            try await laptop.send("QUIT")
            try await phone.send("QUIT")
            try await Task.sleep(for: .milliseconds(200))
            let back = try await server.client("alice2", login: "alice")
            try await back.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
        }
    }
}

@Suite("Closing when the database refuses the write")
struct ClosingDurabilityTests {
    /// Makes the database refuse every closing (as a full disk would) until `allow` is called.
    private struct RefusedClosings {
        let queue: DatabaseQueue
        init(_ server: TestServer) throws {
            // The server writes too: wait for its transactions rather than fail at once.
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            queue = try DatabaseQueue(path: server.folder.appendingPathComponent("switchboard.sqlite").path, configuration: configuration)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TRIGGER refuse_closing BEFORE UPDATE ON conversation
                    WHEN NEW.status = 'closed' OR NEW.visitor_left_at IS NOT NULL
                    BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END
                    """)
            }
        }
        func allow() throws {
            try queue.write { try $0.execute(sql: "DROP TRIGGER refuse_closing") }
        }
    }

    @Test("a CLOSE or a visitor's close that cannot be stored is refused, and the conversation stays open; a last PART is stored once it can be")
    func closingsThatCannotBeStored() async throws {
        try await withServer { server in
            let alice = try await operatorInWebsite(server, "alice", caps: ["standard-replies"])
            let first = try await assignedVisitor(to: alice, on: server, name: "Anna")
            let second = try await assignedVisitor(to: alice, on: server, name: "Basile")
            let refused = try RefusedClosings(server)

            try await alice.send("PRIVMSG LiveChat :CLOSE \(first.channel)")
            let failure = try await alice.expect("FAIL")
            #expect(failure.params[1] == "INTERNAL_ERROR" && failure.params[2].contains("stays open"), "\(failure)")
            let closedByVisitor = try await second.close()
            #expect(closedByVisitor.status == 503, "\(closedByVisitor.status)")
            #expect((closedByVisitor.json["message"] as? String)?.contains("SQLite") == false)
            // Nothing changed: both go on, on IRC and on the web.
            #expect(try await first.say("still there?").status == 201)
            #expect(try await second.say("me too").status == 201)
            try await alice.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "me too" }
            #expect(try server.server.database.conversations.open().count == 2)

            // The last operator's PART ends the conversation at once and is stored when it can be.
            try await alice.send("PART \(first.channel)")
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == first.channel }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try server.server.database.conversations.conversation(id: Int64(first.id))?.status != .closed)
            try refused.allow()
            var stored = try server.server.database.conversations.conversation(id: Int64(first.id))
            for _ in 0..<60 where stored?.status != .closed {
                try await Task.sleep(for: .milliseconds(100))
                stored = try server.server.database.conversations.conversation(id: Int64(first.id))
            }
            #expect(stored?.status == .closed)

            // And with the database back, both closes work; the visitor's reason is the one kept.
            #expect(try await second.close().status == 200)
            try await alice.send("PRIVMSG LiveChat :CLOSE \(second.channel) all done here")
            try await alice.expect("NOTE") { $0.command == "NOTE" && $0.params[1] == "CLOSED" }
            let closed = try server.server.database.conversations.conversation(id: Int64(second.id))
            #expect(closed?.status == .closed && closed?.closeReason == "Closed by the visitor", "\(String(describing: closed?.closeReason))")
        }
    }

    @Test("an end not stored yet reads as closed with its reason, and a clean stop stores it")
    func pendingEndIsClosedAndStoredAtStop() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await operatorInWebsite(server, "alice")
            let visitor = try await assignedVisitor(to: alice, on: server, name: "Anna")
            let refused = try RefusedClosings(server)
            try await alice.send("PART \(visitor.channel)")
            try await alice.expect("PART") { $0.command == "PART" && $0.params[0] == visitor.channel }
            let auth = ["Authorization": "Bearer \(visitor.token)"]
            let web = WebTestClient(port: server.webPort)
            let state = try await web.request("GET", "/api/v1/conversations/\(visitor.id)", headers: auth)
            #expect(state.json["status"] as? String == "closed" && state.json["reason"] as? String == "The operator left the conversation", "\(state.json)")
            #expect(try await visitor.close().status == 200)
            #expect(try server.server.database.conversations.conversation(id: Int64(visitor.id))?.status != .closed)
            // The database takes writes again, and the server stops before its next retry.
            try refused.allow()
            server = try await server.restarted()
            let stored = try server.server.database.conversations.conversation(id: Int64(visitor.id))
            #expect(stored?.status == .closed && stored?.closeReason == "The operator left the conversation")
            let after = try await WebTestClient(port: server.webPort).request("GET", "/api/v1/conversations/\(visitor.id)", headers: auth)
            #expect(after.json["status"] as? String == "closed", "\(after.json)")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
