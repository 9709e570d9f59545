import Foundation
import Testing
import TestSupport

/// Random requests to the visitor API: paths, methods, tokens, JSON of every
/// shape and bytes that are not JSON, then malformed HTTP over a raw socket.
/// Bounded (fixed counts from fixed seeds) and loopback only.
@Suite("Web API fuzzing")
struct WebFuzzTests {
    static let keys = ["text", "name", "page", "visitor", "url", "title", "rating", "comment", "after", "id", "token", ""]
    static let strings = [
        "", " ", "hello", "é😀", "\u{0}", "\u{7}\u{1B}[31m", "\n\r\t", "<script>alert(1)</script>", "'; DROP TABLE message; --",
        "https://shop.example/x?y=1", "javascript:alert(1)", "\u{202E}abc", "\u{FEFF}", String(repeating: "x", count: 4001),
        String(repeating: "é", count: 150),
    ]

    static func randomJSON(_ random: inout SeededGenerator, depth: Int = 0) -> Any {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 8), using: &random) {
        case 0: return strings.randomElement(using: &random)!
        case 1: return [-1, 0, 1, 3, 5, 2, Int.max, Int.min].randomElement(using: &random)!
        case 2: return [0.5, -0.0, 1e308, 3.0000001].randomElement(using: &random)!
        case 3: return Bool.random(using: &random)
        case 4: return NSNull()
        case 5:
            return (0..<Int.random(in: 0...3, using: &random)).map { _ in randomJSON(&random, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                object[keys.randomElement(using: &random)!] = randomJSON(&random, depth: depth + 1)
            }
            return object
        }
    }

    static func randomBody(_ random: inout SeededGenerator) -> Data? {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return nil
        case 1: return Data((0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
        case 2: return Data(#"{"text": "unterminated"#.utf8)
        case 3: return Data((String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)).utf8)
        case 4: return Data(#"{"text":"a","text":"b"}"#.utf8)
        case 5: return Data([0x7B, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D])   // {"text":"<bad UTF-8>"}
        default:
            let value = randomJSON(&random)
            let wrapped = JSONSerialization.isValidJSONObject(value) ? value : ["text": value]
            return try? JSONSerialization.data(withJSONObject: wrapped, options: [.fragmentsAllowed])
        }
    }

    /// Stored messages as a visitor reads them: ids increasing without repeats, every text present and within the limit.
    static func expectWellFormed(_ messages: [[String: Any]]) {
        let ids = messages.compactMap { $0["id"] as? Int }
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        #expect(messages.allSatisfy { ($0["text"] as? String).map { !$0.isEmpty && $0.unicodeScalars.count <= 4000 } ?? false })
    }

    static let allowedStatuses: Set<Int> = [200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 426, 429]

    @Test("random API requests get a clear answer, never a server error, and stored messages stay as they were",
          arguments: [UInt64(201), 202])
    func randomRequests(seed: UInt64) async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            // Raw HTTP on the wire, so what is checked is the server's answer, not a client library's reading of it.
            #expect(try await visitor.say("first").status == 201)
            #expect(try await visitor.say("second").status == 201)
            let before = try await visitor.messages().messages

            var random = SeededGenerator(seed: seed)
            let ids = ["\(visitor.id)", "\(visitor.id)", "0", "-1", "99999999999999999999", "abc", "%2e%2e", "1%00", "%F0%9F%98%80"]
            let routes = ["messages", "messages?after=-5", "messages?after=x", "messages?after=99999999999999999999", "pages",
                          "close", "rating", "events", "", "unknown"]
            var answered = 0
            for _ in 0..<300 {
                let method = ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].randomElement(using: &random)!
                let path: String
                switch Int.random(in: 0..<6, using: &random) {
                case 0: path = "/api/v1/livechat/" + ["website", "nope", "", "%00", "website/../website"].randomElement(using: &random)!
                case 1: path = "/api/v1/livechat/website/conversations"
                default:
                    // Never "close" with the real token: the conversation must stay open to be checked.
                    var route = routes.randomElement(using: &random)!
                    let id = ids.randomElement(using: &random)!
                    if route == "close" && id == "\(visitor.id)" { route = "pages" }
                    path = "/api/v1/conversations/\(id)/\(route)"
                }
                var headers: [String: String] = [:]
                switch Int.random(in: 0..<5, using: &random) {
                case 0: break
                case 1: headers["Authorization"] = "Bearer " + String(visitor.token.reversed())
                case 2: headers["Authorization"] = ["Bearer", "Basic Zm9vOmJhcg==", "Bearer \u{7F}", "bearer " + visitor.token].randomElement(using: &random)!
                default: headers["Authorization"] = "Bearer \(visitor.token)"
                }
                if Int.random(in: 0..<6, using: &random) == 0 {
                    headers["Origin"] = ["null", "https://evil.example", "http://127.0.0.1:\(server.webPort)"].randomElement(using: &random)!
                }
                var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(server.webPort)\r\nConnection: close\r\n"
                for (name, value) in headers { head += "\(name): \(value)\r\n" }
                let body = Self.randomBody(&random)
                if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
                let reply = try await RawConnection.exchange(port: server.webPort, request: Array((head + "\r\n").utf8) + Array(body ?? Data()))
                answered += 1
                #expect(Self.allowedStatuses.contains(reply.status), "\(method) \(path) got \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                if reply.status >= 400 {
                    #expect(reply.json["error"] is String, "\(method) \(path) \(reply.status) without a JSON error")
                }
            }
            #expect(answered == 300)

            // What was stored before is unchanged; whatever the fuzz added is well formed.
            let after = try await visitor.messages().messages
            #expect(after.count >= before.count)
            for (old, new) in zip(before, after) {
                #expect(old["id"] as? Int == new["id"] as? Int && old["text"] as? String == new["text"] as? String)
            }
            Self.expectWellFormed(after)
            // The server still starts conversations.
            #expect(try await TestVisitor.start(web, name: "Bruno").status != nil)
        }
    }

    @Test("random frames on the events WebSocket get acks or errors; the socket stays open and in step",
          arguments: [UInt64(401), 402])
    func randomSocketFrames(seed: UInt64) async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna")
            let socket = try await TestSocket.open(port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            var random = SeededGenerator(seed: seed)
            for _ in 0..<200 {
                if Int.random(in: 0..<5, using: &random) == 0 {
                    try await socket.sendText(["[", "null", "\"x\"", "{}", "{\"type\":", "🙂", String(repeating: "{", count: 3_000)].randomElement(using: &random)!)
                    continue
                }
                var frame: [String: Any] = [:]
                if let type = ["message", "message", "typing", "page", "", "ack"].randomElement(using: &random), Bool.random(using: &random) || type == "message" {
                    frame["type"] = type
                } else {
                    frame["type"] = Self.randomJSON(&random)
                }
                if Bool.random(using: &random) { frame["text"] = Self.randomJSON(&random) }
                if Bool.random(using: &random) { frame["client_id"] = Self.randomJSON(&random) }
                try await socket.send(frame)
            }
            try await socket.send(["type": "message", "text": "after the fuzz", "client_id": "last"])
            let ack = try await socket.next(timeout: .seconds(10)) { $0["type"] as? String == "ack" && $0["client_id"] as? String == "last" }
            #expect(ack["id"] is Int)

            let stored = try await visitor.messages().messages
            Self.expectWellFormed(stored)
            #expect(stored.last?["text"] as? String == "after the fuzz")
            await socket.close()
        }
    }

    @Test("malformed HTTP gets a 4xx or a closed connection; a silent connection a 408; the server carries on")
    func malformedHTTP() async throws {
        let logs = CapturedLogs()
        try await withServer(logs: logs) { server in
            // Opened first, checked last: by then its 10 s are up.
            let silent = try await RawConnection.connect(port: server.webPort)
            let trickling = try await RawConnection.connect(port: server.webPort)
            try await trickling.send("POST /api/v1/livechat/website/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{")
            let opened = ContinuousClock.now
            let host = "Host: 127.0.0.1:\(server.webPort)"
            let requests: [[String]] = [
                ["GARBAGE"],
                ["GET /api/v1/livechat/website HTTP/9.9", host],
                ["GET /api/v1/livechat/website HTTP/1.1", host, "Content-Length: -5"],
                ["POST /api/v1/livechat/website/conversations HTTP/1.1", host, "Content-Length: 3", "Content-Length: 400"],
                ["POST /api/v1/livechat/website/conversations HTTP/1.1", host, "Transfer-Encoding: chunked", "", "zz", "{}", "0"],
                ["POST /api/v1/livechat/website/conversations HTTP/1.1", host, "Transfer-Encoding: chunked", "Content-Length: 2", "", "2", "{}", "0"],
                ["GET /api/v1/livechat/\u{7F}%ff HTTP/1.1", host],
                ["GET /" + String(repeating: "a", count: 20_000) + " HTTP/1.1", host],
                ["GET /api/v1/livechat/website HTTP/1.1", host, "X-Long: " + String(repeating: "b", count: 100_000)],
                ["GET /api/v1/livechat/website HTTP/1.1", host] + (0..<2_000).map { "X-H\($0): v" },
                ["GET /api/v1/conversations/1/events HTTP/1.1", host, "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: not-base64!"],
            ]
            for lines in requests {
                let reply = try await RawConnection.exchange(port: server.webPort, request: Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
                // A 4xx, or a close without an answer when the request cannot be read at all.
                #expect(reply.status == 0 || (400..<500).contains(reply.status), "\(lines[0].prefix(60)) answered \(reply.status)")
            }
            let health = try await WebTestClient(port: server.webPort).request("GET", "/healthz")
            #expect(health.status == 200)

            for connection in [silent, trickling] {
                try await connection.wait(for: "request_timeout", timeout: .seconds(20))
                #expect(connection.text.hasPrefix("HTTP/1.1 408 "))
                let deadline = ContinuousClock.now + .seconds(5)
                while !connection.isClosed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(connection.isClosed)
            }
            #expect(ContinuousClock.now - opened >= .seconds(9))
        }
        // Bad requests are the client's problem, common on a public port: not the server's errors.
        let errors = logs.entries(atLeast: .warning).map(\.message).filter { !$0.contains("development certificate") }
        #expect(errors.isEmpty, "logged: \(errors)")
    }
}
