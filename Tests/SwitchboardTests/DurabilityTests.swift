import ChildProcesses
import Foundation
import IRCProtocol
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real server process, killed without warning in the middle of a conversation.
@Suite("Durability")
struct DurabilityTests {
    final class Acknowledged: Sendable {
        let ids = Mutex<[Int: Set<String>]>([:])   // conversation id -> acknowledged message ids
        func add(_ id: String, conversation: Int) { ids.withLock { _ = $0[conversation, default: []].insert(id) } }
        var snapshot: [Int: Set<String>] { ids.withLock { $0 } }
    }

    private static func launch(config: String) throws -> ChildProcess {
        try ChildProcess.spawn(try #require(SwitchboardBinary.path), ["serve", "--config", config])
    }

    /// Until both the IRC listener and the web bridge answer (they open one after the other).
    private static func waitForServer(irc port: Int, web: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var ircReady = false
        while ContinuousClock.now < deadline {
            if !ircReady, let probe = try? await TestIRCClient.connect(port: port, tls: false) {
                await probe.close()
                ircReady = true
            }
            if ircReady, (try? await WebTestClient(port: web).request("GET", "/healthz"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestTimeout(waitingFor: "the server to listen", seen: [])
    }

    @Test("SIGKILL while visitors and an operator are sending: every acknowledged message survives, on both sides")
    func killAndRestart() async throws {
        let folder = NSTemporaryDirectory() + "switchboard-durability-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (plain, web) = (try ServeProcessTests.freePort(), try ServeProcessTests.freePort())
        let config = folder + "/switchboard.toml"
        try """
            [[listen]]
            address = "127.0.0.1:\(plain)"
            tls = false
            [web]
            address = "127.0.0.1:\(web)"
            [storage]
            path = "\(folder)/switchboard.sqlite"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let added = try SwitchboardBinary.run(["operator", "add", "mitchell", "--name", "Mitchell", "--password-stdin",
                                                "--config", config], stdin: "pw-durable\n")
        #expect(added.status == 0)

        var server = try Self.launch(config: config)
        defer { server.killAndReap() }
        try await Self.waitForServer(irc: plain, web: web)
        let mitchell = try await TestIRCClient.connect(port: plain, tls: false)
        try await mitchell.register(nick: "mitchell", login: "mitchell", password: "pw-durable",
                                    caps: ["message-tags", "echo-message"], sasl: false)
        try await mitchell.send("JOIN #website")
        try await mitchell.expect("366")

        let client = WebTestClient(port: web)
        var visitors: [TestVisitor] = []
        for index in 0..<3 {
            visitors.append(try await TestVisitor.start(client, name: "Visitor\(index)"))
        }
        for visitor in visitors {
            try await mitchell.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
        }
        let acknowledged = Acknowledged()
        // Visitors send as fast as they are acknowledged; the operator answers in every conversation.
        let senders = visitors.map { visitor in
            Task {
                for index in 0..<90 {
                    guard let reply = try? await visitor.say("visitor \(visitor.id) message \(index)"), reply.status == 201,
                          let id = reply.json["id"] as? Int else { return }
                    acknowledged.add(String(id), conversation: visitor.id)
                }
            }
        }
        let operatorSender = Task {
            for index in 0..<90 {
                for visitor in visitors {
                    try? await mitchell.send("PRIVMSG \(visitor.channel) :operator message \(index)")
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let echoes = Task {
            while true {
                guard let message = try? await mitchell.next(timeout: .seconds(3)) else { return }
                if message.command == "PRIVMSG", message.source?.hasPrefix("mitchell!") == true,
                   let id = message.tag("msgid"), let conversation = Int(message.params[0].split(separator: "-").last ?? "") {
                    acknowledged.add(id, conversation: conversation)
                }
            }
        }
        // Kill while both sides are still sending, once some traffic is acknowledged (each sender
        // has at most 90 messages per conversation, so a replay of at most 181 stays within what
        // the server keeps in memory).
        let waitDeadline = ContinuousClock.now + .seconds(20)
        while acknowledged.snapshot.values.reduce(0, { $0 + $1.count }) < 40, ContinuousClock.now < waitDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        server.signal(SIGKILL)
        while server.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        for sender in senders { sender.cancel() }
        operatorSender.cancel()
        _ = await echoes.value
        let beforeKill = acknowledged.snapshot
        let total = beforeKill.values.reduce(0) { $0 + $1.count }
        #expect(total > 20, "too little traffic before the kill: \(total)")

        server = try Self.launch(config: config)
        try await Self.waitForServer(irc: plain, web: web)
        // The visitors' side: every acknowledged message (theirs and the operator's) is stored and served.
        for visitor in visitors {
            var stored: Set<String> = []
            var after = 0
            while true {
                let page = try await visitor.messages(after: after)
                let ids = page.messages.compactMap { $0["id"] as? Int }
                stored.formUnion(ids.map(String.init))
                guard page.json["more"] as? Bool == true, let last = ids.last else { break }
                after = last
            }
            let missing = (beforeKill[visitor.id] ?? []).subtracting(stored)
            #expect(missing.isEmpty, "conversation \(visitor.id) lost acknowledged messages \(missing.sorted())")
        }
        // The operator's side: reconnecting rejoins the conversations and replays them.
        let back = try await TestIRCClient.connect(port: plain, tls: false)
        try await back.register(nick: "mitchell", login: "mitchell", password: "pw-durable", caps: ["message-tags"], sasl: false)
        var replayed: [Int: Set<String>] = [:]
        // Read until everything acknowledged has come (or the replay stops for good): a
        // loaded machine may pause the replay longer than a quiet one would.
        let replayDeadline = ContinuousClock.now + .seconds(30)
        while visitors.contains(where: { !(beforeKill[$0.id] ?? []).isSubset(of: replayed[$0.id] ?? []) }),
              ContinuousClock.now < replayDeadline,
              let message = try? await back.next(timeout: .seconds(10)) {
            if message.command == "PRIVMSG", let id = message.tag("msgid"),
               let conversation = Int(message.params[0].split(separator: "-").last ?? "") {
                replayed[conversation, default: []].insert(id)
            }
        }
        for visitor in visitors {
            let missing = (beforeKill[visitor.id] ?? []).subtracting(replayed[visitor.id] ?? [])
            #expect(missing.isEmpty, "operator did not get acknowledged messages \(missing.sorted()) of \(visitor.channel)")
        }
        server.signal(SIGTERM)
        #expect(await server.exit(within: .seconds(15)), "the server did not stop on SIGTERM")
    }

    @Test("a database whose open conversations cannot be read stops the start, naming the file")
    func damagedDatabaseIsNamed() async throws {
        var path = ""
        let first = try await TestServer.start()
        path = first.server.config.storagePath
        _ = try await TestVisitor.start(WebTestClient(port: first.webPort), name: "Anna")
        await first.server.stop()   // the files stay
        // Damage the first bytes of the conversation table's root page (SQLite's own tool says where it is).
        let locate = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            print(c.execute("PRAGMA page_size").fetchone()[0], c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'conversation'").fetchone()[0])
            """, path], timeout: .seconds(30))
        let numbers = locate.output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(numbers.count == 2, "\(locate.output) \(locate.errors)")
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: UInt64((numbers[1] - 1) * numbers[0]))
        try file.write(contentsOf: Data(repeating: 0xFF, count: 64))
        try file.close()

        do {
            let second = try await TestServer.start(operators: []) { $0.storagePath = path }
            await second.stop()
            Issue.record("the server started on a damaged database")
        } catch {
            #expect("\(error)".contains("cannot read the database \(path)"), "\(error)")
            #expect("\(error)".contains("malformed"), "\(error)")
        }
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}
