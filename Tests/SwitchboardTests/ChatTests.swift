import Foundation
import IRCProtocol
import Testing

@Suite("Channels and private messages")
struct ChatTests {
    @Test("three operators talk in a channel and in private")
    func threeOperators() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            let carol = try await server.client("carol")
            try await alice.send("JOIN #team")
            let join = try await alice.expect("JOIN")
            #expect(join.source?.hasPrefix("alice!") == true)
            let names = try await alice.expect("353")
            #expect(names.params.last == "@alice")
            try await alice.expect("366")
            try await bob.send("JOIN #team")
            try await bob.expect("366")
            try await carol.send("JOIN #team")
            let carolNames = try await carol.expect("353")
            #expect(Set(carolNames.params.last!.split(separator: " ")) == ["@alice", "bob", "carol"])
            try await alice.expect("JOIN") { $0.command == "JOIN" && $0.source?.hasPrefix("carol!") == true }

            try await bob.send("PRIVMSG #team :hello team, ünïcödé ✓")
            for reader in [alice, carol] {
                let message = try await reader.expect("PRIVMSG")
                #expect(message.source?.hasPrefix("bob!bob@") == true)
                #expect(message.params == ["#team", "hello team, ünïcödé ✓"])
            }
            // Without echo-message the sender does not get its own message back.
            #expect(try await bob.expectNothing { $0.command == "PRIVMSG" } == nil)
            // Any spelling of the name reaches the channel; it is relayed under the channel's own.
            try await carol.send("PRIVMSG #TEAM :same channel")
            for reader in [alice, bob] {
                #expect(try await reader.expect("PRIVMSG").params == ["#team", "same channel"])
            }

            try await carol.send("PRIVMSG alice :a private word")
            let direct = try await alice.expect("PRIVMSG")
            #expect(direct.params == ["alice", "a private word"])
            #expect(direct.source?.hasPrefix("carol!") == true)

            try await alice.send("NOTICE bob :heads up")
            let notice = try await bob.expect("NOTICE")
            #expect(notice.params == ["bob", "heads up"])

            try await carol.send("PART #team :bye")
            let part = try await alice.expect("PART")
            #expect(part.params == ["#team", "bye"])
            try await bob.send("QUIT :done")
            let quit = try await alice.expect("QUIT")
            #expect(quit.params == ["Quit: done"])
        }
    }

    @Test("a channel message reaches every member the same, byte for byte, whichever way its line was written")
    func sameLineEitherWay() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["echo-message", "server-time", "message-tags", "account-tag"])
            let bob = try await server.client("bob", caps: ["server-time", "account-tag"])
            let carol = try await server.client("carol")
            for member in [alice, bob, carol] {
                try await member.send("JOIN #same")
                try await member.expect("366")
            }
            // The usual form first, relayed from its bytes; then forms only the general parser
            // reads: a lower-case command, the channel in other letters, two spaces, no ':'.
            let forms = ["PRIVMSG #same :same words", "privmsg #same :same words", "PRIVMSG #SAME :same words",
                         "PRIVMSG  #same :same words", "NOTICE #same :noted", "notice #same noted",
                         "PRIVMSG #same ::)", "privmsg #same ::)", "PRIVMSG #same :one", "PRIVMSG #same one"]
            for form in forms { try await alice.send(form) }
            var shapes: [String] = []
            for member in [alice, bob, carol] {
                for _ in forms { try await member.expect("PRIVMSG or NOTICE") { $0.command == "PRIVMSG" || $0.command == "NOTICE" } }
                // Every line but its msgid and time value.
                let lines = member.history.filter { $0.contains("PRIVMSG #same ") || $0.contains("NOTICE #same ") }.map {
                    $0.replacingOccurrences(of: #"(time|msgid)=[^; ]*"#, with: "$1=", options: .regularExpression)
                }
                #expect(lines.count == forms.count)
                for pair in stride(from: 0, to: 4, by: 1) { #expect(lines[pair] == lines[0], "\(lines)") }
                #expect(lines[4] == lines[5] && lines[6] == lines[7] && lines[8] == lines[9], "\(lines)")
                #expect(lines[0].hasSuffix(" PRIVMSG #same :same words") && lines[6].hasSuffix(" PRIVMSG #same ::)")
                        && lines[8].hasSuffix(" PRIVMSG #same one"), "\(lines)")
                shapes.append(String(lines[0].prefix { $0 != "!" }))
            }
            // Each with the tags it negotiated.
            #expect(shapes == ["@time=;msgid=;account=alice :alice", "@time=;account=alice :alice", ":alice"])
        }
    }

    @Test("a channel whose name starts with '#' and a combining mark is a channel everywhere")
    func combiningMarkChannel() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            let name = "#\u{301}accent"
            for member in [alice, bob] {
                try await member.send("JOIN \(name)")
                try await member.expect("366")
            }
            try await alice.send("PRIVMSG \(name) :hi")
            #expect(try await bob.expect("PRIVMSG").params == [name, "hi"])
            try await alice.send("MODE \(name)")
            #expect(try await alice.expect("324").params.dropFirst().first == name)
            try await alice.send("WHO \(name)")
            #expect(try await alice.expect("315").params.dropFirst().first == name)
        }
    }

    @Test("LIST filters by name, glob, negated glob and user count (ELIST=MNU)")
    func listFilters() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            try await alice.send("JOIN #web-one,#web-two,#help,#a.b")
            for _ in 0..<4 { try await alice.expect("366") }
            try await bob.send("JOIN #web-one,#help")
            for _ in 0..<2 { try await bob.expect("366") }
            try await alice.send("MODE #help +s")
            try await alice.expect("MODE")

            func list(_ filter: String, as client: TestIRCClient) async throws -> [String: String] {
                try await client.send(filter.isEmpty ? "LIST" : "LIST \(filter)")
                try await client.expect("321")
                var listed: [String: String] = [:]
                while true {
                    let line = try await client.expect("322 or 323") { $0.command == "322" || $0.command == "323" }
                    if line.command == "323" { return listed }
                    listed[line.params[1]] = line.params[2]
                }
            }
            // The live chat channel #website is there too, empty.
            #expect(try await list("", as: alice) == ["#web-one": "2", "#web-two": "1", "#help": "2", "#a.b": "1", "#website": "0"])
            #expect(try await list("#WEB-*", as: alice).keys.sorted() == ["#web-one", "#web-two"])
            #expect(try await list("#a.*", as: alice).keys.sorted() == ["#a.b"])
            #expect(try await list(">1", as: alice).keys.sorted() == ["#help", "#web-one"])
            #expect(try await list("<2", as: alice).keys.sorted() == ["#a.b", "#web-two", "#website"])
            #expect(try await list("#web*,>1", as: alice).keys.sorted() == ["#web-one"])
            #expect(try await list("!#web*", as: alice).keys.sorted() == ["#a.b", "#help"])
            #expect(try await list("#help,#a.b,!#help", as: alice).keys.sorted() == ["#a.b"])
            #expect(try await list(">9", as: alice).isEmpty)
            // A secret channel stays hidden from non-members, whatever the filter.
            let carol = try await server.client("carol")
            #expect(try await list(">1", as: carol).keys.sorted() == ["#web-one"])
        }
    }

    @Test("error numerics for messages, joins and parts")
    func errors() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("PRIVMSG nobody :hi")
            #expect(try await alice.expect("401").params[1] == "nobody")
            try await alice.send("PRIVMSG #nowhere :hi")
            #expect(try await alice.expect("403").params[1] == "#nowhere")
            try await alice.send("PRIVMSG alice")
            try await alice.expect("412")
            try await alice.send("PRIVMSG")
            try await alice.expect("411")
            try await alice.send("PART #nowhere")
            try await alice.expect("403")
            try await alice.send("JOIN bad-channel")
            try await alice.expect("403")
            try await alice.send("FROBNICATE")
            #expect(try await alice.expect("421").params[1] == "FROBNICATE")
            try await alice.send("NICK 9lives")
            try await alice.expect("432")
            try await alice.send("NICK LiveChat")
            try await alice.expect("432")
            try await alice.send("PRIVMSG a,b,c,d,e :too many")
            try await alice.expect("407")
            try await alice.send("USER again 0 * :x")
            try await alice.expect("462")
            try await alice.send("KICK #nowhere bob")
            try await alice.expect("403")
            try await alice.send("JOIN")
            try await alice.expect("461")
        }
    }

    @Test("channel modes: ops, voice, moderation, keys, limits, invite-only, bans, topic lock")
    func channelModes() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            let carol = try await server.client("carol")
            try await alice.send("JOIN #ops")
            try await alice.expect("366")
            try await alice.send("MODE #ops")
            let modes = try await alice.expect("324")
            #expect(modes.params[2] == "+nt")
            try await alice.expect("329")

            // +t: only ops set the topic.
            try await bob.send("JOIN #ops")
            try await bob.expect("366")
            try await bob.send("TOPIC #ops :bob's topic")
            try await bob.expect("482")
            try await alice.send("TOPIC #ops :Support team")
            #expect(try await bob.expect("TOPIC").params == ["#ops", "Support team"])
            try await bob.send("TOPIC #ops")
            #expect(try await bob.expect("332").params.last == "Support team")
            try await bob.expect("333")

            // +m with +v.
            try await alice.send("MODE #ops +m")
            try await bob.expect("MODE")
            try await bob.send("PRIVMSG #ops :can I speak?")
            try await bob.expect("404")
            try await alice.send("MODE #ops +v bob")
            let voice = try await bob.expect("MODE")
            #expect(voice.params == ["#ops", "+v", "bob"])
            try await bob.send("PRIVMSG #ops :now I can")
            #expect(try await alice.expect("PRIVMSG").params.last == "now I can")
            try await bob.send("MODE #ops +o bob")
            try await bob.expect("482")

            // +k and +l.
            try await alice.send("MODE #ops +kl secret 2")
            let keyed = try await alice.expect("MODE")
            #expect(keyed.params == ["#ops", "+kl", "secret", "2"])
            try await carol.send("JOIN #ops secret")
            try await carol.expect("471")
            try await alice.send("MODE #ops -l")
            try await alice.expect("MODE")
            try await carol.send("JOIN #ops wrong")
            try await carol.expect("475")
            try await carol.send("JOIN #ops secret")
            try await carol.expect("366")
            try await carol.send("PART #ops")
            try await carol.expect("PART")

            // +i with INVITE, and invite-notify is tested with the caps.
            try await alice.send("MODE #ops -k+i *")
            try await alice.expect("MODE")
            try await carol.send("JOIN #ops")
            try await carol.expect("473")
            try await alice.send("INVITE carol #ops")
            try await alice.expect("341")
            let invite = try await carol.expect("INVITE")
            #expect(invite.params == ["carol", "#ops"])
            try await carol.send("JOIN #ops")
            try await carol.expect("366")

            // +b and KICK.
            try await alice.send("MODE #ops +b carol!*@*")
            try await alice.expect("MODE")
            try await alice.send("MODE #ops b")
            #expect(try await alice.expect("367").params[2] == "carol!*@*")
            try await alice.expect("368")
            try await carol.send("PRIVMSG #ops :am I banned?")
            try await carol.expect("404")
            try await alice.send("KICK #ops carol :out")
            let kick = try await carol.expect("KICK")
            #expect(kick.params == ["#ops", "carol", "out"])
            try await carol.send("JOIN #ops")
            try await carol.expect("474")

            try await alice.send("MODE #ops +z")
            try await alice.expect("472")
            try await alice.send("MODE #ops +o nobody")
            try await alice.expect("401")
        }
    }

    @Test("WHO with a mask: nick, host (dots and all) and real name globs, full masks")
    func whoMasks() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            _ = try await server.client("bob")
            func who(_ mask: String) async throws -> [String] {
                try await alice.send("WHO \(mask)")
                return try await alice.collect(until: "315").filter { $0.command == "352" }.map { $0.params[5] }.sorted()
            }
            #expect(try await who("b*") == ["bob"])
            #expect(try await who("127.0.0.*") == ["alice", "bob"])
            #expect(try await who("127.0.0.1") == ["alice", "bob"])
            #expect(try await who("bob?real*") == ["bob"])
            #expect(try await who("*!alice@127.0.0.*") == ["alice"])
            #expect(try await who("10.*").isEmpty)
        }
    }

    @Test("user modes, AWAY, ISON, USERHOST, WHOIS, WHO, WHOWAS, LIST, NAMES")
    func queries() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            try await alice.send("JOIN #help")
            try await alice.expect("366")
            try await alice.send("TOPIC #help :Ask here")
            try await alice.expect("TOPIC")
            try await bob.send("MODE bob +i")
            #expect(try await bob.expect("MODE").params == ["bob", "+i"])
            try await bob.send("MODE bob")
            #expect(try await bob.expect("221").params[1] == "+i")
            try await bob.send("MODE alice +i")
            try await bob.expect("502")
            try await bob.send("MODE bob +x")
            try await bob.expect("501")

            try await bob.send("AWAY :lunch")
            try await bob.expect("306")
            try await alice.send("PRIVMSG bob :are you there?")
            #expect(try await alice.expect("301").params.last == "lunch")
            try await alice.send("USERHOST bob alice")
            let userhost = try await alice.expect("302")
            #expect(userhost.params[1].contains("bob=-bob@"))
            #expect(userhost.params[1].contains("alice=+alice@"))
            try await bob.send("AWAY")
            try await bob.expect("305")

            try await alice.send("ISON bob nobody alice")
            #expect(try await alice.expect("303").params[1] == "bob alice")

            try await alice.send("WHOIS bob")
            let whois = try await alice.collect(until: "318")
            let whoisCommands = whois.map(\.command)
            #expect(whoisCommands.contains("311"))
            #expect(whoisCommands.contains("312"))
            #expect(whoisCommands.contains("671"))
            #expect(whois.first { $0.command == "330" }?.params[2] == "bob")
            #expect(whoisCommands.contains("317"))
            try await alice.send("WHOIS ghost")
            try await alice.expect("401")
            try await alice.expect("318")

            try await alice.send("WHO #help")
            let who = try await alice.expect("352")
            #expect(who.params[1] == "#help")
            #expect(who.params[5] == "alice")
            #expect(who.params[6] == "H@")
            try await alice.expect("315")
            try await alice.send("WHO #help %tcnfa,42")
            let whox = try await alice.expect("354")
            #expect(whox.params == ["alice", "42", "#help", "alice", "H@", "alice"])
            try await alice.expect("315")

            try await alice.send("LIST")
            try await alice.expect("321")
            let entry = try await alice.expect("322")
            #expect(entry.params[1] == "#help")
            #expect(entry.params[2] == "1")
            #expect(entry.params[3].hasSuffix("Ask here"))
            try await alice.expect("323")

            try await bob.send("NICK robert")
            #expect(try await bob.expect("NICK").params == ["robert"])
            try await alice.send("WHOWAS bob")
            let was = try await alice.expect("314")
            #expect(was.params[1] == "bob")
            try await alice.expect("369")
            try await alice.send("WHOWAS nobody")
            try await alice.expect("406")

            try await alice.send("NAMES #help")
            #expect(try await alice.expect("353").params.last == "@alice")
        }
    }

    @Test("a target named twice gets the message once; a TAGMSG without tags goes nowhere")
    func duplicateTargetsAndEmptyTagmsg() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob", caps: ["message-tags"])
            try await bob.send("JOIN #t")
            try await bob.expect("366")
            try await alice.send("JOIN #t")
            try await alice.expect("366")
            try await alice.send("PRIVMSG bob,BOB,#t,#T :once")
            #expect(try await bob.expect("PRIVMSG").params == ["bob", "once"])
            #expect(try await bob.expect("PRIVMSG").params == ["#t", "once"])
            #expect(try await bob.expectNothing { $0.command == "PRIVMSG" } == nil)
            // alice did not negotiate message-tags: her tags are dropped, and so is the empty TAGMSG.
            try await alice.send("@+typing=active TAGMSG #t")
            try await alice.send("@+typing=active TAGMSG bob")
            #expect(try await bob.expectNothing { $0.command == "TAGMSG" } == nil)
        }
    }

    @Test("MONITOR reports nicks coming and going")
    func monitor() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("MONITOR + bob,carol")
            let offline = try await alice.expect("731")
            #expect(offline.params[1] == "bob,carol")
            // One nick in two spellings is one entry and one answer.
            try await alice.send("MONITOR + dave,DAVE")
            #expect(try await alice.expect("731").params[1] == "dave")
            try await alice.send("MONITOR - dave")
            let bob = try await server.client("bob")
            let online = try await alice.expect("730")
            #expect(online.params[1].hasPrefix("bob!bob@"))
            try await alice.send("MONITOR L")
            #expect(try await alice.expect("732").params[1] == "bob,carol")
            try await alice.expect("733")
            try await alice.send("MONITOR S")
            try await alice.expect("730")
            #expect(try await alice.expect("731").params[1] == "carol")
            try await bob.send("QUIT")
            #expect(try await alice.expect("731").params[1] == "bob")
            try await alice.send("MONITOR - bob")
            try await alice.send("MONITOR C")
            try await alice.send("MONITOR L")
            try await alice.expect("733")
        }
    }
}
