import ChildProcesses
import Foundation
import IRCProtocol
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bots in live chat: a channel's bot (`bot = "faqbot"`) gets new conversations
/// while its account is connected, answers the visitor, and hands over to a
/// human with `FORWARD`. The first two tests run the example bot
/// (`Examples/faqbot/faqbot.py`, Python 3 standard library only) as a separate
/// process against a server started in-process, on loopback, over plaintext
/// IRC; they are skipped without `python3`, except on CI (`CI=true`) where
/// they fail. The others drive a raw IRC client logged in as the bot.
@Suite("Bots in live chat")
struct BotTests {
    // MARK: The example FAQ bot

    /// A server whose #website channel has the bot `faqbot`, the example bot
    /// running against it, and the operator alice in #website once the bot is on.
    private func withFAQBot(_ body: (TestServer, TestIRCClient, FAQBotProcess) async throws -> Void) async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            try await FAQBotProcess.run(against: server) { bot in
                let alice = try await server.client("alice")
                try await waitUntilConnected("faqbot", seenBy: alice, bot: bot)
                try await alice.send("JOIN #website")
                try await alice.expect("366")
                try await body(server, alice, bot)
            }
        }
    }

    @Test("the FAQ bot answers first; asking for a human forwards the conversation, with its transcript, to an operator",
          .enabled(if: FAQBotProcess.pythonAvailable || TestTools.onCI,
                   "needs python3; required when CI=true"),
          .timeLimit(.minutes(1)))
    func answersThenForwards() async throws {
        try await withFAQBot { server, alice, bot in
            let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna")
            #expect(visitor.status == "assigned")
            #expect(visitor.operatorName == "Faqbot", "the bot account's display name")
            _ = try await visitor.say("What are your opening hours?")
            let answer = try await waitForBotMessage(visitor, containing: "Monday to Friday", bot: bot)
            let author = answer["author"] as? [String: Any]
            #expect(author?["kind"] as? String == "bot")
            #expect(author?["name"] as? String == "Faqbot")
            // Greeted once (the greeting and the answer are stored independently: wait for both).
            _ = try await waitForBotMessage(visitor, containing: FAQBotProcess.greeting, bot: bot)
            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(texts.filter { $0 == FAQBotProcess.greeting }.count == 1, "greeted once: \(texts)")
            // The bot has it; alice, available in #website, is not in it.
            #expect(!alice.history.contains { $0.contains(" JOIN \(visitor.channel)") }, "\(alice.history)")

            _ = try await visitor.say("I want a human")
            let join = try await alice.expect("the JOIN of \(visitor.channel)", timeout: .seconds(10)) {
                $0.command == "JOIN" && $0.params.first == visitor.channel
            }
            #expect(join.source?.hasPrefix("alice!") == true)
            let transcript = try await collectTranscript(alice, in: visitor.channel, until: [
                ("Anna-\(visitor.id)", "What are your opening hours?"),
                ("faqbot", answer["text"] as! String),
                ("Anna-\(visitor.id)", "I want a human"),
                ("faqbot", FAQBotProcess.forwarding),
            ])
            #expect(transcript.contains { $0.nick == "faqbot" && $0.text == FAQBotProcess.greeting })

            try await alice.send("PRIVMSG \(visitor.channel) :Hello Anna, Alice here. How can I help?")
            let reply = try await visitor.waitForMessage("Hello Anna, Alice here. How can I help?")
            #expect((reply["author"] as? [String: Any])?["kind"] as? String == "operator")
            #expect((reply["author"] as? [String: Any])?["name"] as? String == "Alice")

            // The bot left: only alice and the visitor are in the channel, and it answers no more.
            try await alice.send("NAMES \(visitor.channel)")
            let names = try await alice.expect("353") { $0.command == "353" && $0.params.dropLast().last == visitor.channel }
            let members = Set(names.params.last!.split(separator: " ").map { String($0.drop { "@+".contains($0) }) })
            #expect(members == ["alice", "Anna-\(visitor.id)"])
            let botMessagesBefore = try await botMessages(visitor).count
            _ = try await visitor.say("And what about shipping?")
            try await alice.expect("the visitor's message") { $0.command == "PRIVMSG" && $0.params.last == "And what about shipping?" }
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await botMessages(visitor).count == botMessagesBefore, "the bot still answers: \(bot.log)")
        }
    }

    @Test("after two questions the FAQ bot cannot answer, it forwards the conversation to an operator",
          .enabled(if: FAQBotProcess.pythonAvailable || TestTools.onCI,
                   "needs python3; required when CI=true"),
          .timeLimit(.minutes(1)))
    func forwardsAfterTwoUnanswered() async throws {
        try await withFAQBot { server, alice, bot in
            let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Basile")
            _ = try await visitor.say("Do you sell gift cards?")
            let sorry = try await waitForBotMessage(visitor, containing: "Sorry, I don't know", bot: bot)
            #expect((sorry["author"] as? [String: Any])?["kind"] as? String == "bot")
            #expect(!alice.history.contains { $0.contains(" JOIN \(visitor.channel)") }, "forwarded after one question")

            _ = try await visitor.say("Can I pay with bitcoin?")
            let forwarding = try await waitForBotMessage(visitor, containing: FAQBotProcess.forwarding, bot: bot)
            #expect((forwarding["author"] as? [String: Any])?["kind"] as? String == "bot")
            try await alice.expect("the JOIN of \(visitor.channel)", timeout: .seconds(10)) {
                $0.command == "JOIN" && $0.params.first == visitor.channel
            }
            try await collectTranscript(alice, in: visitor.channel, until: [
                ("Basile-\(visitor.id)", "Do you sell gift cards?"),
                ("faqbot", sorry["text"] as! String),
                ("Basile-\(visitor.id)", "Can I pay with bitcoin?"),
            ])
            try await alice.send("PRIVMSG \(visitor.channel) :Gift cards, yes; bitcoin, no.")
            let reply = try await visitor.waitForMessage("Gift cards, yes; bitcoin, no.")
            #expect((reply["author"] as? [String: Any])?["kind"] as? String == "operator")
        }
    }

    // MARK: Routing, with a raw client as the bot

    @Test("while the bot is not connected, conversations go to the assignment rule; while it is, to the bot")
    func botNotConnected() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let alice = try await server.client("alice")
            try await alice.send("JOIN #website")
            try await alice.expect("366")

            let first = try await TestVisitor.start(web, name: "Anna")
            #expect(first.status == "assigned")
            #expect(first.operatorName == "Alice")
            try await alice.expect("the JOIN of \(first.channel)") { $0.command == "JOIN" && $0.params.first == first.channel }

            // The bot connects: the next conversation is its own, not alice's.
            let bot = try await server.client("faqbot")
            let second = try await TestVisitor.start(web, name: "Basile")
            #expect(second.operatorName == "Faqbot")
            let join = try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == second.channel }
            #expect(join.source?.hasPrefix("faqbot!") == true)
            try await bot.expect("366") { $0.command == "366" && $0.params[1] == second.channel }
            #expect(try await alice.expectNothing(for: .milliseconds(300)) { $0.command == "JOIN" && $0.params.first == second.channel } == nil)

            // The bot disconnects: back to the rule.
            await bot.close()
            try await waitUntilGone("faqbot", seenBy: alice)
            let third = try await TestVisitor.start(web, name: "Chloé")
            #expect(third.operatorName == "Alice")
            try await alice.expect("the JOIN of \(third.channel)") { $0.command == "JOIN" && $0.params.first == third.channel }
        }
    }

    @Test("a connected channel bot makes the channel available to visitors, with no human in it")
    func botMakesChannelAvailable() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            #expect(try await web.request("GET", "/api/v1/livechat/website").json["available"] as? Bool == false)
            let bot = try await server.client("faqbot")
            #expect(try await web.request("GET", "/api/v1/livechat/website").json["available"] as? Bool == true)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            #expect(visitor.status == "assigned" && visitor.operatorName == "Faqbot")
            await bot.close()
            let alice = try await server.client("alice")
            try await waitUntilGone("faqbot", seenBy: alice)
            #expect(try await web.request("GET", "/api/v1/livechat/website").json["available"] as? Bool == false)
        }
    }

    @Test("bot_when = no_operator: the bot gets a conversation only when no human is available")
    func botWhenNoOperator() async throws {
        try await withServer(configure: {
            $0.channels[0].bot = "faqbot"
            $0.channels[0].botWhen = .noOperator
        }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let bot = try await server.client("faqbot", caps: ["standard-replies"])
            let alice = try await server.client("alice")
            try await alice.send("JOIN #website")
            try await alice.expect("366")

            let first = try await TestVisitor.start(web, name: "Anna")
            #expect(first.operatorName == "Alice")
            try await alice.expect("the JOIN of \(first.channel)") { $0.command == "JOIN" && $0.params.first == first.channel }

            try await alice.send("AWAY :lunch")
            try await alice.expect("306")
            let second = try await TestVisitor.start(web, name: "Basile")
            #expect(second.operatorName == "Faqbot")
            try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == second.channel }

            // FORWARD with nobody available: the bot leaves, the conversation waits, the visitor is told.
            try await bot.send("PRIVMSG LiveChat :FORWARD \(second.channel)")
            let note = try await bot.expect("NOTE") { $0.command == "NOTE" || $0.command == "FAIL" }
            #expect(note.command == "NOTE" && note.params.prefix(2) == ["LIVECHAT", "FORWARD_WAITING"], "\(note)")
            try await bot.expect("the bot's PART") { $0.command == "PART" && $0.params.first == second.channel }
            let told = try await waitForSystemMessage(of: second)
            #expect(told.contains("wait"), "\(told)")

            // alice comes back: the waiting conversation is hers.
            try await alice.send("AWAY")
            try await alice.expect("305")
            try await alice.expect("the JOIN of \(second.channel)") { $0.command == "JOIN" && $0.params.first == second.channel }
        }
    }

    @Test("a bot that connects answers the conversations that waited for it, not those a bot forwarded")
    func waitingConversationsGoToAConnectingBot() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let waiting = try await TestVisitor.start(web, name: "Anna")
            #expect(waiting.status == "waiting")
            let bot = try await server.client("faqbot")
            // After the bot's first line after the welcome, as bots.md promises: JOINs before
            // the PONG are conversations the bot already had.
            try await bot.send("PING :faqbot-welcome")
            let beforePong = try await bot.collect(until: "PONG")
            #expect(!beforePong.contains { $0.command == "JOIN" }, "\(beforePong)")
            try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == waiting.channel }
            // Forwarded with nobody available: it waits again, and the bot does not get it back on its return.
            try await bot.send("PRIVMSG LiveChat :FORWARD \(waiting.channel)")
            try await bot.expect("the bot's PART") { $0.command == "PART" && $0.params.first == waiting.channel }
            await bot.close()
            let back = try await server.client("faqbot")
            #expect(try await back.expectNothing(for: .milliseconds(800)) { $0.command == "JOIN" && $0.params.first == waiting.channel } == nil)
            // STATUS tells the bot what it is, rather than to join a channel.
            let status = try await back.askLiveChat("STATUS")
            #expect(status.hasPrefix("Online Chat Name: Faqbot"), "\(status)")
            let lines = try await back.liveChatLines()
            #expect(lines.contains { $0.hasPrefix("#website (Website): you are its bot and get every new conversation while connected") }, "\(lines)")
        }
    }

    @Test("FORWARD of a conversation a human is already in leaves it with them, assigned")
    func forwardToTheHumanInside() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let bot = try await server.client("faqbot", caps: ["standard-replies"])
            let bob = try await server.client("bob")   // in no live chat channel: the rule would find nobody
            let visitor = try await TestVisitor.start(web, name: "Quinn")
            try await bot.expect("the bot's JOIN") { $0.command == "JOIN" && $0.params.first == visitor.channel }
            try await bot.send("INVITE bob \(visitor.channel)")
            try await bob.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            try await bot.send("PRIVMSG LiveChat :FORWARD \(visitor.channel)")
            let note = try await bot.expect("NOTE") { $0.command == "NOTE" || $0.command == "FAIL" }
            #expect(note.params.prefix(4) == ["LIVECHAT", "FORWARDED", visitor.channel, "bob"], "\(note)")
            try await bot.expect("the bot's PART") { $0.command == "PART" && $0.params.first == visitor.channel }
            let state = try await web.request("GET", "/api/v1/conversations/\(visitor.id)", headers: ["Authorization": "Bearer \(visitor.token)"])
            #expect(state.json["status"] as? String == "assigned", "\(state.json)")
            #expect((state.json["operator"] as? [String: Any])?["name"] as? String == "Bob")
            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(!texts.contains { $0.contains("busy") }, "\(texts)")
        }
    }

    @Test("a conversation whose bot went away can be taken by an operator; the bot leaves it")
    func takeFromADisconnectedBot() async throws {
        try await withServer(configure: { $0.channels[0].bot = "faqbot" }) { server in
            try server.addBot("faqbot")
            let web = WebTestClient(port: server.webPort)
            let bot = try await server.client("faqbot")
            let visitor = try await TestVisitor.start(web, name: "Anna")
            #expect(visitor.operatorName == "Faqbot")
            let alice = try await server.client("alice")
            // While the bot is connected, the conversation is its own.
            #expect(try await alice.askLiveChat("TAKE \(visitor.id)").contains("is already with faqbot"))
            await bot.close()
            try await waitUntilGone("faqbot", seenBy: alice)
            try await alice.send("PRIVMSG LiveChat :LIST")
            #expect(try await alice.liveChatLines().contains { $0.contains("with faqbot (not connected)") })
            #expect(try await alice.askLiveChat("TAKE \(visitor.id)").hasPrefix("You took \(visitor.channel)"))
            #expect(alice.history.contains { $0.contains(" JOIN \(visitor.channel)") })
            let info = try await alice.askLiveChat("INFO \(visitor.id)")
            #expect(info.contains("with alice") && !info.contains("faqbot"), "\(info)")
            // The bot, back, is no longer in it.
            let back = try await server.client("faqbot")
            #expect(try await back.expectNothing(for: .milliseconds(800)) { $0.command == "JOIN" && $0.params.first == visitor.channel } == nil)
        }
    }
}

// MARK: - Helpers

/// The example bot running as a child process, with its log in a file.
private final class FAQBotProcess {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repositoryRoot.appendingPathComponent("Examples/faqbot/faqbot.py").path

    // What faqbot.py says (see GREETING and FORWARDING there).
    static let greeting = "Hi! I'm the FAQ bot. Ask me about opening hours or shipping, or type 'human' to talk to a person."
    static let forwarding = "Let me find a colleague for you."

    static var pythonAvailable: Bool { TestTools.path(of: "python3") != nil }

    let process: ChildProcess
    let logPath: String

    private init(process: ChildProcess, logPath: String) {
        self.process = process
        self.logPath = logPath
    }

    /// What the bot logged so far (stderr), for failure messages.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts the bot against the server's plaintext loopback listener, runs `body`,
    /// and always stops the bot with SIGTERM (which it must obey with exit status 0).
    static func run(against server: TestServer, _ body: (FAQBotProcess) async throws -> Void) async throws {
        let logPath = server.folder.appendingPathComponent("faqbot.log").path
        var environment = ProcessInfo.processInfo.environment
        environment["FAQBOT_PASSWORD"] = TestServer.password
        // --exit-with-parent: if the test runner dies, the bot does not linger, reconnecting forever.
        let process = try ChildProcess.spawn(
            "python3", [script, "--host", "127.0.0.1", "--port", String(server.plainPort), "--no-tls",
                        "--login", "faqbot", "--exit-with-parent", "--verbose"],
            environment: environment, errors: .file(logPath))
        let bot = FAQBotProcess(process: process, logPath: logPath)
        do {
            try await body(bot)
        } catch {
            await process.stop()
            throw error
        }
        let status = await process.stop()
        #expect(status == 0, "faqbot did not exit cleanly on SIGTERM:\n\(bot.log)")
    }
}

/// Waits until `nick` is connected and registered, as `WHOIS` (311) shows it.
private func waitUntilConnected(_ nick: String, seenBy client: TestIRCClient, bot: FAQBotProcess) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        try await client.send("WHOIS \(nick)")
        let answer = try await client.expect("WHOIS \(nick)") { $0.command == "311" || $0.command == "401" }
        try await client.expect("318")
        if answer.command == "311" { return }
        if !bot.process.isRunning { break }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw BotNotReady(log: bot.log)
}

/// Waits until `nick` is gone (WHOIS answers 401).
private func waitUntilGone(_ nick: String, seenBy client: TestIRCClient) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        try await client.send("WHOIS \(nick)")
        let answer = try await client.expect("WHOIS \(nick)") { $0.command == "311" || $0.command == "401" }
        try await client.expect("318")
        if answer.command == "401" { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestTimeout(waitingFor: "\(nick) to disconnect", seen: client.history)
}

private struct BotNotReady: Error, CustomStringConvertible {
    let log: String
    var description: String { "faqbot did not connect; its log:\n\(log)" }
}

/// The conversation's messages written by a bot, as the web bridge stores them.
private func botMessages(_ visitor: TestVisitor) async throws -> [[String: Any]] {
    try await visitor.messages().messages.filter { ($0["author"] as? [String: Any])?["kind"] as? String == "bot" }
}

/// Polls the visitor's messages until a bot message containing `text` is there.
private func waitForBotMessage(_ visitor: TestVisitor, containing text: String, bot: FAQBotProcess,
                               timeout: Duration = .seconds(10)) async throws -> [String: Any] {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let found = try await botMessages(visitor).first(where: { ($0["text"] as? String)?.contains(text) == true }) {
            return found
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    let seen = try await visitor.messages().messages.map { "\(($0["author"] as? [String: Any])?["kind"] ?? "?"): \($0["text"] ?? "")" }
    throw TestTimeout(waitingFor: "a bot message with \"\(text)\"; the bot's log:\n\(bot.log)", seen: seen)
}

/// Polls until the conversation has a system message other than the welcome; returns its text.
private func waitForSystemMessage(of visitor: TestVisitor) async throws -> String {
    let welcome = visitor.created.messages.first?["text"] as? String
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        let texts = try await visitor.messages().messages
            .filter { ($0["author"] as? [String: Any])?["kind"] as? String == "system" }
            .compactMap { $0["text"] as? String }
        if let told = texts.first(where: { $0 != welcome }) { return told }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestTimeout(waitingFor: "a system message for the visitor", seen: [])
}

/// One PRIVMSG line of a conversation as an operator's client shows it.
private struct TranscriptLine: CustomStringConvertible {
    let nick: String
    let text: String
    var description: String { "<\(nick)> \(text)" }
}

/// Reads the conversation's PRIVMSGs (replayed with a `[HH:MM] ` prefix, since the
/// test client has no server-time, or relayed live) until every expected
/// (nick, text) has been seen; returns everything read.
@discardableResult
private func collectTranscript(_ client: TestIRCClient, in channel: String,
                               until expected: [(nick: String, text: String)]) async throws -> [TranscriptLine] {
    var lines: [TranscriptLine] = []
    let deadline = ContinuousClock.now + .seconds(10)
    func missing() -> [(nick: String, text: String)] {
        expected.filter { want in !lines.contains { $0.nick == want.nick && $0.text == want.text } }
    }
    while !missing().isEmpty {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else {
            throw TestTimeout(waitingFor: "\(missing()) in \(channel); read \(lines)", seen: client.history)
        }
        let message = try await client.expect("the transcript of \(channel)", timeout: remaining) {
            $0.command == "PRIVMSG" && $0.params.first == channel
        }
        let nick = String((message.source ?? "").prefix { $0 != "!" })
        var text = message.params.last ?? ""
        if let prefix = text.range(of: #"^\[\d\d:\d\d\] "#, options: .regularExpression) { text.removeSubrange(prefix) }
        lines.append(TranscriptLine(nick: nick, text: text))
    }
    return lines
}
