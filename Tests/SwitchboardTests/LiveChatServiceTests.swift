import Foundation
import IRCProtocol
import Testing

extension TestIRCClient {
    /// Sends a command to the LiveChat service and returns its first answer.
    func askLiveChat(_ command: String) async throws -> String {
        try await send("PRIVMSG LiveChat :\(command)")
        let answer = try await expect("LiveChat's answer to \(command)") {
            $0.command == "PRIVMSG" && $0.source?.hasPrefix("LiveChat!") == true
        }
        return answer.params[1]
    }

    /// LiveChat's answers: up to the line matching `last` when given, otherwise until
    /// the service has been quiet for `quiet` after its first answer.
    func liveChatLines(until last: ((String) -> Bool)? = nil, quiet: Duration = .milliseconds(600),
                       timeout: Duration = .seconds(10)) async throws -> [String] {
        var lines: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let wait = lines.isEmpty || last != nil ? deadline - ContinuousClock.now : quiet
            guard let line = try? await nextLine(timeout: wait) else { break }
            if let message = try? IRCMessage.parse(line), message.command == "PRIVMSG", message.source?.hasPrefix("LiveChat!") == true {
                lines.append(message.params[1])
                if let last, last(message.params[1]) { break }
            }
        }
        return lines
    }
}

@Suite("LiveChat service")
struct LiveChatServiceTests {
    @Test("CTCP VERSION, PING and CLIENTINFO to LiveChat get CTCP answers; other CTCP nothing")
    func ctcpToTheService() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            for (query, answer) in [("VERSION", "\u{1}VERSION switchboard-"), ("PING 12345", "\u{1}PING 12345\u{1}"),
                                    ("CLIENTINFO", "\u{1}CLIENTINFO CLIENTINFO PING TIME VERSION\u{1}")] {
                try await alice.send("PRIVMSG LiveChat :\u{1}\(query)\u{1}")
                let reply = try await alice.expect("an answer to \(query)") { $0.source?.hasPrefix("LiveChat!") == true }
                #expect(reply.command == "NOTICE" && reply.params[0] == "alice", "\(reply)")
                #expect(reply.params[1].hasPrefix(answer), "\(reply)")
            }
            try await alice.send("PRIVMSG LiveChat :\u{1}ACTION waves\u{1}")
            #expect(try await alice.expectNothing(for: .milliseconds(400)) { $0.source?.hasPrefix("LiveChat!") == true } == nil)
        }
    }

    @Test("HELP lists every command with one line each and explains one")
    func help() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["standard-replies"])
            try await alice.send("PRIVMSG LiveChat :help")
            let lines = try await alice.liveChatLines(until: { $0.hasPrefix("FORWARD") })
            #expect(lines.first?.contains("LiveChat commands") == true)
            for command in ["HELP", "NAME", "LANG", "STATUS", "LIST", "TAKE", "CLOSE", "HISTORY", "INFO", "TRANSFER", "CANNED", "FORWARD"] {
                #expect(lines.filter { $0.hasPrefix(command + " ") }.count == 1, "no line for \(command)")
            }
            try await alice.send("PRIVMSG LiveChat :HELP lang")
            let details = try await alice.liveChatLines(until: { $0.hasPrefix("Only languages enabled") })
            #expect(details.first?.hasPrefix("LANG [code[,code...]]") == true)
            #expect(details.count > 1)
            #expect(try await alice.askLiveChat("FROB").contains("Unknown command FROB"))
            let fail = try await alice.expect("FAIL")
            #expect(fail.params[0...1] == ["LIVECHAT", "UNKNOWN_COMMAND"])
            try await alice.send("WHOIS LiveChat")
            #expect(try await alice.expect("311").params[1] == "LiveChat")
            // Online for every presence query clients use, not WHOIS and ISON only.
            try await alice.send("USERHOST livechat")
            #expect(try await alice.expect("302").params[1] == "LiveChat=+LiveChat@\(server.server.config.serverName)")
            try await alice.send("MONITOR + LiveChat")
            #expect(try await alice.expect("730").params[1].hasPrefix("LiveChat!LiveChat@"))
            try await alice.send("MONITOR S")
            #expect(try await alice.expect("730").params[1].hasPrefix("LiveChat!LiveChat@"))
            try await alice.send("WHO LiveChat")
            let who = try await alice.collect(until: "315").filter { $0.command == "352" }
            #expect(who.map { $0.params[5] } == ["LiveChat"] && who.first?.params[6] == "HB", "\(who)")
            try await alice.send("WHO LiveChat %tnfa,7")
            let whox = try await alice.expect("354")
            #expect(whox.params == ["alice", "7", "LiveChat", "HB", "0"], "\(whox)")
        }
    }

    @Test("bots get labeled, machine-readable answers, also from commands that answer after a database write")
    func labeledAnswers() async throws {
        try await withServer { server in
            try server.addBot("faqbot")
            let bot = try await server.client("faqbot", caps: ["labeled-response", "batch", "standard-replies", "message-tags"])
            try await bot.send("@label=s1 PRIVMSG LiveChat :STATUS")
            let status = try await bot.expect("BATCH")
            #expect(status.tag("label") == "s1")
            let statusBatch = String(status.params[0].dropFirst())
            let notJoined = try await bot.expect("NOTE")
            #expect(notJoined.params[0...1] == ["LIVECHAT", "NOT_A_CHANNEL_BOT"])
            #expect(notJoined.tag("batch") == statusBatch)
            #expect(try await bot.expect("BATCH").params == ["-" + statusBatch])

            try await bot.send("@label=n1 PRIVMSG LiveChat :NAME Helpful Bot")
            let name = try await bot.expect("BATCH")
            #expect(name.tag("label") == "n1")
            let note = try await bot.expect("NOTE")
            #expect(Array(note.params) == ["LIVECHAT", "NAME_SET", "Online Chat Name set: visitors now see \"Helpful Bot\"."])
            #expect(note.tag("batch") == String(name.params[0].dropFirst()))
            #expect(try await bot.expect("BATCH").params == ["-" + String(name.params[0].dropFirst())])

            try await bot.send("@label=e1 PRIVMSG LiveChat :CLOSE 999")
            let error = try await bot.expect("BATCH")
            #expect(error.tag("label") == "e1")
            let fail = try await bot.expect("FAIL")
            #expect(fail.params[0...1] == ["LIVECHAT", "NO_SUCH_CONVERSATION"])
        }
    }

    @Test("NAME shows, sets and resets the Online Chat Name, and it persists across restarts")
    func name() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await server.client("alice")
            #expect(try await alice.askLiveChat("NAME").contains("visitors see your name, Alice"))
            #expect(try await alice.askLiveChat("NAME Mitchell the Great") == "Online Chat Name set: visitors now see \"Mitchell the Great\".")
            #expect(try await alice.askLiveChat("name") == "Your Online Chat Name is Mitchell the Great: visitors see it.")
            #expect(try await alice.askLiveChat("NAME " + String(repeating: "x", count: 65)).contains("Nothing changed"))
            // Nothing visible, or text-direction tricks: refused, not a reset.
            let invisible = try await alice.askLiveChat("NAME \u{200B}")
            #expect(invisible.contains("a name needs a visible character"), "\(invisible)")
            #expect(try await alice.askLiveChat("NAME \u{202E}evil").contains("text-direction controls"))
            server = try await server.restarted()
            let again = try await server.client("alice")
            #expect(try await again.askLiveChat("NAME") == "Your Online Chat Name is Mitchell the Great: visitors see it.")
            #expect(try await again.askLiveChat("NAME -") == "Online Chat Name reset: visitors now see your name, \"Alice\".")
            let stored = try server.server.database.operators.find(login: "alice")
            #expect(stored?.chatName == nil)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("LANG accepts enabled languages, refuses others with the enabled list, and persists")
    func lang() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await server.client("alice", caps: ["standard-replies"])
            #expect(try await alice.askLiveChat("LANG") == "Your Online Chat Languages: en (main). Enabled on this server: en, fr, es, de.")
            #expect(try await alice.askLiveChat("LANG fr,en,es") == "Online Chat Languages set: fr (main), en, es.")
            let refused = try await alice.askLiveChat("LANG fr,xx")
            #expect(refused.contains("'xx'"))
            #expect(refused.contains("en, fr, es, de"))
            #expect(refused.contains("Nothing changed"))
            let fail = try await alice.expect("FAIL")
            #expect(fail.params[0...1] == ["LIVECHAT", "INVALID_LANGUAGE"])
            #expect(try await alice.askLiveChat("LANG").hasPrefix("Your Online Chat Languages: fr (main), en, es."))
            #expect(try await alice.askLiveChat("LANG de, fr") == "Online Chat Languages set: de (main), fr.")
            #expect(try await alice.askLiveChat("LANG es , de") == "Online Chat Languages set: es (main), de.")
            #expect(try await alice.askLiveChat("LANG fr,").contains("Empty language code"))
            _ = try await alice.expect("FAIL")
            #expect(try await alice.askLiveChat("LANG fr,en,es") == "Online Chat Languages set: fr (main), en, es.")
            server = try await server.restarted()
            let again = try await server.client("alice")
            #expect(try await again.askLiveChat("LANG").hasPrefix("Your Online Chat Languages: fr (main), en, es."))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("live chat channels: listed with their visitor-facing name, joined by operators, refused to bots")
    func channels() async throws {
        try await withServer { server in
            try server.addBot("faqbot")
            let alice = try await server.client("alice")
            try await alice.send("LIST")
            let entry = try await alice.expect("322")
            #expect(entry.params[1] == "#website")
            #expect(entry.params[3].contains("Website"))
            try await alice.send("JOIN #website")
            let names = try await alice.expect("353")
            #expect(names.params.last == "alice")   // nobody is channel operator in a live chat channel
            #expect(try await alice.liveChatLines().contains { $0.contains("You joined #website (Website)") })
            #expect(try await alice.askLiveChat("STATUS").contains("Alice"))
            let status = try await alice.liveChatLines()
            #expect(status.contains("#website (Website): available for new conversations; 0 ongoing conversations."))
            try await alice.send("PART #website")
            try await alice.expect("PART")
            _ = try await alice.askLiveChat("STATUS")
            #expect(try await alice.liveChatLines().contains { $0.contains("You are in no live chat channel") })

            let bot = try await server.client("faqbot")
            try await bot.send("JOIN #website")
            let refused = try await bot.expect("477")
            #expect(refused.params[1] == "#website")
            try await bot.send("MODE faqbot")
            #expect(try await bot.expect("221").params[1] == "+B")
        }
    }

    @Test("AWAY makes an operator unavailable, coming back makes them available")
    func away() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("JOIN #website")
            try await alice.expect("366")
            try await alice.send("AWAY :lunch")
            try await alice.expect("306")
            _ = try await alice.askLiveChat("STATUS")
            #expect(try await alice.liveChatLines().contains("#website (Website): not available (away); 0 ongoing conversations."))
            try await alice.send("AWAY")
            try await alice.expect("305")
            _ = try await alice.askLiveChat("STATUS")
            #expect(try await alice.liveChatLines().contains("#website (Website): available for new conversations; 0 ongoing conversations."))
        }
    }

    @Test("an inactive operator is parted from live chat channels and told; an active one stays")
    func inactivity() async throws {
        try await withServer(configure: { $0.inactivityTimeout = 2 }) { server in
            let idle = try await server.client("alice")
            let busy = try await server.client("bob")
            for client in [idle, busy] {
                try await client.send("JOIN #website")
                try await client.expect("366")
                try await client.send("JOIN #team")
                try await client.expect("366")
            }
            // bob keeps typing commands; PING does not count as activity for alice.
            let keepBusy = Task {
                for _ in 0..<40 {
                    try await busy.send("MODE bob")
                    try await idle.send("PING :still here")
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            defer { keepBusy.cancel() }
            let part = try await busy.expect("alice's PART", timeout: .seconds(8)) {
                $0.command == "PART" && $0.source?.hasPrefix("alice!") == true
            }
            #expect(part.params == ["#website", "Inactive for 2 seconds"])
            let told = try await idle.expect("LiveChat's notice", timeout: .seconds(5)) {
                $0.command == "PRIVMSG" && $0.source?.hasPrefix("LiveChat!") == true && $0.params[1].hasPrefix("Inactive for 2 seconds")
            }
            #expect(told.params[1].contains("#website"))
            // Only live chat channels: alice is still in #team, bob still in #website.
            try await busy.send("NAMES #website")
            #expect(try await busy.expect("353").params.last == "bob")
            try await busy.send("NAMES #team")
            #expect(Set(try await busy.expect("353").params.last!.split(separator: " ")) == ["@alice", "bob"])
            keepBusy.cancel()
        }
    }
}
