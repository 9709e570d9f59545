import Foundation
import IRCProtocol
import Testing

/// Serialized: its floods, slow readers and pastes measure the server's behaviour under
/// load, and would otherwise load the machine for each other.
@Suite("Robustness", .serialized)
struct RobustnessTests {
    /// The TLS listener (SwiftNIO) and the plaintext one (the server's own socket loops)
    /// read, write and close connections with different code.
    static let listeners = [true, false]

    @Test("lines over 512 bytes and oversized tags get 417 and the connection lives on", arguments: listeners)
    func oversized(tls: Bool) async throws {
        try await withServer { server in
            let alice = try await server.client("alice", tls: tls)
            try await alice.send("PRIVMSG alice :" + String(repeating: "a", count: 600))
            try await alice.expect("417")
            try await alice.send("@+x=" + String(repeating: "b", count: 4100) + " PRIVMSG alice :hi")
            try await alice.expect("417")
            // A line far beyond any limit is dropped without being buffered.
            try await alice.send(String(repeating: "c", count: 20_000))
            try await alice.expect("417")
            try await alice.send("PING :alive")
            #expect(try await alice.expect("PONG").params.last == "alive")
            // Exactly 510 bytes is fine.
            let prefix = "PRIVMSG alice :"
            try await alice.send(prefix + String(repeating: "d", count: 510 - prefix.utf8.count))
            try await alice.send("PING :after")
            let next = try await alice.expect("PONG")
            #expect(next.params.last == "after")
            #expect(!alice.history.contains { $0.contains(" 417 ") && $0.contains("after") })
        }
    }

    @Test("a 510-byte message, too long once the sender's prefix is added, arrives whole in two lines")
    func relayOverTheLimit() async throws {
        try await withServer { server in
            let alice = try await server.client("alice", caps: ["echo-message"])
            let bob = try await server.client("bob")
            for client in [alice, bob] {
                try await client.send("JOIN #long")
                try await client.expect("366")
            }
            let head = "PRIVMSG #long :"
            let words = (0..<100).map { String(format: "w%03d", $0) }.joined(separator: " ")
            let text = String(words.prefix(510 - head.utf8.count))
            try await alice.send(head + text)
            for client in [bob, alice] {
                let first = try await client.expect("PRIVMSG")
                let second = try await client.expect("PRIVMSG")
                #expect(first.params[1] + " " + second.params[1] == text)
                SocketFuzzTests.checkWire(client.history, of: "a member")
            }
            // A numeric that repeats a long parameter is shortened to fit.
            let nick = String(repeating: "n", count: 480)
            try await bob.send("WHOIS \(nick)")
            let reply = try await bob.expect("401")
            #expect(nick.hasPrefix(reply.params[1]) && reply.params[1].count > 400)
            SocketFuzzTests.checkWire(bob.history, of: "bob")
        }
    }

    @Test("a line that arrives in pieces, over several reads, is one line", arguments: listeners)
    func lineInPieces(tls: Bool) async throws {
        try await withServer { server in
            let alice = try await server.client("alice", tls: tls)
            for piece in ["PI", "NG :in ", "pieces\r", "\nPING :next\r\nPI", "NG :last\n"] {
                try await alice.sendBytes(Array(piece.utf8))
                try await Task.sleep(for: .milliseconds(30))
            }
            #expect(try await alice.expect("PONG").params.last == "in pieces")
            #expect(try await alice.expect("PONG").params.last == "next")
            #expect(try await alice.expect("PONG").params.last == "last")
        }
    }

    @Test("connections that come and go, some dropped without QUIT, leave the others working", arguments: listeners)
    func connectionsComeAndGo(tls: Bool) async throws {
        try await withServer { server in
            let watcher = try await server.client("alice", tls: tls)
            try await watcher.send("JOIN #lobby")
            try await watcher.expect("366")
            // Three rounds of 20: the descriptors of one round are reused by the next.
            for round in 0..<3 {
                var clients: [TestIRCClient] = []
                for index in 0..<20 {
                    let client = try await server.client("r\(round)n\(index)", login: "bob", tls: tls)
                    try await client.send("JOIN #lobby")
                    try await client.expect("366")
                    clients.append(client)
                }
                try await clients[19].send("PRIVMSG #lobby :round \(round)")
                try await watcher.expect("round \(round)") { $0.params.last == "round \(round)" }
                for (index, client) in clients.enumerated() {
                    if index.isMultiple(of: 2) {
                        try await client.send("QUIT :bye")
                    }
                    await client.close()
                }
                var gone = 0
                while gone < 20 {
                    let message = try await watcher.expect("QUIT", timeout: .seconds(10))
                    if message.source?.hasPrefix("r\(round)n") == true { gone += 1 }
                }
            }
            try await watcher.send("PING :still here")
            #expect(try await watcher.expect("PONG").params.last == "still here")
        }
    }

    @Test("lines sent before a half-close still run when they wait behind a database read", arguments: listeners)
    func halfCloseBehindHistory(tls: Bool) async throws {
        try await withServer { server in
            let watcher = try await server.client("alice", tls: tls)
            let bot = try await server.client("bob", caps: historyCaps, tls: tls)
            for client in [watcher, bot] {
                try await client.send("JOIN #pz")
                try await client.expect("366")
            }
            var lines = ""
            for index in 0..<10 { lines += "@label=L\(index) CHATHISTORY LATEST #pz * 1\r\n" }
            lines += "PRIVMSG #pz :last-line\r\n"
            try await bot.sendBytes(Array(lines.utf8))
            try await bot.channel.close(mode: .output)
            try await watcher.expect("last-line", timeout: .seconds(10)) { $0.command == "PRIVMSG" && $0.params.last == "last-line" }
            let quit = try await watcher.expect("QUIT")
            #expect(quit.source?.hasPrefix("bob!") == true)
        }
    }

    @Test("malformed input does not break the connection")
    func malformed() async throws {
        try await withServer { server in
            let alice = try await server.client("alice")
            for line in ["", "   ", ":onlysource", "@tag", "\u{1}", "PRIVMSG", "MODE", "JOIN ,,,", "NICK :"] {
                try await alice.send(line)
            }
            try await alice.send("PING :ok")
            #expect(try await alice.expect("PONG").params.last == "ok")
        }
    }

    @Test("a flooding client is slowed down, not disconnected")
    func floodIsSlowed() async throws {
        try await withServer(configure: { $0.exempt = []; $0.floodBurst = 5; $0.floodRate = 10 }) { server in
            let alice = try await server.client("alice")
            let started = ContinuousClock.now
            for index in 0..<25 { try await alice.send("PING :\(index)") }
            for index in 0..<25 {
                let pong = try await alice.expect("PONG", timeout: .seconds(10))
                #expect(pong.params.last == String(index))
            }
            let elapsed = ContinuousClock.now - started
            // 5 at once, then 20 at 10 per second: about two seconds of fake lag.
            #expect(elapsed > .milliseconds(1500))
            #expect(!alice.isClosed)
        }
    }

    @Test("a paste longer than the ping timeout is relayed whole: lines waiting for the flood budget are not silence")
    func pasteOutlastsThePingTimeout() async throws {
        try await withServer(configure: {
            $0.exempt = []; $0.floodBurst = 5; $0.floodRate = 8; $0.pingInterval = 1; $0.pingTimeout = 3
        }) { server in
            let alice = try await server.client("alice")
            let bob = try await server.client("bob")
            for client in [alice, bob] {
                client.answerPings()   // alice's answers wait behind her paste, in the server's queue
                try await client.send("JOIN #paste")
                try await client.expect("366")
            }
            // 50 lines, relayed at 8 a second: 5.6 s, past ping interval and timeout (4 s).
            // The server is not even reading alice's socket for much of it (backlog).
            for index in 1...50 { try await alice.send("PRIVMSG #paste :line \(index)") }
            var received = 0
            while received < 50 {
                let line = try await bob.expect("a line of the paste or alice leaving", timeout: .seconds(15)) {
                    ($0.command == "PRIVMSG" && $0.params[0] == "#paste") || $0.command == "QUIT"
                }
                #expect(line.command == "PRIVMSG", "\(line)")
                guard line.command == "PRIVMSG" else { break }
                received += 1
                if line.params[1] == "line 50" { break }
            }
            #expect(received == 50)
            #expect(!alice.isClosed)
        }
    }

    @Test("a paced client's lines still run after it leaves, and then it goes; one that queues more than can drain is Excess Flood")
    func burstThenGone() async throws {
        // 30 s + 30 s at 2 lines a second: at most 120 lines may wait.
        try await withServer(configure: {
            $0.exempt = []; $0.floodBurst = 5; $0.floodRate = 2; $0.pingInterval = 30; $0.pingTimeout = 30
        }) { server in
            let watcher = try await server.client("alice")
            let script = try await server.client("bob")
            for client in [watcher, script] {
                try await client.send("JOIN #g")
                try await client.expect("366")
            }
            // A script that pastes and quits: every line arrives, then its QUIT with its reason.
            try await script.sendBytes(Array((String(repeating: "PRIVMSG #g :hello\r\n", count: 8) + "QUIT :bye\r\n").utf8))
            await script.close()
            var lines = 0
            while true {
                let line = try await watcher.expect("bob's lines and QUIT", timeout: .seconds(10)) { $0.command == "PRIVMSG" || $0.command == "QUIT" }
                guard line.command == "PRIVMSG" else {
                    #expect(line.params.last?.contains("bye") == true, "\(line)")
                    break
                }
                lines += 1
            }
            #expect(lines == 8)

            // More than can drain in time: Excess Flood at once, and the nick is free, also when it left.
            let flooder = try await server.client("carol")
            try await flooder.sendBytes(Array(String(repeating: "PRIVMSG alice :hello\r\n", count: 200).utf8))
            let error = try await flooder.expect("ERROR")
            #expect(error.params.last?.contains("Excess Flood") == true, "\(error)")
            let ghost = try await server.client("dave", login: "carol")
            try await ghost.sendBytes(Array(String(repeating: "PRIVMSG alice :hello\r\n", count: 200).utf8))
            await ghost.close()
            var online = ["dave"]
            for _ in 0..<20 where !online.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                try await watcher.send("ISON dave")
                online = try await watcher.expect("303").params.last?.split(separator: " ").map(String.init) ?? []
            }
            #expect(online.isEmpty, "dave, gone with more than two minutes of queued lines, is still online")
        }
    }

    @Test("a client that stops reading is disconnected without slowing the others", arguments: listeners)
    func slowReader(tls: Bool) async throws {
        try await withServer(configure: { $0.sendQueue = 64 * 1024 }) { server in
            let alice = try await server.client("alice", tls: tls)
            let bob = try await server.client("bob", tls: tls)
            let slow = try await server.connect(tls: tls, receiveBuffer: 4096)
            try await slow.register(nick: "carol", login: "carol", password: TestServer.password)
            for client in [alice, bob, slow] {
                try await client.send("JOIN #busy")
                try await client.expect("366")
            }
            try await slow.channel.setOption(.autoRead, value: false).get()
            let text = String(repeating: "x", count: 400)
            var received = 0
            var quitReason: String?
            // Up to 16 MB in batches of 200 KB, until the server gives up on carol.
            batches: for batch in 0..<80 {
                var bytes: [UInt8] = []
                for line in 0..<500 { bytes += Array("PRIVMSG #busy :\(batch)-\(line) \(text)\r\n".utf8) }
                try await alice.sendBytes(bytes)
                while let message = try? await bob.next(timeout: .milliseconds(200)) {
                    if message.command == "PRIVMSG" { received += 1 }
                    if message.command == "QUIT", message.source?.hasPrefix("carol!") == true {
                        quitReason = message.params.first
                        break batches
                    }
                }
            }
            #expect(quitReason == "SendQ exceeded")
            #expect(received > 500)
            try await alice.send("PRIVMSG #busy :still flowing")
            try await bob.expect("still flowing", timeout: .seconds(10)) { $0.params.last == "still flowing" }
        }
    }

    @Test("SIGTERM-style shutdown sends ERROR to every client")
    func shutdown() async throws {
        let server = try await TestServer.start()
        let alice = try await server.client("alice")
        let bob = try await server.client("bob", tls: false)
        await server.stop()
        for client in [alice, bob] {
            let error = try await client.expect("ERROR")
            #expect(error.params == ["Server shutting down"])
            try await client.expectClosed()
        }
    }
}
