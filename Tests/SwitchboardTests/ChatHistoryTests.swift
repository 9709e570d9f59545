import Foundation
import IRCProtocol
import Testing

/// What a modern client (gamja, Goguma...) negotiates for history.
let historyCaps = ["batch", "server-time", "message-tags", "draft/chathistory"]

/// Sends `command` and returns the batch that answers it: its opening line and its lines.
private func fetch(_ client: TestIRCClient, _ command: String) async throws -> (open: IRCMessage, lines: [IRCMessage]) {
    try await client.send(command)
    let open = try await client.expect("BATCH +") { $0.command == "BATCH" && $0.params.first?.hasPrefix("+") == true }
    let reference = String(open.params[0].dropFirst())
    var lines: [IRCMessage] = []
    while true {
        let message = try await client.next()
        if message.command == "BATCH", message.params.first == "-" + reference { return (open, lines) }
        if message.tag("batch") == reference { lines.append(message) }
    }
}

/// The texts of a chathistory batch.
private func texts(_ client: TestIRCClient, _ command: String) async throws -> [String] {
    try await fetch(client, command).lines.map { $0.params.last ?? "" }
}

/// `sender` says each text in `channel`; returns them as `receiver` got them (with msgid and time).
private func say(_ sender: TestIRCClient, to receiver: TestIRCClient, in channel: String, _ texts: [String]) async throws -> [IRCMessage] {
    for text in texts { try await sender.send("PRIVMSG \(channel) :\(text)") }
    var received: [IRCMessage] = []
    for text in texts {
        received.append(try await receiver.expect("PRIVMSG \(text)") { $0.command == "PRIVMSG" && $0.params == [channel, text] })
    }
    return received
}

private func join(_ client: TestIRCClient, _ channel: String) async throws {
    try await client.send("JOIN \(channel)")
    try await client.expect("366") { $0.command == "366" && $0.params[1].lowercased() == channel.lowercased() }
}

private func expectFail(_ client: TestIRCClient, _ command: String, _ expected: [String]) async throws {
    try await client.send(command)
    let fail = try await client.expect("FAIL") { $0.command == "FAIL" }
    #expect(Array(fail.params.prefix(expected.count)) == expected, "\(command)")
}

private func timestamp(_ message: IRCMessage) -> String { "timestamp=" + (message.tag("time") ?? "") }
private func msgid(_ message: IRCMessage) -> String { "msgid=" + (message.tag("msgid") ?? "") }

@Suite("draft/chathistory and draft/read-marker")
struct ChatHistoryTests {
    @Test("capabilities and ISUPPORT tokens are advertised")
    func advertised() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("CAP LS 302")
            var offered: [String] = []
            while true {
                let ls = try await client.expect("CAP LS") { $0.command == "CAP" && $0.params[1] == "LS" }
                offered += ls.params.last!.split(separator: " ").map(String.init)
                if ls.params.count == 3 { break }
            }
            #expect(offered.contains("draft/chathistory"))
            #expect(offered.contains("draft/read-marker"))
            let burst = try await client.register(nick: "alice", login: "alice", password: TestServer.password, caps: historyCaps)
            let isupport = burst.filter { $0.command == "005" }.flatMap { $0.params.dropFirst().dropLast() }
            #expect(isupport.contains("CHATHISTORY=100"))
            #expect(isupport.contains("MSGREFTYPES=timestamp,msgid"))
        }
    }

    @Test("every subcommand on an ordinary channel, including messages not yet written")
    func ordinaryChannel() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps)
            let bob = try await server.client("bob", caps: historyCaps)
            try await join(alice, "#Ops")
            try await join(bob, "#ops")
            let sent = try await say(alice, to: bob, in: "#Ops", (1...10).map { "m\($0)" })
            try await bob.send("@+draft/reply=\(sent[9].tag("msgid")!) NOTICE #ops :a notice")
            let notice = try await alice.expect("NOTICE") { $0.command == "NOTICE" && $0.params == ["#Ops", "a notice"] }

            // At once: the last messages are still in the buffer, not yet in the database.
            let latest = try await fetch(alice, "CHATHISTORY LATEST #ops * 3")
            #expect(latest.open.params.dropFirst() == ["chathistory", "#Ops"])
            #expect(latest.lines.map { $0.params.last! } == ["m9", "m10", "a notice"])
            for (line, original) in zip(latest.lines, [sent[8], sent[9], notice]) {
                #expect(line.command == original.command)
                #expect(line.source == original.source)
                #expect(line.params == original.params)
                #expect(line.tag("msgid") == original.tag("msgid"))
                #expect(line.tag("time") == original.tag("time"))
            }
            #expect(latest.lines[2].tag("+draft/reply") == sent[9].tag("msgid"))

            #expect(try await texts(alice, "CHATHISTORY LATEST #ops \(msgid(sent[6])) 100") == ["m8", "m9", "m10", "a notice"])
            #expect(try await texts(alice, "CHATHISTORY LATEST #ops timestamp=2000-01-01T00:00:00.000Z 2") == ["m10", "a notice"])
            #expect(try await texts(alice, "CHATHISTORY BEFORE #ops \(msgid(sent[3])) 10") == ["m1", "m2", "m3"])
            #expect(try await texts(alice, "CHATHISTORY BEFORE #ops \(msgid(sent[3])) 2") == ["m2", "m3"])
            #expect(try await texts(alice, "CHATHISTORY AFTER #ops \(msgid(sent[6])) 2") == ["m8", "m9"])
            #expect(try await texts(alice, "CHATHISTORY AFTER #ops timestamp=2000-01-01T00:00:00.000Z 2") == ["m1", "m2"])
            #expect(try await texts(alice, "CHATHISTORY AROUND #ops \(msgid(sent[4])) 3") == ["m4", "m5", "m6"])
            #expect(try await texts(alice, "CHATHISTORY BETWEEN #ops \(msgid(sent[1])) \(msgid(sent[5])) 10") == ["m3", "m4", "m5"])
            #expect(try await texts(alice, "CHATHISTORY BETWEEN #ops \(msgid(sent[1])) \(msgid(sent[5])) 2") == ["m3", "m4"])
            // Backwards: counted from the first reference, still in ascending order.
            #expect(try await texts(alice, "CHATHISTORY BETWEEN #ops \(msgid(sent[5])) \(msgid(sent[1])) 2") == ["m4", "m5"])
            let all = try await texts(alice, "CHATHISTORY BETWEEN #ops timestamp=2100-01-01T00:00:00.000Z timestamp=2000-01-01T00:00:00.000Z 100")
            #expect(all == (1...10).map { "m\($0)" } + ["a notice"])
            let before = try await texts(alice, "CHATHISTORY BEFORE #ops \(timestamp(sent[0])) 10")
            #expect(before.isEmpty)

            // Unknown msgids select nothing; a nick has no history here: empty batches.
            #expect(try await texts(alice, "CHATHISTORY BEFORE #ops msgid=nope 10").isEmpty)
            let direct = try await fetch(alice, "CHATHISTORY LATEST bob * 10")
            #expect(direct.open.params.dropFirst() == ["chathistory", "bob"] && direct.lines.isEmpty)
        }
    }

    @Test("the limit is capped at CHATHISTORY=100")
    func limits() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps)
            let bob = try await server.client("bob", caps: historyCaps)
            try await join(alice, "#ops")
            try await join(bob, "#ops")
            // More than a batch (500): written in several, all in order.
            let sent = try await say(alice, to: bob, in: "#ops", (1...1_200).map { "m\($0)" })
            let latest = try await texts(bob, "CHATHISTORY LATEST #ops * 1000")
            #expect(latest == (1_101...1_200).map { "m\($0)" })
            #expect(try await texts(bob, "CHATHISTORY LATEST #ops * 1") == ["m1200"])
            // A limit too large for a 64-bit number is cut the same way.
            #expect(try await texts(bob, "CHATHISTORY LATEST #ops * 99999999999999999999") == latest)
            #expect(try await texts(bob, "CHATHISTORY AFTER #ops timestamp=2000-01-01T00:00:00.000Z 5") == (1...5).map { "m\($0)" })
            #expect(try await texts(bob, "CHATHISTORY BEFORE #ops \(msgid(sent[700])) 100") == (601...700).map { "m\($0)" })
        }
    }

    @Test("errors: parameters, subcommands, unknown targets, channels the client is not in")
    func errors() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps)
            let bob = try await server.client("bob", caps: historyCaps)
            try await join(alice, "#ops")
            try await join(bob, "#secret")
            try await bob.send("MODE #secret +s")
            try await join(bob, "#open")
            try await bob.send("PRIVMSG #secret :hidden")
            try await bob.send("PRIVMSG #open :not for alice either")

            try await expectFail(alice, "CHATHISTORY", ["CHATHISTORY", "NEED_MORE_PARAMS"])
            try await expectFail(alice, "CHATHISTORY FETCH #ops * 10", ["CHATHISTORY", "UNKNOWN_COMMAND", "FETCH"])
            try await expectFail(alice, "CHATHISTORY LATEST #ops *", ["CHATHISTORY", "NEED_MORE_PARAMS", "LATEST"])
            try await expectFail(alice, "CHATHISTORY BETWEEN #ops msgid=a 10", ["CHATHISTORY", "NEED_MORE_PARAMS", "BETWEEN"])
            try await expectFail(alice, "CHATHISTORY BEFORE #ops * 10", ["CHATHISTORY", "INVALID_PARAMS", "BEFORE", "*"])
            try await expectFail(alice, "CHATHISTORY BEFORE #ops yesterday 10", ["CHATHISTORY", "INVALID_PARAMS", "BEFORE", "yesterday"])
            try await expectFail(alice, "CHATHISTORY AFTER #ops timestamp=yesterday 10",
                                 ["CHATHISTORY", "INVALID_PARAMS", "AFTER", "timestamp=yesterday"])
            try await expectFail(alice, "CHATHISTORY LATEST #ops * 0", ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "0"])
            try await expectFail(alice, "CHATHISTORY LATEST #ops * many", ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "many"])
            try await expectFail(alice, "CHATHISTORY TARGETS msgid=x timestamp=2000-01-01T00:00:00.000Z 10",
                                 ["CHATHISTORY", "INVALID_PARAMS", "TARGETS", "msgid=x"])
            try await expectFail(alice, "CHATHISTORY LATEST #nowhere * 10", ["CHATHISTORY", "INVALID_TARGET", "LATEST", "#nowhere"])
            try await expectFail(alice, "CHATHISTORY LATEST #secret * 10", ["CHATHISTORY", "INVALID_TARGET", "LATEST", "#secret"])
            try await expectFail(alice, "CHATHISTORY AROUND #open msgid=1 10", ["CHATHISTORY", "INVALID_TARGET", "AROUND", "#open"])
            try await expectFail(alice, "CHATHISTORY LATEST !bad * 10", ["CHATHISTORY", "INVALID_TARGET", "LATEST", "!bad"])

            // Members read them.
            #expect(try await texts(bob, "CHATHISTORY LATEST #secret * 10") == ["hidden"])
        }
    }

    @Test("labeled-response: the label goes on the batch; without batch, plain lines")
    func labelsAndPlainClients() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps + ["labeled-response"])
            let plain = try await server.client("bob")
            try await join(alice, "#ops")
            try await join(plain, "#ops")
            _ = try await say(alice, to: plain, in: "#ops", ["one", "two"])

            try await alice.send("@label=h1 CHATHISTORY LATEST #ops * 10")
            let open = try await alice.expect("BATCH") { $0.command == "BATCH" || $0.command == "ACK" }
            #expect(open.command == "BATCH" && open.tag("label") == "h1")
            #expect(open.params.dropFirst() == ["chathistory", "#ops"])
            try await alice.send("@label=h2 CHATHISTORY LATEST #nowhere * 10")
            let fail = try await alice.expect("FAIL")
            #expect(fail.tag("label") == "h2")
            // MARKREAD: answered after a database read the first time, at once afterwards.
            try await alice.send("@label=m1 MARKREAD #ops timestamp=2026-01-04T14:33:26.123Z")
            let first = try await alice.expect("MARKREAD") { $0.command == "MARKREAD" || $0.command == "ACK" }
            #expect(first.command == "MARKREAD" && first.tag("label") == "m1")
            try await alice.send("@label=m2 MARKREAD #ops")
            let second = try await alice.expect("MARKREAD") { $0.command == "MARKREAD" || $0.command == "ACK" }
            #expect(second.tag("label") == "m2" && second.params == ["#ops", "timestamp=2026-01-04T14:33:26.123Z"])

            try await plain.send("CHATHISTORY LATEST #ops * 10")
            let one = try await plain.expect("PRIVMSG")
            let two = try await plain.expect("PRIVMSG")
            #expect(one.tags.isEmpty && two.tags.isEmpty)
            // No server-time: the time is in the text.
            #expect(one.params[1].hasSuffix("] one") && one.params[1].hasPrefix("["))
            #expect(two.params[1].hasSuffix("] two"))
        }
    }

    @Test("TARGETS lists the channels and conversations the client reads with activity in the window")
    func targets() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps)
            let bob = try await server.client("bob", caps: historyCaps)
            try await join(alice, "#website")
            for channel in ["#ops", "#dev"] {
                try await join(alice, channel)
                try await join(bob, channel)
            }
            try await join(bob, "#elsewhere")
            let start = ServerTime.format(Date().addingTimeInterval(-1))
            _ = try await say(bob, to: alice, in: "#ops", ["first"])
            try await Task.sleep(for: .milliseconds(20))
            let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna")
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == visitor.channel }
            _ = try await visitor.say("hello")
            try await Task.sleep(for: .milliseconds(20))
            _ = try await say(bob, to: alice, in: "#dev", ["second"])
            try await bob.send("PRIVMSG #elsewhere :not alice's")
            let end = ServerTime.format(Date().addingTimeInterval(1))

            let forward = try await fetch(alice, "CHATHISTORY TARGETS timestamp=\(start) timestamp=\(end) 10")
            #expect(forward.open.params.dropFirst() == ["draft/chathistory-targets"])
            #expect(forward.lines.allSatisfy { $0.command == "CHATHISTORY" && $0.params[0] == "TARGETS" })
            #expect(forward.lines.map { $0.params[1] } == ["#ops", visitor.channel, "#dev"])
            #expect(forward.lines.allSatisfy { ServerTime.parse($0.params[2]) != nil })
            // The oldest first when the window goes forward, the newest when it goes back.
            #expect(try await fetch(alice, "CHATHISTORY TARGETS timestamp=\(start) timestamp=\(end) 1").lines.map { $0.params[1] } == ["#ops"])
            #expect(try await fetch(alice, "CHATHISTORY TARGETS timestamp=\(end) timestamp=\(start) 2").lines.map { $0.params[1] }
                    == [visitor.channel, "#dev"])
            #expect(try await fetch(alice, "CHATHISTORY TARGETS timestamp=\(end) timestamp=2100-01-01T00:00:00.000Z 10").lines.isEmpty)
            // Bob is not an operator of the conversation.
            #expect(try await fetch(bob, "CHATHISTORY TARGETS timestamp=\(start) timestamp=\(end) 10").lines.map { $0.params[1] }
                    == ["#ops", "#dev", "#elsewhere"])
        }
    }

    @Test("every subcommand on a conversation channel, for its operators only")
    func conversation() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: historyCaps + ["draft/read-marker"])
            try await join(alice, "#website")
            let bob = try await server.client("bob", caps: historyCaps)
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            let channel = visitor.channel
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.params[0] == channel }
            let marker = try await alice.expect("MARKREAD") { $0.command == "MARKREAD" && $0.params[0] == channel }
            #expect(marker.params == [channel, "*"])

            var ids: [Int] = []
            for text in ["v1", "v2"] { ids.append(try #require(try await visitor.say(text).json["id"] as? Int)) }
            try await alice.send("PRIVMSG \(channel) :a1")
            ids.append(try #require(try await visitor.waitForMessage("a1")["id"] as? Int))
            ids.append(try #require(try await visitor.say("v3").json["id"] as? Int))
            let relayed = try await alice.expect("PRIVMSG v3") { $0.command == "PRIVMSG" && $0.params.last == "v3" }

            let latest = try await fetch(alice, "CHATHISTORY LATEST \(channel) * 10")
            #expect(latest.open.params.dropFirst() == ["chathistory", channel])
            #expect(latest.lines.map { $0.params[1] } == ["v1", "v2", "a1", "v3"])  // not the welcome message
            #expect(latest.lines.map { $0.tag("msgid") } == ids.map { String($0) })
            #expect(latest.lines[3].source == "Anna-\(visitor.id)!visitor@visitor.switchboard.local")
            #expect(latest.lines[3].tag("time") == relayed.tag("time"))
            #expect(latest.lines[2].source?.hasPrefix("alice!") == true)

            #expect(try await texts(alice, "CHATHISTORY LATEST \(channel) msgid=\(ids[1]) 10") == ["a1", "v3"])
            #expect(try await texts(alice, "CHATHISTORY LATEST \(channel) \(timestamp(relayed)) 10").isEmpty)
            #expect(try await texts(alice, "CHATHISTORY BEFORE \(channel) msgid=\(ids[3]) 2") == ["v2", "a1"])
            #expect(try await texts(alice, "CHATHISTORY AFTER \(channel) msgid=\(ids[0]) 1") == ["v2"])
            #expect(try await texts(alice, "CHATHISTORY AROUND \(channel) msgid=\(ids[1]) 3") == ["v1", "v2", "a1"])
            #expect(try await texts(alice, "CHATHISTORY BETWEEN \(channel) msgid=\(ids[0]) msgid=\(ids[3]) 10") == ["v2", "a1"])
            #expect(try await texts(alice, "CHATHISTORY BETWEEN \(channel) msgid=\(ids[3]) msgid=\(ids[0]) 1") == ["a1"])
            #expect(try await texts(alice, "CHATHISTORY AFTER \(channel) msgid=nonsense 10").isEmpty)

            try await expectFail(bob, "CHATHISTORY LATEST \(channel) * 10", ["CHATHISTORY", "INVALID_TARGET", "LATEST", channel])
        }
    }

    @Test("channel history survives a restart")
    func survivesRestart() async throws {
        var server = try await TestServer.start()
        do {
            let alice = try await server.client("alice", caps: historyCaps)
            let bob = try await server.client("bob", caps: historyCaps)
            try await join(alice, "#ops")
            try await join(bob, "#ops")
            _ = try await say(alice, to: bob, in: "#ops", ["before the restart"])
            // At once: still in the buffer, written by the shutdown.
            server = try await server.restarted()
            let again = try await server.client("alice", caps: historyCaps)
            try await join(again, "#ops")
            #expect(try await texts(again, "CHATHISTORY LATEST #ops * 10") == ["before the restart"])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("MARKREAD: set, read back, only forward, shared by the account's connections, sent on join, kept")
    func readMarkers() async throws {
        var server = try await TestServer.start()
        do {
            let caps = ["server-time", "draft/read-marker", "standard-replies"]
            let alice = try await server.client("alice", caps: caps)
            let phone = try await server.client("alicephone", login: "alice", caps: caps)
            let bob = try await server.client("bob", caps: caps)
            // The account's first JOIN since the start: the marker is read from the database,
            // and still comes before the end of NAMES, as the spec requires.
            // The commands after it wait for it: a PART sent with it comes after NAMES.
            try await alice.send("JOIN #ops\r\nPART #ops\r\nJOIN #ops")
            let firstBurst = try await alice.collect(until: "PART")
            #expect(firstBurst.first { $0.command == "MARKREAD" }?.params == ["#ops", "*"], "\(firstBurst)")
            #expect(firstBurst.last { $0.command != "PART" }?.command == "366", "\(firstBurst)")
            _ = try await alice.collect(until: "366")

            try await alice.send("MARKREAD #ops timestamp=2026-01-04T14:33:26.123Z")
            #expect(try await alice.expect("MARKREAD").params == ["#ops", "timestamp=2026-01-04T14:33:26.123Z"])
            #expect(try await phone.expect("MARKREAD").params == ["#ops", "timestamp=2026-01-04T14:33:26.123Z"])

            // Back in time: the stored value, to the sender only.
            try await alice.send("MARKREAD #OPS timestamp=2026-01-04T14:00:00.000Z")
            #expect(try await alice.expect("MARKREAD").params == ["#ops", "timestamp=2026-01-04T14:33:26.123Z"])
            try await phone.send("MARKREAD #ops")
            #expect(try await phone.expect("MARKREAD").params == ["#ops", "timestamp=2026-01-04T14:33:26.123Z"])
            #expect(try await alice.expectNothing(where: { $0.command == "MARKREAD" }) == nil)

            // Never past the present.
            try await phone.send("MARKREAD #ops timestamp=2999-01-01T00:00:00.000Z")
            let clamped = try await phone.expect("MARKREAD")
            let now = try #require(ServerTime.parse(String(clamped.params[1].dropFirst("timestamp=".count))))
            #expect(abs(now.timeIntervalSinceNow) < 5)
            #expect(try await alice.expect("MARKREAD").params == clamped.params)

            // Another account has its own markers; nicks are targets too.
            try await bob.send("MARKREAD #ops")
            #expect(try await bob.expect("MARKREAD").params == ["#ops", "*"])
            try await alice.send("MARKREAD Bob timestamp=2026-01-04T14:33:26.123Z")
            #expect(try await alice.expect("MARKREAD").params == ["Bob", "timestamp=2026-01-04T14:33:26.123Z"])
            _ = try await phone.expect("MARKREAD")

            // Joining: the marker comes before the end of NAMES once the account's markers are loaded.
            try await phone.send("JOIN #ops")
            let burst = try await phone.collect(until: "366")
            #expect(burst.first { $0.command == "MARKREAD" }?.params == clamped.params)

            try await expectFail(alice, "MARKREAD", ["MARKREAD", "NEED_MORE_PARAMS"])
            try await expectFail(alice, "MARKREAD #ops 2026-01-04T14:33:26.123Z", ["MARKREAD", "INVALID_PARAMS"])
            try await expectFail(alice, "MARKREAD #ops timestamp=soon", ["MARKREAD", "INVALID_PARAMS"])
            try await expectFail(alice, "MARKREAD !x timestamp=2026-01-04T14:33:26.123Z", ["MARKREAD", "INVALID_PARAMS"])

            server = try await server.restarted()
            let again = try await server.client("alice", caps: caps)
            try await again.send("MARKREAD #ops")
            #expect(try await again.expect("MARKREAD").params == clamped.params)
            let fresh = try await server.client("alicetablet", login: "alice", caps: caps)
            try await fresh.send("JOIN #ops")
            let afterRestart = try await fresh.collect(until: "366")
            #expect(afterRestart.first { $0.command == "MARKREAD" }?.params == clamped.params, "\(afterRestart)")
            try await again.send("JOIN #ops")
            #expect(try await again.expect("MARKREAD").params == clamped.params)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
