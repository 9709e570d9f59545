import Foundation
import IRCProtocol
import Testing

@Suite("IRCv3 capabilities on the wire")
struct CapabilityTests {
    static let all = ["message-tags", "server-time", "echo-message", "batch", "labeled-response", "away-notify",
                      "account-notify", "account-tag", "extended-join", "multi-prefix", "userhost-in-names",
                      "cap-notify", "invite-notify", "setname", "standard-replies", "chghost"]

    @Test("every capability is offered and can be requested together")
    func offered() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("CAP LS 302")
            let ls = try await client.expect("CAP")
            let offered = Set(ls.params.last!.split(separator: " ").map { String($0.split(separator: "=")[0]) })
            for cap in Self.all + ["sasl"] { #expect(offered.contains(cap), "\(cap) not offered") }
            try await client.send("CAP REQ :" + Self.all.joined(separator: " "))
            let ack = try await client.expect("CAP")
            #expect(ack.params[1] == "ACK")
            try await client.send("CAP REQ :unknown-cap message-tags")
            #expect(try await client.expect("CAP").params[1] == "NAK")
            try await client.send("CAP LIST")
            let list = try await client.expect("CAP")
            #expect(Set(list.params.last!.split(separator: " ").map(String.init)) == Set(Self.all))
        }
    }

    @Test("message-tags, server-time, msgid, account-tag, echo-message and client-only tags")
    func messageTags() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["message-tags", "server-time", "echo-message", "account-tag"])
            let bob = try await server.client("bob", caps: ["message-tags", "server-time", "account-tag"])
            let carol = try await server.client("carol")
            for client in [alice, bob, carol] {
                try await client.send("JOIN #tags")
                try await client.expect("366")
            }
            try await alice.send("@+draft/reply=abc;+draft/react=👍 PRIVMSG #tags :tagged")
            let echoed = try await alice.expect("PRIVMSG")
            let received = try await bob.expect("PRIVMSG")
            let plain = try await carol.expect("PRIVMSG")
            #expect(echoed.tag("msgid") != nil)
            #expect(echoed.tag("msgid") == received.tag("msgid"))
            #expect(received.tag("account") == "alice")
            #expect(received.tag("+draft/reply") == "abc")
            #expect(received.tag("+draft/react") == "👍")
            let time = try #require(received.tag("time"))
            #expect(ServerTime.parse(time) != nil)
            #expect(plain.tags.isEmpty)

            try await alice.send("@+typing=active TAGMSG #tags")
            let typing = try await bob.expect("TAGMSG")
            #expect(typing.tag("+typing") == "active")
            #expect(try await carol.expectNothing { $0.command == "TAGMSG" } == nil)
        }
    }

    @Test("labeled-response with batch: one reply, several replies, none")
    func labeledResponse() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["labeled-response", "batch", "message-tags"])
            try await alice.send("@label=one PING :x")
            let pong = try await alice.expect("PONG")
            #expect(pong.tag("label") == "one")
            try await alice.send("@label=many WHOIS alice")
            let start = try await alice.expect("BATCH")
            #expect(start.tag("label") == "many")
            #expect(start.params[1] == "labeled-response")
            let reference = String(start.params[0].dropFirst())
            let first = try await alice.expect("311")
            #expect(first.tag("batch") == reference)
            let end = try await alice.expect("BATCH")
            #expect(end.params == ["-" + reference])
            try await alice.send("@label=none PONG :x")
            let ack = try await alice.expect("ACK")
            #expect(ack.tag("label") == "none")
        }
    }

    @Test("labeled-response: refusals before a command runs carry the label too")
    func labeledRefusals() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["labeled-response", "batch", "message-tags"])
            try await alice.send("@label=u1 BOGUS x")
            #expect(try await alice.expect("421").tag("label") == "u1")
            try await alice.send("@label=u2 JOIN")
            #expect(try await alice.expect("461").tag("label") == "u2")
            try await alice.sendBytes(Array("@label=u3 PRIVMSG #u :bad ".utf8) + [0xc3] + Array(" here\r\n".utf8))
            let fail = try await alice.expect("FAIL")
            #expect(fail.params[1] == "INVALID_UTF8" && fail.tag("label") == "u3")
            try await alice.send("@label=u4 PRIVMSG #u :" + String(repeating: "x", count: 600))
            #expect(try await alice.expect("417").tag("label") == "u4")
            // The connection carries on, labels and all.
            try await alice.send("@label=u5 PING :y")
            #expect(try await alice.expect("PONG").tag("label") == "u5")
        }
    }

    @Test("echo-message: a sender outside a -n channel gets its echo")
    func echoFromOutside() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("JOIN #open")
            try await alice.expect("366")
            try await alice.send("MODE #open -n")
            try await alice.expect("MODE")
            let bob = try await server.client("bob", caps: ["echo-message"])
            try await bob.send("PRIVMSG #open :from outside")
            let delivered = try await alice.expect("PRIVMSG")
            let echo = try await bob.expect("PRIVMSG")
            #expect(echo.params == ["#open", "from outside"])
            #expect(echo.source?.hasPrefix("bob!") == true && delivered.params == echo.params)
        }
    }

    @Test("chghost fallback: clients without the cap see the rejoin as a join, with extended-join and the member's modes")
    func chghostFallbackKeepsModes() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")   // the admin, op of #hosts
            try await alice.send("JOIN #hosts")
            try await alice.expect("366")
            let carol = try await server.client("carol", caps: ["extended-join"])
            try await carol.send("JOIN #hosts")
            try await carol.expect("366")
            try await alice.send("CHGHOST alice staff helpdesk.example")
            try await carol.expect("QUIT")
            let rejoin = try await carol.expect("JOIN")
            #expect(rejoin.source == "alice!staff@helpdesk.example")
            #expect(rejoin.params == ["#hosts", "alice", "alice realname"])
            let mode = try await carol.expect("MODE")
            #expect(mode.params == ["#hosts", "+o", "alice"])
            try await carol.send("NAMES #hosts")
            #expect(try await carol.expect("353").params.last?.split(separator: " ").contains("@alice") == true)
        }
    }

    @Test("away-notify, extended-join, multi-prefix, userhost-in-names, invite-notify, setname")
    func presenceCaps() async throws {
        try await withServer { server in
            let caps = ["away-notify", "extended-join", "multi-prefix", "userhost-in-names", "invite-notify", "setname"]
            let alice = try await server.client("alice", caps: caps)
            let bob = try await server.client("bob")
            let carol = try await server.client("carol")
            try await alice.send("JOIN #caps")
            try await alice.expect("366")
            try await bob.send("AWAY :gone fishing")
            try await bob.expect("306")
            try await bob.send("JOIN #caps")
            let join = try await alice.expect("JOIN")
            #expect(join.params == ["#caps", "bob", "bob realname"])
            let away = try await alice.expect("AWAY")
            #expect(away.params == ["gone fishing"])
            try await bob.send("AWAY")
            let back = try await alice.expect("AWAY")
            #expect(back.params.isEmpty)

            try await alice.send("MODE #caps +v alice")
            try await alice.expect("MODE")
            try await alice.send("NAMES #caps")
            let names = try await alice.expect("353")
            let entries = Set(names.params.last!.split(separator: " ").map(String.init))
            #expect(entries.contains { $0.hasPrefix("@+alice!alice@") })
            #expect(entries.contains { $0.hasPrefix("bob!bob@") })

            try await bob.send("INVITE carol #caps")
            let notify = try await alice.expect("INVITE")
            #expect(notify.params == ["carol", "#caps"])
            #expect(notify.source?.hasPrefix("bob!") == true)

            try await bob.send("SETNAME :Robert the Builder")
            let setname = try await alice.expect("SETNAME")
            #expect(setname.params == ["Robert the Builder"])
            try await bob.send("SETNAME :" + String(repeating: "x", count: 200))
            let fail = try await bob.expect("FAIL")
            #expect(fail.params[0...1] == ["SETNAME", "INVALID_REALNAME"])
        }
    }

    @Test("cap-notify is implied by CAP LS 302")
    func capNotify() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("CAP LS 302")
            try await client.expect("CAP")
            try await client.send("CAP LIST")
            #expect(try await client.expect("CAP").params.last == "cap-notify")
        }
    }

    @Test("chghost: an administrator changes a host and peers with the cap see CHGHOST")
    func chghost() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")   // alice is the test server's admin
            let bob = try await server.client("bob", caps: ["chghost"])
            let carol = try await server.client("carol")
            for client in [alice, bob, carol] {
                try await client.send("JOIN #hosts")
                try await client.expect("366")
            }
            try await bob.send("CHGHOST carol x y")
            try await bob.expect("481")
            try await alice.send("CHGHOST carol support helpdesk.example")
            let change = try await bob.expect("CHGHOST")
            #expect(change.params == ["support", "helpdesk.example"])
            #expect(change.source?.hasPrefix("carol!carol@") == true)
            // Without the cap, alice sees carol quit and rejoin with the new host.
            try await alice.expect("QUIT")
            let rejoin = try await alice.expect("JOIN")
            #expect(rejoin.source == "carol!support@helpdesk.example")
        }
    }

    @Test("standard-replies: FAIL for invalid UTF-8, and the message is not relayed")
    func invalidUTF8() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["standard-replies"])
            let bob = try await server.client("bob")
            try await bob.send("JOIN #utf")
            try await bob.expect("366")
            try await alice.send("JOIN #utf")
            try await alice.expect("366")
            try await alice.sendBytes(Array("PRIVMSG #utf :bad ".utf8) + [0xff, 0xfe] + Array("\r\n".utf8))
            let fail = try await alice.expect("FAIL")
            #expect(fail.params[1] == "INVALID_UTF8")
            #expect(try await bob.expectNothing { $0.command == "PRIVMSG" } == nil)
            try await alice.send("PRIVMSG #utf :still here")
            #expect(try await bob.expect("PRIVMSG").params.last == "still here")
        }
    }
}

@Suite("Account changes")
struct AccountChangeTests {
    @Test("account-notify: a removed operator is logged out and disconnected")
    func accountRemoved() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["account-notify"])
            let carol = try await server.client("carol")
            for client in [alice, carol] {
                try await client.send("JOIN #team")
                try await client.expect("366")
            }
            try server.server.database.operators.remove(login: "carol")
            let logout = try await alice.expect("ACCOUNT", timeout: .seconds(10))
            #expect(logout.params == ["*"])
            #expect(logout.source?.hasPrefix("carol!") == true)
            let quit = try await alice.expect("QUIT")
            #expect(quit.params == ["Operator account removed"])
            try await carol.expectClosed()
        }
    }
}
