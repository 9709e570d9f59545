import Foundation
import IRCProtocol
import TestSupport
import Testing

/// A registered operator sends random commands, parameters and bytes over a real
/// socket. Bounded (a fixed number of lines from fixed seeds) and loopback only.
@Suite("Socket fuzzing")
struct SocketFuzzTests {
    static let commands = [
        "PRIVMSG", "NOTICE", "TAGMSG", "JOIN", "PART", "TOPIC", "NAMES", "LIST", "KICK", "INVITE", "MODE", "WHO",
        "WHOIS", "WHOWAS", "ISON", "USERHOST", "LUSERS", "MOTD", "VERSION", "TIME", "ADMIN", "INFO", "LINKS", "OPER", "KILL", "AWAY", "SETNAME", "MONITOR",
        "CHGHOST", "CHATHISTORY", "MARKREAD", "CAP", "PASS", "USER", "AUTHENTICATE", "PING", "PONG", "NICK",
        "privmsg", "FROBNICATE", "",
    ]
    static let words = [
        "#fuzz", "#fuzz", "#other", "#", "##", "#a,#b", "bob", "alice", "carol", "LiveChat", "nobody", "*", "0", "-1",
        "+o", "-o", "+v", "+b", "-b", "+k", "+l", "+imnst", "-imnst", "+iB", "+o-v+b", "LATEST", "BEFORE", "AFTER",
        "AROUND", "BETWEEN", "TARGETS", "msgid=x", "timestamp=2026-01-01T00:00:00.000Z", "+", "-", "L", "C", "S",
        "REQ", "LS", "END", "302", "sasl", "PLAIN", "help", "online", "offline", "languages fr", "name Zed", "10",
        "99999999999999999999", "a,b,c", "*!*@*", "é", "😀", "\u{1}ACTION dances\u{1}", ":", "::", ",", "!", "@",
    ]

    static func randomLine(_ random: inout SeededGenerator) -> [UInt8] {
        var line: [UInt8] = []
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            line += Array("@+draft/reply=x;+typing=active;label=l\(Int.random(in: 0...9, using: &random)) ".utf8)
        case 1:
            line += Array("@\(String(repeating: "k", count: Int.random(in: 1...40, using: &random)))=\\s\\:\\ ".utf8)
        default:
            break
        }
        line += Array(commands.randomElement(using: &random)!.utf8)
        for _ in 0..<Int.random(in: 0...5, using: &random) {
            line.append(UInt8(ascii: " "))
            line += Array(words.randomElement(using: &random)!.utf8)
        }
        switch Int.random(in: 0..<8, using: &random) {
        case 0: line += Array(" :".utf8) + Array(repeating: UInt8(ascii: "y"), count: Int.random(in: 0...520, using: &random))
        case 1: line += Array(" :broken ".utf8) + [[0xC3], [0xFF], [0xED, 0xA0, 0x80], [0x00]].randomElement(using: &random)!
        case 2: line += Array(" :".utf8) + Array(String(repeating: "é", count: Int.random(in: 200...260, using: &random)).utf8)
        case 3: line += Array(" :hello there".utf8)
        default: break
        }
        return line + [0x0D, 0x0A]
    }

    /// What a well-behaved server may send: valid UTF-8 lines that parse, at most 512 bytes without tags.
    static func checkWire(_ lines: [String], of who: String) {
        for line in lines {
            #expect(!line.contains("\u{FFFD}"), "\(who) received invalid UTF-8: \(line.debugDescription)")
            let message = try? IRCMessage.parse(line)
            #expect(message != nil, "\(who) received a line that does not parse: \(line.debugDescription)")
            let body = line.hasPrefix("@") ? String(line.drop { $0 != " " }.dropFirst()) : line
            #expect(body.utf8.count + 2 <= IRCLimits.maxLineBytes,
                    "\(who) received \(body.utf8.count + 2) bytes without tags: \(line.prefix(80))...")
        }
    }

    /// Lines a client sends before it is registered, right and wrong.
    static func registrationLine(_ random: inout SeededGenerator) -> [UInt8] {
        let payloads = ["\0alice\0wrong", "alice\0alice\0nope", "\0\0", "\0" + String(repeating: "x", count: 300) + "\0y", "bob"]
        let line: String
        switch Int.random(in: 0..<12, using: &random) {
        case 0: line = "CAP LS " + ["302", "301", "", "x"].randomElement(using: &random)!
        case 1: line = "CAP REQ :" + ["sasl", "message-tags batch", "-sasl", "nope", "sasl sasl", ""].randomElement(using: &random)!
        case 2: line = "CAP " + ["END", "LIST", "ACK", "NAK x"].randomElement(using: &random)!
        case 3: line = "AUTHENTICATE " + ["PLAIN", "EXTERNAL", "SCRAM-SHA-256", "*", "+", "=", "!!!!"].randomElement(using: &random)!
        case 4: line = "AUTHENTICATE " + Data(payloads.randomElement(using: &random)!.utf8).base64EncodedString()
        case 5: line = "AUTHENTICATE " + String(repeating: "QUFB", count: 100)
        case 6: line = "PASS " + ["alice:wrong", "alice", ":", "nobody:x", "alice:" + String(repeating: "p", count: 300)].randomElement(using: &random)!
        case 7: line = "NICK " + ["alice", "bob", "fuzz\(Int.random(in: 0...9, using: &random))", "#bad", "", "a b"].randomElement(using: &random)!
        case 8: line = "USER " + ["u 0 * :Real", "u", "", "u 0 * :" + String(repeating: "r", count: 400)].randomElement(using: &random)!
        default: return randomLine(&random)
        }
        return Array((line + "\r\n").utf8)
    }

    @Test("random registration attempts never register, break nothing, and a real operator still gets in",
          arguments: [UInt64(301), 302])
    func randomRegistration(seed: UInt64) async throws {
        try await withServer { server in
            var random = SeededGenerator(seed: seed)
            // Several at once, over TLS and plaintext, so their steps interleave on the server.
            var clients: [TestIRCClient] = []
            for index in 0..<4 { clients.append(try await server.connect(tls: index % 2 == 0)) }
            for _ in 0..<30 {
                for client in clients where !client.isClosed {
                    var chunk: [UInt8] = []
                    for _ in 0..<8 { chunk += Self.registrationLine(&random) }
                    try? await client.sendBytes(chunk)
                }
            }
            for client in clients where !client.isClosed {
                try? await client.send("PING :end")
                _ = try? await client.expect("PONG or the end", timeout: .seconds(10)) { $0.command == "PONG" || $0.command == "ERROR" }
            }
            for (index, client) in clients.enumerated() {
                #expect(!client.history.contains { (try? IRCMessage.parse($0))?.command == "001" }, "fuzz client \(index) registered")
                Self.checkWire(client.history, of: "fuzz client \(index)")
                await client.close()
            }
            let alice = try await server.client("alice")
            try await alice.send("PING :in")
            #expect(try await alice.expect("PONG").params.last == "in")
        }
    }

    @Test("random input from a registered operator leaves the server, the others and the database intact",
          arguments: [UInt64(101), 102])
    func randomInput(seed: UInt64) async throws {
        try await withServer { server in
            let caps = ["message-tags", "server-time", "echo-message", "batch", "labeled-response", "draft/chathistory",
                        "standard-replies", "account-tag", "extended-join", "multi-prefix", "away-notify"]
            let alice = try await server.client("alice", caps: caps)
            let bob = try await server.client("bob", caps: ["message-tags", "server-time"])
            try await alice.send("JOIN #fuzz")
            try await alice.expect("JOIN")
            try await bob.send("JOIN #fuzz")
            try await bob.expect("366")

            var random = SeededGenerator(seed: seed)
            for _ in 0..<40 {
                var chunk: [UInt8] = []
                for _ in 0..<25 { chunk += Self.randomLine(&random) }
                try await alice.sendBytes(chunk)
            }
            // Everything sent before is handled before this PING is answered.
            try await alice.send("PING :after-fuzz")
            let pong = try await alice.expect("PONG", timeout: .seconds(30)) { $0.command == "PONG" && $0.params.last == "after-fuzz" }
            #expect(pong.params.last == "after-fuzz")
            #expect(!alice.isClosed)

            // The others still chat, and a new client still registers.
            // Under a nick the fuzz never takes.
            let carol = try await server.client("latecomer", login: "carol")
            try await carol.send("JOIN #after")
            try await carol.expect("366")
            try await bob.send("JOIN #after")
            try await bob.expect("366")
            try await bob.send("PRIVMSG #after :still here")
            #expect(try await carol.expect("PRIVMSG").params.last == "still here")

            // The input reached many error paths, not just one.
            let errors = Set(alice.history.compactMap { try? IRCMessage.parse($0).command }.filter { $0.hasPrefix("4") })
            #expect(errors.count >= 10, "only \(errors.sorted()) were answered")
            Self.checkWire(alice.history, of: "alice")
            Self.checkWire(bob.history, of: "bob")
            let logins = try server.server.database.operators.all().map(\.login).sorted()
            #expect(logins == ["alice", "bob", "carol"])
        }
    }
}
