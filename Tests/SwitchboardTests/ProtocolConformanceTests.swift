import Foundation
import IRCProtocol
import Testing

@Suite("Protocol conformance")
struct ProtocolConformanceTests {
    /// `alice` (operator of `channel`) and `bob` (not on it).
    private func aliceAndOutsider(_ server: TestServer, channel: String) async throws -> (TestIRCClient, TestIRCClient) {
        let alice = try await server.client("alice")
        let bob = try await server.client("bob")
        try await alice.send("JOIN \(channel)")
        try await alice.expect("366")
        return (alice, bob)
    }

    @Test("a secret channel's modes and bans are not shown to non-members")
    func secretChannelModes() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#sec")
            try await alice.send("MODE #sec +sb evil")
            try await alice.expect("MODE")
            for query in ["MODE #sec", "MODE #sec b", "MODE #sec +b"] {
                try await bob.send(query)
                let answer = try await bob.expect("an answer to \(query)") { ["442", "324", "367", "368"].contains($0.command) }
                #expect(answer.command == "442", "\(query)")
                #expect(answer.params == ["bob", "#sec", "You're not on that channel"])
            }
            // Members still see them.
            try await alice.send("MODE #sec b")
            #expect(try await alice.expect("367").params[2] == "evil!*@*")
            try await alice.send("MODE #sec")
            #expect(try await alice.expect("324").params == ["alice", "#sec", "+nst"])
        }
    }

    @Test("the key and the limit in 324 are shown to members only")
    func keyAndLimitForMembersOnly() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#kl")
            try await alice.send("MODE #kl +kl sesame 10")
            try await alice.expect("MODE")
            try await alice.send("MODE #kl")
            #expect(try await alice.expect("324").params == ["alice", "#kl", "+klnt", "sesame", "10"])
            try await bob.send("MODE #kl")
            #expect(try await bob.expect("324").params == ["bob", "#kl", "+klnt"])
        }
    }

    @Test("ban masks are normalised to nick!user@host, and a removal names the stored mask")
    func banMaskNormalisation() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("JOIN #bans")
            try await alice.expect("366")
            for (mask, stored) in [("@host", "*!*@host"), ("!", "*!*@*"), ("nick!", "nick!*@*"), ("!user@", "*!user@*"),
                                   ("bob@127.0.0.1", "*!bob@127.0.0.1"), ("who", "who!*@*")] {
                try await alice.send("MODE #bans +b \(mask)")
                #expect(try await alice.expect("MODE").params == ["#bans", "+b", stored], "\(mask)")
            }
            // A mask longer than any nick!user@host is refused, not stored raw.
            let long = String(repeating: "x", count: 300)
            try await alice.send("MODE #bans +b \(long)")
            let refusal = try await alice.expect("696")
            #expect(refusal.params.prefix(4) == ["alice", "#bans", "b", long])
            try await alice.send("MODE #bans -b BOB@127.0.0.1")
            #expect(try await alice.expect("MODE").params == ["#bans", "-b", "*!bob@127.0.0.1"])
            try await alice.send("MODE #bans b")
            let list = try await alice.collect(until: "368").filter { $0.command == "367" }.map { $0.params[2] }
            #expect(list == ["*!*@host", "*!*@*", "nick!*@*", "*!user@*", "who!*@*"])
        }
    }

    @Test("WHO with an exact nick finds an invisible user; a glob does not")
    func whoExactNickOfInvisibleUser() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("MODE alice +i")
            try await alice.expect("MODE")
            let bob = try await server.client("bob")
            try await bob.send("WHO ALICE")
            let found = try await bob.expect("an answer") { $0.command == "352" || $0.command == "315" }
            #expect(found.command == "352" && found.params[5] == "alice")
            try await bob.send("WHO al*")
            #expect(try await bob.expect("an answer") { $0.command == "352" || $0.command == "315" }.command == "315")
        }
    }

    @Test("a full ban list is 478 with the list's mode character")
    func banListFull() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("JOIN #full")
            try await alice.expect("366")
            for first in stride(from: 0, to: 100, by: 5) {
                let masks = (first..<first + 5).map { "ban\($0)!*@*" }
                try await alice.send("MODE #full +bbbbb " + masks.joined(separator: " "))
                try await alice.expect("MODE")
            }
            try await alice.send("MODE #full +b one-too-many")
            #expect(try await alice.expect("478").params == ["alice", "#full", "b", "Channel ban list is full"])
        }
    }

    @Test("ISUPPORT advertises the limits KICK, NAMES and keys really have")
    func truthfulISupport() async throws {
        try await withServer { server in
            let client = try await server.connect()
            let burst = try await client.register(nick: "alice", login: "alice", password: TestServer.password)
            let isupport = burst.filter { $0.command == "005" }.flatMap { $0.params.dropFirst().dropLast() }
            #expect(isupport.contains("KEYLEN=23"))
            let targmax = isupport.first { $0.hasPrefix("TARGMAX=") }?.dropFirst("TARGMAX=".count) ?? ""
            let limits = Dictionary(uniqueKeysWithValues: targmax.split(separator: ",").map {
                let parts = $0.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), String(parts[1]))
            })
            // KICK and NAMES take any number of targets, and say so.
            #expect(limits["KICK"] == "")
            #expect(limits["NAMES"] == "")
            #expect(limits["WHOIS"] == "10")

            let bob = try await server.client("bob")
            let carol = try await server.client("carol")
            for member in [client, bob, carol] {
                try await member.send("JOIN #km")
                try await member.expect("366")
            }
            try await client.send("KICK #km bob,carol")
            let kicks = [try await client.expect("KICK"), try await client.expect("KICK")]
            #expect(kicks.map { $0.params[1] } == ["bob", "carol"])
            // Several channels: one nick out of each, or channels and nicks in pairs.
            for member in [client, bob, carol] {
                for name in ["#k1", "#k2"] {
                    try await member.send("JOIN \(name)")
                    try await member.expect("366")
                }
            }
            try await client.send("KICK #k1,#k2 bob :both")
            let fromBoth = [try await bob.expect("KICK"), try await bob.expect("KICK")]
            #expect(fromBoth.map(\.params) == [["#k1", "bob", "both"], ["#k2", "bob", "both"]])
            _ = [try await client.expect("KICK"), try await client.expect("KICK")]
            try await client.send("KICK #k1,#k2 carol,alice")
            let paired = [try await client.expect("KICK"), try await client.expect("KICK")]
            #expect(paired.map { [$0.params[0], $0.params[1]] } == [["#k1", "carol"], ["#k2", "alice"]])
            try await client.send("KICK #k1,#k2,#km bob,carol")
            #expect(try await client.expect("461").params[1] == "KICK")
            try await client.send("NAMES #km,#nowhere")
            #expect(try await client.expect("366").params[1] == "#km")
            #expect(try await client.expect("366").params[1] == "#nowhere")
            // WHOIS:10: irssi's /notify asks several nicks at once, LiveChat among them; each gets its own 318.
            try await client.send("WHOIS LiveChat,bob,nobody")
            let whois = try await client.collect(until: "318").map(\.command)
                + (try await client.collect(until: "318")).map(\.command) + (try await client.collect(until: "318")).map(\.command)
            #expect(whois.filter { $0 == "311" }.count == 2 && whois.contains("401"), "\(whois)")
            try await client.send("WHOIS " + (1...11).map { "n\($0)" }.joined(separator: ","))
            #expect(try await client.expect("407").params[1].hasPrefix("n1,n2"))
            // A target list with no nick in it is "no nickname given", not an unknown nick called ",".
            try await client.send("WHOIS ,")
            #expect(try await client.expect("431").params.last == "No nickname given")

            try await client.send("MODE #km +k \(String(repeating: "k", count: 24))")
            #expect(try await client.expect("525").params.last?.contains("23") == true)
            try await client.send("MODE #km +k \(String(repeating: "k", count: 23))")
            #expect(try await client.expect("MODE").params[1] == "+k")
            // A key cannot start with ':': 324 could not send it back as a middle parameter.
            try await client.send("MODE #km +k ::x")
            #expect(try await client.expect("525").params[1] == "#km")

            // MODES=6 counts every mode with a parameter, keys and limits too.
            try await client.send("MODE #km +bbbbbl q1 q2 q3 q4 q5 9 +k key")
            let change = try await client.expect("MODE")
            #expect(change.params[1] == "+bbbbbl" && change.params.count == 8, "\(change)")
            try await client.send("MODE #km +lllllll 1 2 3 4 5 6 7")
            let limitChange = try await client.expect("MODE")
            #expect(limitChange.params[1] == "+llllll" && limitChange.params.last == "6", "\(limitChange)")
        }
    }

    @Test("WHO with the o flag lists only IRC operators, and there are none")
    func whoOperatorsOnly() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#wo")
            try await bob.send("JOIN #wo")
            try await bob.expect("366")
            for query in ["WHO #wo o", "WHO * o", "WHO #wo o%nf"] {
                try await alice.send(query)
                let replies = try await alice.collect(until: "315")
                #expect(!replies.contains { $0.command == "352" || $0.command == "354" }, "\(query)")
            }
            // Without it, everyone; WHOX still works.
            try await alice.send("WHO #wo %nf")
            let whox = try await alice.collect(until: "315").filter { $0.command == "354" }
            #expect(whox.map { $0.params[1] } == ["alice", "bob"])
        }
    }

    @Test("a server target other than this server is 402 No such server")
    func otherServerTargets() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            for (query, target) in [("WHOIS other.server bob", "other.server"), ("VERSION other.server", "other.server"),
                                    ("MOTD other.server", "other.server"), ("TIME other", "other"), ("VERSION bob", "bob")] {
                try await alice.send(query)
                let answer = try await alice.expect("an answer to \(query)") {
                    ["402", "311", "351", "375", "391"].contains($0.command)
                }
                #expect(answer.params == ["alice", target, "No such server"], "\(query)")
            }
            // This server, by name or by mask, and for WHOIS a nick on it, answer as usual.
            for (query, numeric) in [("WHOIS switchboard.local bob", "311"), ("WHOIS bob bob", "311"),
                                     ("VERSION switchboard.local", "351"), ("MOTD *.local", "375"),
                                     ("TIME SWITCHBOARD.LOCAL", "391"), ("TIME", "391")] {
                try await alice.send(query)
                let answer = try await alice.expect("an answer to \(query)") {
                    ["402", "311", "351", "375", "391"].contains($0.command)
                }
                #expect(answer.command == numeric, "\(query)")
            }
            await bob.close()
        }
    }

    @Test("ADMIN names the configured contact, INFO the version; both refuse other servers")
    func adminAndInfo() async throws {
        try await withServer(configure: { $0.contact = "Support team <support@example.com>" }) { server in
            let alice = try await server.client("alice")
            try await alice.send("ADMIN")
            let admin = try await alice.collect(until: "259")
            #expect(admin.map(\.command) == ["256", "257", "258", "259"])
            #expect(admin[0].params == ["alice", "switchboard.local", "Administrative info"])
            #expect(admin[3].params == ["alice", "Support team <support@example.com>"])
            try await alice.send("INFO switchboard.local")
            let info = try await alice.collect(until: "374")
            #expect(info.dropLast().allSatisfy { $0.command == "371" })
            #expect(info.contains { $0.params.last?.hasPrefix("switchboard-") == true })
            #expect(info.last?.params == ["alice", "End of INFO list"])
            for query in ["ADMIN other.server", "INFO other.server"] {
                try await alice.send(query)
                let answer = try await alice.expect("an answer to \(query)") { ["402", "256", "371"].contains($0.command) }
                #expect(answer.params == ["alice", "other.server", "No such server"], "\(query)")
            }
        }
        try await withServer { server in
            let bob = try await server.client("bob")
            try await bob.send("ADMIN")
            #expect(try await bob.expect("259").params == ["bob", "No administrative contact is set"])
        }
    }

    @Test("LINKS lists this server; IRC operator commands are refused with their numerics, not 421")
    func linksAndOperCommands() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            for (query, expected) in [
                ("LINKS", [["364", "*", "switchboard.local", "0 Switchboard live-chat IRC server"], ["365", "*", "End of /LINKS list"]]),
                ("LINKS *.local", [["364", "*.local", "switchboard.local", "0 Switchboard live-chat IRC server"],
                                   ["365", "*.local", "End of /LINKS list"]]),
                ("LINKS other.net", [["365", "other.net", "End of /LINKS list"]]),
                ("LINKS far.away *", [["402", "far.away", "No such server"]]),
            ] {
                try await alice.send(query)
                var answers: [[String]] = []
                while answers.last.map({ $0[0] == "365" || $0[0] == "402" }) != true {
                    let line = try await alice.expect("an answer to \(query)") { ["364", "365", "402", "421"].contains($0.command) }
                    answers.append([line.command] + line.params.dropFirst())
                }
                #expect(answers == expected, "\(query)")
            }
            for (command, numeric, text) in [
                ("OPER alice secret", "491", "No O-lines for your host"),
                ("OPER alice", "461", "Not enough parameters"),
                ("KILL bob :go away", "481", "Permission Denied- You're not an IRC operator"),
                ("WALLOPS :hello", "481", "Permission Denied- You're not an IRC operator"),
                ("DIE", "481", "Permission Denied- You're not an IRC operator"),
                ("USERS", "446", "USERS has been disabled"),
            ] {
                try await alice.send(command)
                let answer = try await alice.expect("an answer to \(command)") { $0.command.count == 3 && $0.command != "364" }
                #expect(answer.command == numeric, "\(command)")
                #expect(answer.params.last == text, "\(command)")
            }
            // Bob was not killed.
            try await bob.send("PING still-here")
            #expect(try await bob.expect("PONG").params.last == "still-here")
        }
    }

    @Test("PING and PONG without a token are 409; the connection lives on")
    func pingPongWithoutToken() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            for line in ["PONG", "PONG :", "PING"] {
                try await alice.send(line)
                #expect(try await alice.expect("409").params == ["alice", "No origin specified"], "\(line)")
            }
            try await alice.send("PONG switchboard.local")
            try await alice.send("PING check")
            let pong = try await alice.expect("an answer to PING check") { $0.command == "PONG" || $0.command == "409" }
            #expect(pong.command == "PONG" && pong.params.last == "check")
        }
    }

    @Test("several mode strings in one MODE line are all applied, each with its parameters")
    func severalModeStrings() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#ms")
            try await bob.send("JOIN #ms")
            try await bob.expect("366")
            try await alice.send("MODE #ms +o bob -t +l 5")
            let change = try await bob.expect("MODE") { $0.command == "MODE" && $0.params[0] == "#ms" }
            #expect(change.params == ["#ms", "+o-t+l", "bob", "5"])
            try await alice.send("MODE #ms")
            #expect(try await alice.expect("324").params == ["alice", "#ms", "+ln", "5"])
            // A parameter that is not a mode string is still ignored, as before.
            try await alice.send("MODE #ms +m extra")
            #expect(try await bob.expect("MODE").params == ["#ms", "+m"])
        }
    }

    @Test("USER with an empty real name is 461, as with none")
    func userWithEmptyRealname() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("PASS alice:\(TestServer.password)")
            try await client.send("NICK alice")
            try await client.send("USER alice 0 * :")
            let refusal = try await client.expect("an answer to USER") { $0.command == "461" || $0.command == "001" }
            #expect(refusal.params == ["alice", "USER", "Not enough parameters"])
            // Registration is still possible with a real name.
            try await client.send("USER alice 0 * :Alice")
            try await client.expect("001")
        }
    }
}

@Suite("Channel moderation and capability edges")
struct ModerationEdgeTests {
    @Test("only a channel operator's INVITE lets someone past a ban, a key or a limit; bans also match the real address after CHGHOST")
    func invitationsAndBans() async throws {
        try await withServer(operators: ["alice", "bob", "carol", "dave"]) { server in
            let alice = try await server.client("alice")   // the test server's admin
            let bob = try await server.client("bob")
            let dave = try await server.client("dave")
            for client in [alice, bob] {
                try await client.send("JOIN #bv")
                try await client.expect("366")
            }
            try await alice.send("MODE #bv +b dave")
            try await bob.expect("MODE")
            try await bob.send("INVITE dave #bv")
            try await bob.expect("341")
            try await dave.expect("INVITE")
            try await dave.send("JOIN #bv")
            #expect(try await dave.expect("474").params[1] == "#bv")
            try await alice.send("INVITE dave #bv")
            try await dave.expect("INVITE")
            try await dave.send("JOIN #bv")
            try await dave.expect("366")

            // A ban on the address still holds once CHGHOST has given bob another host.
            try await alice.send("CHGHOST bob staff helpdesk.example")
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.source == "bob!staff@helpdesk.example" }
            try await alice.send("MODE #bv +b *!*@127.0.0.1")
            try await bob.expect("MODE") { $0.command == "MODE" && $0.params.last == "*!*@127.0.0.1" }
            try await bob.send("PRIVMSG #bv :can I speak?")
            #expect(try await bob.expect("404").params[1] == "#bv")
        }
    }

    @Test("SETNAME is not echoed without the cap; MONITOR + alone is 461; LIST counts +i members; a message to oneself comes back twice with echo-message")
    func capabilityEdges() async throws {
        try await withServer { server in
            let plain = try await server.client("alice")
            try await plain.send("SETNAME :Alice Again")
            for empty in ["MONITOR +", "MONITOR - ,"] {
                try await plain.send(empty)
                #expect(try await plain.expect("461").params[1] == "MONITOR")
            }
            #expect(!plain.history.contains { $0.contains(" SETNAME ") })

            let bob = try await server.client("bob")
            for client in [plain, bob] {
                try await client.send("JOIN #count")
                try await client.expect("366")
            }
            try await bob.send("MODE bob +i")
            try await bob.expect("MODE")
            let outsider = try await server.client("carol", caps: ["echo-message", "labeled-response", "batch", "message-tags"])
            try await outsider.send("LIST >1")
            let listed = try await outsider.collect(until: "323").filter { $0.command == "322" }
            #expect(listed.map { $0.params[1...2] } == [["#count", "2"]], "\(listed)")

            try await outsider.send("@label=me PRIVMSG carol :note to self")
            let copies = [try await outsider.expect("PRIVMSG"), try await outsider.expect("PRIVMSG")]
            #expect(copies.map { $0.tag("label") } == [nil, "me"], "\(copies)")
            #expect(copies[0].tag("msgid") == copies[1].tag("msgid"))
        }
    }
}
