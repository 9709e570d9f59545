import Foundation
import HTTPTypes
import Testing

/// The visitor's events WebSocket under the conditions a real network makes:
/// events racing the upgrade, concurrent writers, a client that never answers.
@Suite("Events WebSocket")
struct EventSocketTests {
    /// alice, joined to #website, with a fresh visitor's conversation assigned to her.
    private func aliceWithVisitor(_ server: TestServer) async throws -> (TestIRCClient, TestVisitor) {
        let alice = try await server.client("alice")
        try await alice.send("JOIN #website")
        try await alice.expect("366")
        let visitor = try await TestVisitor.start(WebTestClient(port: server.webPort), name: "Anna")
        try await alice.expect("366")   // joined to the conversation's channel
        return (alice, visitor)
    }

    private func openSocket(_ server: TestServer, _ visitor: TestVisitor, after: Int? = nil,
                            answersClose: Bool = true) async throws -> TestSocket {
        let query = after.map { "?after=\($0)" } ?? ""
        return try await TestSocket.open(
            port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events\(query)",
            headers: [.authorization: "Bearer \(visitor.token)"], answersClose: answersClose)
    }

    @Test("an event right after the upgrade reaches the socket")
    func eventRightAfterUpgrade() async throws {
        try await withServer { server in
            let (alice, visitor) = try await aliceWithVisitor(server)
            for round in 0..<10 {
                let socket = try await openSocket(server, visitor)
                // No `after`: only live events come, so this one must not fall before the subscription.
                try await alice.send("PRIVMSG \(visitor.channel) :round \(round)")
                let event = try await socket.next { $0["type"] as? String == "message" }
                #expect(event["text"] as? String == "round \(round)")
                await socket.close()
            }
        }
    }

    @Test("messages written at once over HTTP and IRC reach the socket in the order of their ids")
    func concurrentWritersInIDOrder() async throws {
        try await withServer { server in
            let (alice, visitor) = try await aliceWithVisitor(server)
            let welcomeID = try #require(visitor.created.messages.last?["id"] as? Int)
            let socket = try await openSocket(server, visitor, after: welcomeID)
            let perSide = 120
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for index in 0..<perSide { try await alice.send("PRIVMSG \(visitor.channel) :irc \(index)") }
                }
                for lane in 0..<3 {
                    group.addTask {
                        for index in stride(from: lane, to: perSide, by: 3) {
                            let status = try await visitor.say("web \(index)").status
                            #expect(status == 201)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let ids = try await socket.messages(count: 2 * perSide, timeout: .seconds(30)).map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "out of order: \(zip(ids, ids.dropFirst()).filter { $0 >= $1 })")
        }
    }

    @Test("at shutdown every message stored from a socket has had its ack; the others were not stored")
    func shutdownAnswersWhatItStored() async throws {
        for round in 0..<3 {
            var server = try await TestServer.start()
            do {
                let (_, visitor) = try await aliceWithVisitor(server)
                let socket = try await openSocket(server, visitor)
                for index in 0..<40 { try await socket.send(["type": "message", "text": "s\(index)", "client_id": index]) }
                _ = try await socket.next { $0["type"] as? String == "ack" }   // storing is under way
                let reading = Task {
                    var acked: Set<String> = ["s0"]
                    while let frame = try? await socket.next(timeout: .seconds(10)) {
                        if frame["type"] as? String == "ack", let id = frame["client_id"] as? Int { acked.insert("s\(id)") }
                    }
                    return acked
                }
                server = try await server.restarted()
                let acked = await reading.value
                let stored = Set(try server.server.database.conversations.messages(conversationID: Int64(visitor.id), after: 0, limit: 100)
                    .messages.map(\.text).filter { $0.hasPrefix("s") })
                #expect(stored.contains("s0"))
                #expect(stored.subtracting(acked).isEmpty, "round \(round): stored without an ack: \(stored.subtracting(acked).sorted())")
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }

    @Test("a message's ack is not lost when an oversized message follows it; the oversized one gets an error")
    func ackBeforeOversizedMessage() async throws {
        try await withServer { server in
            let (_, visitor) = try await aliceWithVisitor(server)
            let socket = try await openSocket(server, visitor)
            try await socket.send(["type": "message", "text": "ok", "client_id": 2])
            try await socket.sendText("{\"type\":\"message\",\"client_id\":3,\"text\":\"" + String(repeating: "x", count: 20_000) + "\"}")
            let ack = try await socket.next { $0["type"] as? String == "ack" }
            #expect(ack["client_id"] as? Int == 2)
            let refused = try await socket.next { $0["type"] as? String == "error" }
            #expect(refused["error"] as? String == "body_too_large" && refused["client_id"] as? Int == 3)
            try await socket.send(["type": "message", "text": "still here", "client_id": 4])
            #expect(try await socket.next { $0["type"] as? String == "ack" }["client_id"] as? Int == 4)
        }
    }

    @Test("frames that break the protocol close the socket with the code that says why")
    func protocolErrorsHaveTheirCloseCodes() async throws {
        try await withServer { server in
            let (_, visitor) = try await aliceWithVisitor(server)
            let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 30_000)
            let cases: [(String, Int, [(opcode: UInt8, payload: [UInt8], fin: Bool)])] = [
                // 90,000 bytes in three fragments: over the 64 KiB a message may reach (4 x max_body_bytes).
                ("a fragmented message too large", 1009, [(0x1, chunk, false), (0x0, chunk, false), (0x0, chunk, true)]),
                ("text that is not UTF-8", 1007, [(0x1, [0xFF, 0xFE], true)]),
                ("a continuation with no message to continue", 1002, [(0x0, Array("{}".utf8), true)]),
            ]
            for (what, code, frames) in cases {
                let socket = try await openSocket(server, visitor)
                for frame in frames { try await socket.sendFrame(opcode: frame.opcode, payload: frame.payload, fin: frame.fin) }
                try await socket.waitUntilClosed()
                #expect(socket.closeCode == code, "\(what): \(socket.closeCode.map(String.init) ?? "no close frame")")
            }
        }
    }
}
