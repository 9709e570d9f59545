import Foundation
import HTTPTypes
import Hummingbird
import IRCProtocol
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Synchronization
import Testing
import SwitchboardApp
@testable import WebBridge

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The web bridge over real HTTP and WebSocket, against a whole server.
@Suite("Web API")
struct WebAPITests {
    // MARK: Channel and conversations

    @Test("GET /api/v1/livechat/{slug} describes the channel; an unknown slug is a JSON 404")
    func channelInfo() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let info = try await web.request("GET", "/api/v1/livechat/website")
            #expect(info.status == 200)
            #expect(info.headers["content-type"]?.hasPrefix("application/json") == true)
            #expect(info.json["slug"] as? String == "website")
            #expect(info.json["name"] as? String == "Website")
            #expect(info.json["welcome"] as? String == "How may I help you?")
            #expect(info.json["button"] as? String == "Need help? Chat with us.")
            #expect(info.json["available"] as? Bool == false)
            #expect(info.json["languages"] as? [String] == ["en", "fr", "es", "de"])

            let missing = try await web.request("GET", "/api/v1/livechat/nope")
            #expect(missing.status == 404)
            #expect(missing.json["error"] as? String == "unknown_channel")
            #expect(missing.json["message"] is String)

            let noRoute = try await web.request("GET", "/api/v1/nothing/here")
            #expect(noRoute.status == 404)
            #expect(noRoute.json["error"] as? String == "not_found")

            let noChannel = try await web.request("POST", "/api/v1/livechat/nope/conversations", json: [:])
            #expect(noChannel.status == 404)
            #expect(noChannel.json["error"] as? String == "unknown_channel")
        }
    }

    @Test("HTTP/1.0 without keep-alive, and Connection: close in any case, end the connection after the answer")
    func connectionPersistence() async throws {
        try await withServer { server in
            let host = "Host: 127.0.0.1:\(server.webPort)"
            for (request, closes) in [
                ("GET /healthz HTTP/1.0\r\n\r\n", true),
                ("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
                ("GET /healthz HTTP/1.1\r\n\(host)\r\n\r\n", false),
                ("GET /healthz HTTP/1.1\r\n\(host)\r\nConnection: Close\r\n\r\n", true),
                ("GET /healthz HTTP/1.1\r\n\(host)\r\nConnection: TE, close\r\nTE: trailers\r\n\r\n", true),
            ] {
                let connection = try await RawConnection.connect(port: server.webPort)
                try await connection.send(request)
                #expect(try await connection.head().status == "HTTP/1.1 200 OK", "\(request)")
                // Closed at once, or still open well after the answer (the idle timeout is 60 s).
                let deadline = ContinuousClock.now + .seconds(closes ? 5 : 1)
                while !connection.isClosed, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(connection.isClosed == closes, "\(request)")
                await connection.close()
            }
        }
    }

    @Test("an Upgrade the server does not take is ignored: the request is answered as plain HTTP")
    func ignoredUpgrades() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let events = "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)"
            let host = "Host: 127.0.0.1:\(server.webPort)"
            for (path, headers, status, error) in [
                ("/healthz", ["Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAAQAAP__"], 200, nil),
                ("/healthz", ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                              "Sec-WebSocket-Version: 13"], 200, nil),
                ("/api/v1/livechat/website", ["Upgrade: foo", "Connection: Upgrade"], 200, nil),
                (events, ["Upgrade: h2c", "Connection: Upgrade"], 426, "upgrade_required"),
                (events, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"], 400, "bad_request"),
                (events, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                          "Sec-WebSocket-Version: 8"], 426, "upgrade_required"),
                ("/api/v1/conversations/\(visitor.id)/events?token=wrong", ["Upgrade: websocket", "Connection: Upgrade"], 401, "unauthorized"),
            ] {
                let request = (["GET \(path) HTTP/1.1", host, "Connection: close"] + headers).joined(separator: "\r\n") + "\r\n\r\n"
                let reply = try await RawConnection.exchange(port: server.webPort, request: Array(request.utf8))
                #expect(reply.status == status, "\(path) \(headers)")
                if let error {
                    let json = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any]
                    #expect(json?["error"] as? String == error, "\(path) \(headers)")
                }
                if status == 426 { #expect(reply.headers["sec-websocket-version"] == "13") }
            }
            // The decoder took the request for an upgrade and reads no other on that
            // connection: the answer closes it rather than leave the next request hanging.
            let kept = try await RawConnection.connect(port: server.webPort)
            try await kept.send("GET /healthz HTTP/1.1\r\n\(host)\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
            let head = try await kept.head()
            #expect(head.status == "HTTP/1.1 200 OK")
            #expect(head.headers.contains { $0.lowercased() == "connection: close" }, "\(head.headers)")
            let deadline = ContinuousClock.now + .seconds(5)
            while !kept.isClosed, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(kept.isClosed)
        }
    }

    @Test("a known route asked with another method is 405 with Allow; an unknown route stays 404")
    func wrongMethod() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            for (method, path, allow) in [
                ("GET", "/api/v1/livechat/website/conversations", "OPTIONS, POST"),
                ("DELETE", "/api/v1/livechat/website", "GET, HEAD, OPTIONS"),
                ("PUT", "/api/v1/conversations/1/messages", "GET, HEAD, OPTIONS, POST"),
                ("POST", "/healthz", "GET, HEAD, OPTIONS"),
                ("PATCH", "/widget.js", "GET, HEAD, OPTIONS"),
            ] {
                let answer = try await web.request(method, path)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.headers["allow"] == allow, "\(method) \(path)")
                #expect(answer.json["error"] as? String == "method_not_allowed", "\(method) \(path)")
                #expect((answer.json["message"] as? String)?.contains("does not take \(method)") == true)
            }
            #expect(try await web.request("DELETE", "/api/v1/nothing/here").status == 404)
            // OPTIONS names a route's methods, and is 404 where no route is.
            let options = try await web.request("OPTIONS", "/healthz")
            #expect(options.status == 204 && options.headers["allow"] == "GET, HEAD, OPTIONS")
            #expect(try await web.request("OPTIONS", "/api/v1/nothing/here").status == 404)
            // The right method still works.
            #expect(try await web.request("GET", "/api/v1/livechat/website").status == 200)
        }
    }

    @Test("Starting a conversation: 201 with id, token, status, operator, languages and the welcome message first")
    func createConversation() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna", languages: "fr-CH, fr;q=0.9, ja;q=0.8, en;q=0.5")
            let json = visitor.created.json
            #expect(visitor.created.status == 201)
            #expect(visitor.id > 0)
            #expect(visitor.token.count >= 20)
            #expect(json["status"] as? String == "waiting")            // nobody is in #website
            #expect(json.keys.contains("operator"))
            #expect(json["operator"] is NSNull)
            // Ranked, only languages enabled on the server (ja is not), the visitor's own tags kept.
            #expect(json["languages"] as? [String] == ["fr-CH", "fr", "en"])
            let messages = visitor.created.messages
            #expect(messages.count == 1)
            let welcome = try #require(messages.first)
            #expect(welcome["text"] as? String == "How may I help you?")
            #expect((welcome["id"] as? Int ?? 0) > 0)
            let author = try #require(welcome["author"] as? [String: Any])
            #expect(author["kind"] is String)
            #expect(author["name"] as? String != nil)
            try expectTimestamp(welcome["at"])

            // The token reads the conversation: the welcome message first.
            let page = try await visitor.messages()
            #expect(page.status == 200)
            #expect(page.json["more"] as? Bool == false)
            #expect(page.messages.first?["text"] as? String == "How may I help you?")

            // An empty body is an empty object; no enabled language is no preference.
            let bare = try await web.request("POST", "/api/v1/livechat/website/conversations", headers: ["Accept-Language": "ja, *"])
            #expect(bare.status == 201)
            #expect(bare.json["languages"] as? [String] == [])
        }
    }

    @Test("GET /api/v1/conversations/{id} tells where the conversation stands: waiting, assigned, closed")
    func conversationState() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web, name: "Anna", languages: "fr, en;q=0.5")
            let auth = ["Authorization": "Bearer \(visitor.token)"]
            let path = "/api/v1/conversations/\(visitor.id)"
            let waiting = try await web.request("GET", path, headers: auth)
            #expect(waiting.status == 200)
            #expect(waiting.json["id"] as? Int == visitor.id)
            #expect(waiting.json["status"] as? String == "waiting")
            #expect(waiting.json["operator"] is NSNull && waiting.json["reason"] is NSNull)
            #expect(waiting.json["languages"] as? [String] == ["fr", "en"])

            // Assigned while the visitor was not listening: the state says so.
            let alice = try await operatorInWebsite(server, "alice")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            let assigned = try await web.request("GET", path, headers: auth)
            #expect(assigned.json["status"] as? String == "assigned")
            #expect((assigned.json["operator"] as? [String: Any])?["name"] as? String == "Alice")

            #expect(try await visitor.close().status == 200)
            let closed = try await web.request("GET", path, headers: auth)
            #expect(closed.json["status"] as? String == "closed")
            #expect(closed.json["reason"] as? String == "Closed by the visitor")
            #expect(try await web.request("GET", path, headers: ["Authorization": "Bearer nope"]).status == 401)
        }
    }

    @Test("Posting a message: 201 with id and at once stored; it is then in the history")
    func postMessage() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let posted = try await visitor.say("Hello, is anyone there?")
            #expect(posted.status == 201)
            let id = try #require(posted.json["id"] as? Int)
            try expectTimestamp(posted.json["at"])
            let history = try await visitor.messages()
            #expect(history.messages.last?["id"] as? Int == id)
            #expect(history.messages.last?["text"] as? String == "Hello, is anyone there?")
            let author = history.messages.last?["author"] as? [String: Any]
            #expect(author?["kind"] as? String == "visitor")

            let after = try await visitor.messages(after: id)
            #expect(after.messages.isEmpty)
            #expect(after.json["more"] as? Bool == false)

            let pages = try await visitor.visit("https://shop.example/cart", title: "Cart")
            #expect(pages.status == 200)
        }
    }

    @Test("Messages come in pages of 100, oldest first, with more")
    func paging() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            for number in 1...105 {
                #expect(try await visitor.say("message \(number)").status == 201)
            }
            let first = try await visitor.messages()
            #expect(first.messages.count == 100)
            #expect(first.json["more"] as? Bool == true)
            let lastOfFirst = try #require(first.messages.last?["id"] as? Int)
            let second = try await visitor.messages(after: lastOfFirst)
            #expect(second.messages.count == 6)                  // welcome + 105 messages in all
            #expect(second.json["more"] as? Bool == false)
            #expect(second.messages.last?["text"] as? String == "message 105")
            let ids = (first.messages + second.messages).compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted() && Set(ids).count == 106)
        }
    }

    // MARK: Tokens

    @Test("A token grants its own conversation only: everything else is the same 401")
    func tokenIsolation() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let anna = try await TestVisitor.start(web, name: "Anna")
            let bob = try await TestVisitor.start(web, name: "Bob")
            let bobAuth = ["Authorization": "Bearer \(bob.token)"]
            let annaPath = "/api/v1/conversations/\(anna.id)"

            let read = try await web.request("GET", annaPath + "/messages", headers: bobAuth)
            let write = try await web.request("POST", annaPath + "/messages", json: ["text": "hi"], headers: bobAuth)
            let page = try await web.request("POST", annaPath + "/pages", json: ["url": "https://x.example"], headers: bobAuth)
            let close = try await web.request("POST", annaPath + "/close", headers: bobAuth)
            let rate = try await web.request("POST", annaPath + "/rating", json: ["rating": 1], headers: bobAuth)
            let none = try await web.request("GET", annaPath + "/messages")
            let garbage = try await web.request("GET", annaPath + "/messages", headers: ["Authorization": "Bearer nope"])
            let basic = try await web.request("GET", annaPath + "/messages", headers: ["Authorization": "Basic \(anna.token)"])
            let unknown = try await web.request("GET", "/api/v1/conversations/987654/messages", headers: bobAuth)
            let notAnID = try await web.request("GET", "/api/v1/conversations/abc/messages", headers: bobAuth)
            for reply in [read, write, page, close, rate, none, garbage, basic, unknown, notAnID] {
                #expect(reply.status == 401)
                #expect(reply.json["error"] as? String == "unauthorized")
            }
            // An unknown id and a wrong token look exactly the same.
            #expect(unknown.body == read.body)
            #expect(unknown.headers["www-authenticate"] == read.headers["www-authenticate"])

            // Nothing was written to Anna's conversation; Bob's token still works for Bob.
            #expect(try await anna.messages().messages.count == 1)
            #expect(try await bob.say("my own").status == 201)
        }
    }

    // MARK: Bad input

    @Test("Bad input is a 400 with a code: bad JSON, no text, too long, bad rating")
    func badInput() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let auth = ["Authorization": "Bearer \(visitor.token)"]
            let path = "/api/v1/conversations/\(visitor.id)"

            let cases: [(String, Data, String)] = [
                ("/messages", Data("{\"text\": ".utf8), "bad_request"),
                ("/messages", Data("[1, 2]".utf8), "bad_request"),
                ("/messages", Data("{\"text\": 42}".utf8), "bad_request"),
                ("/messages", Data("{}".utf8), "text_required"),
                ("/messages", Data("{\"text\": \"  \\n \"}".utf8), "text_required"),
                ("/messages", Data("{\"text\": \"\\u200b\\ufeff \"}".utf8), "text_required"),
                ("/messages", try JSONSerialization.data(withJSONObject: ["text": String(repeating: "é", count: 4001)]), "text_too_long"),
                // NUL would cut the stored text short; escape sequences would reach operators' terminals.
                ("/messages", Data("{\"text\": \"\\u0000\"}".utf8), "bad_request"),
                ("/messages", Data("{\"text\": \"a\\u0000b\"}".utf8), "bad_request"),
                ("/messages", Data("{\"text\": \"\\u001b[31mred\"}".utf8), "bad_request"),
                ("/rating", Data("{\"rating\": 5, \"comment\": \"bell\\u0007\"}".utf8), "bad_request"),
                ("/rating", Data("{\"rating\": 5, \"comment\": \"\\u0000\"}".utf8), "bad_request"),
                ("/rating", Data("{\"rating\": 4}".utf8), "invalid_rating"),
                ("/rating", Data("{\"rating\": 4.5}".utf8), "invalid_rating"),
                ("/rating", Data("{\"rating\": null}".utf8), "invalid_rating"),
                ("/rating", Data("{}".utf8), "invalid_rating"),
                ("/rating", Data("{\"rating\": \"5\"}".utf8), "bad_request"),
                ("/rating", Data("{\"rating\": true}".utf8), "bad_request"),
                ("/pages", Data("{\"title\": \"no url\"}".utf8), "bad_request"),
            ]
            for (route, body, code) in cases {
                let reply = try await web.request("POST", path + route, rawBody: body, headers: auth)
                #expect(reply.status == 400, "\(route) \(String(decoding: body.prefix(40), as: UTF8.self))")
                #expect(reply.json["error"] as? String == code, "\(route) \(String(decoding: body.prefix(40), as: UTF8.self))")
                #expect((reply.json["message"] as? String)?.isEmpty == false)
            }
            let badAfter = try await web.request("GET", path + "/messages?after=-3", headers: auth)
            #expect(badAfter.status == 400)
            let badCreate = try await web.request("POST", "/api/v1/livechat/website/conversations", rawBody: Data("nope".utf8))
            #expect(badCreate.status == 400)
            #expect(badCreate.json["error"] as? String == "bad_request")

            // Exactly 4000 characters is fine, and so are line breaks and tabs, stored as sent.
            #expect(try await visitor.say(String(repeating: "é", count: 4000)).status == 201)
            #expect(try await visitor.say("two\r\nlines\tand a tab").status == 201)
            #expect(try await visitor.messages().messages.last?["text"] as? String == "two\r\nlines\tand a tab")
            let comment = try await web.request("POST", path + "/rating", json: ["rating": 5, "comment": "Quick\nand\tkind"], headers: auth)
            #expect(comment.status == 200, "\(comment.json)")
        }
    }

    @Test("A body over the limit is a JSON 413, with or without Content-Length")
    func oversizedBody() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let big = try JSONSerialization.data(withJSONObject: ["text": String(repeating: "x", count: 17 * 1024)])
            let message = try await web.request("POST", "/api/v1/conversations/\(visitor.id)/messages", rawBody: big,
                                                headers: ["Authorization": "Bearer \(visitor.token)"])
            #expect(message.status == 413)
            #expect(message.json["error"] as? String == "body_too_large")
            let create = try await web.request("POST", "/api/v1/livechat/website/conversations",
                                               rawBody: try JSONSerialization.data(withJSONObject: ["name": String(repeating: "n", count: 20_000)]))
            #expect(create.status == 413)
            #expect(create.json["error"] as? String == "body_too_large")

            // Chunked, so the size is only known while reading.
            let raw = try await server.connect(tls: false, to: server.webPort)
            try await raw.send("POST /api/v1/livechat/website/conversations HTTP/1.1")
            try await raw.send("Host: 127.0.0.1:\(server.webPort)")
            try await raw.send("Content-Type: application/json")
            try await raw.send("Transfer-Encoding: chunked")
            try await raw.send("")
            let chunk = String(repeating: " ", count: 8192)
            for _ in 0..<3 {
                try await raw.send(String(chunk.utf8.count, radix: 16))
                try await raw.send(chunk)
            }
            try await raw.send("0")
            try await raw.send("")
            let status = try await raw.nextLine()
            #expect(status.hasPrefix("HTTP/1.1 413"))
            let headers = try await raw.headerLines()
            #expect(headers.contains { $0.lowercased().hasPrefix("content-type: application/json") })
            await raw.close()

            // The server is fine afterwards.
            #expect(try await visitor.say("still here").status == 201)
        }
    }

    // MARK: Closing

    @Test("After close, a new message is a 409 conversation_closed; closing twice is fine; rating works")
    func closedConversation() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            #expect(try await visitor.say("bye").status == 201)
            let close = try await visitor.close()
            #expect(close.status == 200)
            #expect(close.json["status"] as? String == "closed")
            let after = try await visitor.say("one more thing")
            #expect(after.status == 409)
            #expect(after.json["error"] as? String == "conversation_closed")
            #expect(try await visitor.close().status == 200)
            let rating = try await web.request("POST", "/api/v1/conversations/\(visitor.id)/rating",
                                               json: ["rating": 5, "comment": "Quick and kind."],
                                               headers: ["Authorization": "Bearer \(visitor.token)"])
            #expect(rating.status == 200)
            // The history stays readable.
            #expect(try await visitor.messages().messages.contains { $0["text"] as? String == "bye" })

            // On the socket: `closed` at once, with the reason, then the server closes.
            let socket = try await TestSocket.open(port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)&after=0")
            let replayed = try await socket.messages(count: 2)
            #expect(replayed.last?.text == "bye")
            let closed = try await socket.next { $0["type"] as? String == "closed" }
            #expect(closed["reason"] as? String == "Closed by the visitor")
            try await socket.waitUntilClosed()
        }
    }

    @Test("messages racing the visitor's close: each is refused, or delivered before `closed`, never stored after it")
    func messagesRacingTheClose() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let alice = try await operatorInWebsite(server, "alice")
            let visitor = try await TestVisitor.start(web, name: "Race")
            try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
            let socket = try await TestSocket.open(port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
            // 20 messages, the close, 20 more, all at once.
            let accepted = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<41 {
                    group.addTask {
                        if index == 20 { _ = try await visitor.close(); return nil }
                        let text = "m\(index)"
                        return try await visitor.say(text).status == 201 ? text : nil
                    }
                }
                var texts: Set<String> = []
                for try await text in group { if let text { texts.insert(text) } }
                return texts
            }
            // Whatever was accepted reached the visitor's socket before `closed`, and the operator before the PART.
            var delivered: Set<String> = []
            while true {
                let event = try await socket.next()
                if event["type"] as? String == "closed" { break }
                if event["type"] as? String == "message", let text = event["text"] as? String, text.hasPrefix("m") { delivered.insert(text) }
            }
            #expect(delivered == accepted)
            var relayed: Set<String> = []
            while true {
                let line = try await alice.next()
                if line.command == "PART", line.params.first == visitor.channel { break }
                if line.command == "PRIVMSG", line.params.first == visitor.channel, line.params[1].hasPrefix("m") { relayed.insert(line.params[1]) }
            }
            #expect(relayed == accepted)
            let stored = Set(try await visitor.messages().messages.compactMap { $0["text"] as? String }.filter { $0.hasPrefix("m") })
            #expect(stored == accepted)
        }
    }

    @Test("socket messages racing the visitor's close: a stored one always has its ack before `closed`")
    func socketMessagesRacingTheClose() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let alice = try await operatorInWebsite(server, "alice")
            for round in 0..<5 {
                let visitor = try await TestVisitor.start(web, name: "Race\(round)")
                try await alice.expect("366") { $0.command == "366" && $0.params[1] == visitor.channel }
                let socket = try await TestSocket.open(port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)")
                for index in 0..<5 { try await socket.send(["type": "message", "text": "w\(index)", "client_id": "c\(index)"]) }
                _ = try await visitor.close()
                var acked: Set<String> = []
                while true {
                    let event = try await socket.next()
                    if event["type"] as? String == "closed" { break }
                    if event["type"] as? String == "ack", let id = event["client_id"] as? String { acked.insert("w" + id.dropFirst()) }
                }
                let stored = Set(try await visitor.messages().messages.compactMap { $0["text"] as? String }.filter { $0.hasPrefix("w") })
                #expect(stored == acked, "round \(round): stored \(stored.sorted()), acked \(acked.sorted())")
                await socket.close()
            }
        }
    }

    @Test("a request still trickling in on a kept-alive connection does not hold the shutdown")
    func tricklingRequestDoesNotHoldShutdown() async throws {
        let server = try await TestServer.start()
        let raw = try await TestIRCClient.connect(port: server.webPort, tls: false)
        try await raw.sendBytes(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try await raw.nextLine().hasPrefix("HTTP/1.1 200"))
        try await raw.sendBytes(Array(("POST /api/v1/livechat/website/conversations HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{").utf8))
        let stopped = StopFlag()
        Task { await server.stop(); stopped.set() }   // not awaited: a stop that hangs must fail the test, not hang it
        // The web bridge gives its requests 5 s; the rest is margin for a loaded machine (held, it never stopped).
        for _ in 0..<600 where !stopped.isSet { try await Task.sleep(for: .milliseconds(100)) }
        #expect(stopped.isSet, "the server was still stopping after 60 s")
    }

    // MARK: Rate limits

    @Test("Per-IP limits: conversations and messages (HTTP and WebSocket together) get 429 with Retry-After")
    func rateLimits() async throws {
        try await withServer(configure: {
            $0.exempt = []
            $0.webConversationsPerMinute = 1
            $0.webMessagesPerMinute = 3
        }) { server in
            let web = WebTestClient(port: server.webPort)
            // Refused requests start nothing and use none of the budget, whatever field is wrong.
            for _ in 0..<3 {
                let bad = try await web.request("POST", "/api/v1/livechat/website/conversations", rawBody: Data("nope".utf8))
                #expect(bad.status == 400)
            }
            for body in [["name": "\u{202E}bad"], ["name": "a\tb"], ["page": "https://shop.example/\ta"], ["visitor": "v\u{2028}w"]] {
                let bad = try await web.request("POST", "/api/v1/livechat/website/conversations", json: body)
                #expect(bad.status == 400, "\(body): \(bad.status)")
            }
            let visitor = try await TestVisitor.start(web)
            let second = try await web.request("POST", "/api/v1/livechat/website/conversations", json: [:])
            #expect(second.status == 429)
            #expect(second.json["error"] as? String == "rate_limited")
            let retryAfter = try #require(second.headers["retry-after"].flatMap { Int($0) })
            #expect((1...60).contains(retryAfter))

            #expect(try await visitor.say("one").status == 201)
            let lastID = try #require(try await visitor.say("two").json["id"] as? Int)
            let socket = try await TestSocket.open(
                port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?after=\(lastID)",
                headers: [.authorization: "Bearer \(visitor.token)"])
            try await socket.send(["type": "message", "text": "three", "client_id": "c3"])
            let ack = try await socket.next { $0["type"] as? String == "ack" }
            #expect(ack["client_id"] as? String == "c3")
            try await socket.send(["type": "message", "text": "four", "client_id": "c4"])
            let refused = try await socket.next { $0["type"] as? String == "error" }
            #expect(refused["error"] as? String == "rate_limited")
            #expect(refused["client_id"] as? String == "c4")
            #expect((refused["retry_after"] as? Int ?? 0) >= 1)
            let overHTTP = try await visitor.say("five")
            #expect(overHTTP.status == 429)
            #expect(overHTTP.json["error"] as? String == "rate_limited")
            #expect(overHTTP.headers["retry-after"] != nil)
            await socket.close()

            let texts = try await visitor.messages().messages.compactMap { $0["text"] as? String }
            #expect(texts.suffix(3) == ["one", "two", "three"])
        }
    }

    @Test("Loopback is exempt from the per-IP limits by default")
    func exemptAddresses() async throws {
        try await withServer(configure: {
            $0.webConversationsPerMinute = 1
            $0.webMessagesPerMinute = 1
        }) { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            _ = try await TestVisitor.start(web)
            _ = try await TestVisitor.start(web)
            for number in 1...5 {
                #expect(try await visitor.say("message \(number)").status == 201)
            }
        }
    }

    // MARK: Origins

    @Test("Origins: foreign ones get 403 on the API and the WebSocket; allowed and same-origin pages get CORS")
    func origins() async throws {
        try await withServer(configure: { $0.allowedOrigins = ["https://shop.example"] }) { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)

            let foreign = try await web.request("GET", "/api/v1/livechat/website", headers: ["Origin": "https://evil.example"])
            #expect(foreign.status == 403)
            #expect(foreign.json["error"] as? String == "origin_not_allowed")
            #expect(foreign.headers["access-control-allow-origin"] == nil)
            let foreignPost = try await web.request("POST", "/api/v1/conversations/\(visitor.id)/messages", json: ["text": "x"],
                                                    headers: ["Origin": "https://evil.example", "Authorization": "Bearer \(visitor.token)"])
            #expect(foreignPost.status == 403)
            // The router skips empty path segments: so does the origin check.
            for path in ["//api/v1/livechat/website/conversations", "///api/v1/livechat/website/conversations"] {
                let sneaky = try await web.request("POST", path, json: [:], headers: ["Origin": "https://evil.example"])
                #expect(sneaky.status == 403, "\(path)")
            }
            let nullOrigin = try await web.request("GET", "/api/v1/livechat/website", headers: ["Origin": "null"])
            #expect(nullOrigin.status == 403)

            let allowed = try await web.request("GET", "/api/v1/livechat/website", headers: ["Origin": "https://shop.example"])
            #expect(allowed.status == 200)
            #expect(allowed.headers["access-control-allow-origin"] == "https://shop.example")
            #expect(allowed.headers["vary"]?.contains("Origin") == true)
            // Errors carry CORS too, so the page can read them.
            let allowedError = try await web.request("GET", "/api/v1/conversations/\(visitor.id)/messages",
                                                     headers: ["Origin": "https://shop.example"])
            #expect(allowedError.status == 401)
            #expect(allowedError.headers["access-control-allow-origin"] == "https://shop.example")

            let preflight = try await web.request("OPTIONS", "/api/v1/conversations/\(visitor.id)/messages", headers: [
                "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            ])
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == "https://shop.example")
            #expect(preflight.headers["access-control-allow-methods"]?.contains("POST") == true)
            #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true)
            #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("content-type") == true)
            let foreignPreflight = try await web.request("OPTIONS", "/api/v1/livechat/website/conversations", headers: [
                "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            ])
            #expect(foreignPreflight.status == 403)
            // A preflight names the methods of its route; a path no route has is 404, as for any method.
            let routePreflight = try await web.request("OPTIONS", "/api/v1/livechat/website", headers: ["Origin": "https://shop.example"])
            #expect(routePreflight.status == 204)
            #expect(routePreflight.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS")
            let unknownPreflight = try await web.request("OPTIONS", "/api/v1/nonexistent", headers: ["Origin": "https://shop.example"])
            #expect(unknownPreflight.status == 404)
            #expect(unknownPreflight.headers["access-control-allow-methods"] == nil)

            // The server's own pages: the Origin matches the Host header, whatever the scheme.
            let same = try await web.request("GET", "/api/v1/livechat/website", headers: ["Origin": "http://127.0.0.1:\(server.webPort)"])
            #expect(same.status == 200)
            let sameBehindTLSProxy = try await web.request("GET", "/api/v1/livechat/website",
                                                           headers: ["Origin": "https://127.0.0.1:\(server.webPort)"])
            #expect(sameBehindTLSProxy.status == 200)

            // The WebSocket: a foreign origin is refused before the upgrade, an allowed one is upgraded.
            let refused = try await server.rawUpgrade(path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)",
                                                      origin: "https://evil.example")
            #expect(refused.status.hasPrefix("HTTP/1.1 403"))
            #expect(refused.headers.contains { $0.lowercased().hasPrefix("content-type: application/json") })
            #expect(try await refused.body()["error"] as? String == "origin_not_allowed")
            let upgraded = try await server.rawUpgrade(path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)",
                                                       origin: "https://shop.example")
            #expect(upgraded.status.hasPrefix("HTTP/1.1 101"))
        }
    }

    // MARK: WebSocket

    @Test("A bad token on the events WebSocket is a 401 before any upgrade")
    func socketBadToken() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let anna = try await TestVisitor.start(web)
            let bob = try await TestVisitor.start(web)
            for path in [
                "/api/v1/conversations/\(anna.id)/events?token=\(bob.token)",
                "/api/v1/conversations/\(anna.id)/events",
                "/api/v1/conversations/999999/events?token=\(anna.token)",
            ] {
                let reply = try await server.rawUpgrade(path: path)
                #expect(reply.status.hasPrefix("HTTP/1.1 401"), "\(path)")
                #expect(!reply.headers.contains { $0.lowercased().hasPrefix("upgrade:") })
                #expect(reply.headers.contains { $0.lowercased().hasPrefix("content-type: application/json") })
                #expect(try await reply.body()["error"] as? String == "unauthorized")
            }
            let wrongBearer = try await server.rawUpgrade(path: "/api/v1/conversations/\(anna.id)/events",
                                                          extraHeaders: ["Authorization: Bearer \(bob.token)"])
            #expect(wrongBearer.status.hasPrefix("HTTP/1.1 401"))
            let good = try await server.rawUpgrade(path: "/api/v1/conversations/\(anna.id)/events",
                                                   extraHeaders: ["Authorization: Bearer \(anna.token)"])
            #expect(good.status.hasPrefix("HTTP/1.1 101"))

            // The test client sees a refused upgrade.
            await #expect(throws: TestSocket.UpgradeRefused.self) {
                let socket = try await TestSocket.open(port: server.webPort, path: "/api/v1/conversations/\(anna.id)/events?token=\(bob.token)")
                await socket.close()
            }
            // Without an upgrade, the route says so (after the same token check).
            let plain = try await web.request("GET", "/api/v1/conversations/\(anna.id)/events?token=\(anna.token)")
            #expect(plain.status == 426)
            #expect(plain.json["error"] as? String == "upgrade_required")
            let plainBad = try await web.request("GET", "/api/v1/conversations/\(anna.id)/events?token=\(bob.token)")
            #expect(plainBad.status == 401)
        }
    }

    @Test("?after= replays the stored messages, then live ones, without gaps or duplicates")
    func socketReplay() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let welcomeID = try #require(visitor.created.messages.first?["id"] as? Int)
            var posted: [Int] = []
            for number in 1...3 {
                posted.append(try #require(try await visitor.say("before \(number)").json["id"] as? Int))
            }
            // From after the first message: the two others, in order.
            let socket = try await TestSocket.open(port: server.webPort,
                                                   path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)&after=\(posted[0])")
            let replay = try await socket.messages(count: 2)
            #expect(replay.map(\.id) == Array(posted[1...]))
            #expect(replay.map(\.text) == ["before 2", "before 3"])
            try expectTimestamp(replay.first?.json["at"])

            // Live, while more messages are posted concurrently with a second socket connecting from the start.
            let writer = Task {
                var ids: [Int] = []
                for number in 1...30 {
                    if let id = try await visitor.say("live \(number)").json["id"] as? Int { ids.append(id) }
                }
                return ids
            }
            let fromStart = try await TestSocket.open(port: server.webPort,
                                                      path: "/api/v1/conversations/\(visitor.id)/events?token=\(visitor.token)&after=0")
            let live = try await writer.value
            #expect(live.count == 30)
            let everything = [welcomeID] + posted + live
            let seenByFirst = try await socket.messages(count: 30)
            #expect(seenByFirst.map(\.id) == live)
            let seenBySecond = try await fromStart.messages(count: everything.count)
            #expect(seenBySecond.map(\.id) == everything)
            // Nothing more (no duplicates) arrives.
            try await Task.sleep(for: .milliseconds(300))
            #expect(socket.pendingMessages.isEmpty)
            #expect(fromStart.pendingMessages.isEmpty)
            await socket.close()
            await fromStart.close()
        }
    }

    @Test("A message posted over HTTP shows up on the socket; one sent on the socket is acked and stored")
    func socketMessages() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let visitor = try await TestVisitor.start(web)
            let welcomeID = try #require(visitor.created.messages.first?["id"] as? Int)
            let socket = try await TestSocket.open(
                port: server.webPort, path: "/api/v1/conversations/\(visitor.id)/events?after=\(welcomeID)",
                headers: [.authorization: "Bearer \(visitor.token)"])

            let posted = try await visitor.say("over HTTP")
            let postedID = try #require(posted.json["id"] as? Int)
            let event = try await socket.next { $0["type"] as? String == "message" }
            #expect(event["id"] as? Int == postedID)
            #expect(event["text"] as? String == "over HTTP")
            #expect((event["author"] as? [String: Any])?["kind"] as? String == "visitor")
            try expectTimestamp(event["at"])

            try await socket.send(["type": "message", "text": "over the socket", "client_id": "abc-1"])
            let ack = try await socket.next { $0["type"] as? String == "ack" }
            #expect(ack["client_id"] as? String == "abc-1")
            let ackID = try #require(ack["id"] as? Int)
            try expectTimestamp(ack["at"])
            #expect(ackID > postedID)
            let stored = try await visitor.messages(after: postedID)
            #expect(stored.messages.first?["id"] as? Int == ackID)
            #expect(stored.messages.first?["text"] as? String == "over the socket")

            // Bad frames get an error and the socket lives on.
            try await socket.sendText("not json")
            #expect(try await socket.next { $0["type"] as? String == "error" }["error"] as? String == "bad_request")
            try await socket.send(["type": "dance"])
            #expect(try await socket.next { $0["type"] as? String == "error" }["error"] as? String == "bad_request")
            try await socket.send(["type": "message", "text": "", "client_id": 7])
            let empty = try await socket.next { $0["type"] as? String == "error" }
            #expect(empty["error"] as? String == "text_required")
            #expect(empty["client_id"] as? Int == 7)
            try await socket.send(["type": "typing"])
            try await socket.send(["type": "message", "text": "still alive", "client_id": "abc-2"])
            #expect(try await socket.next { $0["type"] as? String == "ack" }["client_id"] as? String == "abc-2")

            // Closing over HTTP ends the socket with a `closed` event.
            #expect(try await visitor.close().status == 200)
            _ = try await socket.next { $0["type"] as? String == "closed" }
            try await socket.waitUntilClosed()
        }
    }

    // MARK: Pages

    @Test("The widget's files are served with their content type and Cache-Control: no-cache")
    func staticFiles() async throws {
        try await withServer { server in
            let web = WebTestClient(port: server.webPort)
            let widget = try await web.request("GET", "/widget.js")
            #expect(widget.status == 200)
            #expect(widget.headers["content-type"]?.hasPrefix("text/javascript") == true)
            #expect(widget.headers["cache-control"] == "no-cache")
            #expect(!widget.body.isEmpty)
            let etag = try #require(widget.headers["etag"])
            let again = try await web.request("GET", "/widget.js", headers: ["If-None-Match": etag])
            #expect(again.status == 304)

            let files = StaticAssets(directory: StaticAssets.bundledDirectory, logger: Logger(label: "test")).files
            if files["index.html"] != nil {
                let demo = try await web.request("GET", "/")
                #expect(demo.status == 200)
                #expect(demo.headers["content-type"]?.hasPrefix("text/html") == true)
                #expect(demo.headers["cache-control"] == "no-cache")
            }
            if files["livechat.html"] != nil {
                let page = try await web.request("GET", "/livechat/website")
                #expect(page.status == 200)
                #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
                #expect(page.headers["cache-control"] == "no-cache")
            }
            let unknown = try await web.request("GET", "/livechat/nope")
            #expect(unknown.status == 404)

            let health = try await web.request("GET", "/healthz")
            #expect(health.status == 200)
            for path in ["/healthz", "/", "/api/v1/livechat/website"] {
                let head = try await web.request("HEAD", path)
                #expect(head.status == 200 && head.body.isEmpty, "HEAD \(path): \(head.status)")
            }
            let metrics = String(decoding: try await web.request("GET", "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("switchboard_web_sockets"))
            // Every series says what it counts.
            let series = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
            #expect(series.contains("switchboard_irc_connections") && series.contains("switchboard_irc_deliveries_total"))
            for name in series {
                #expect(metrics.contains("# HELP \(name) "), "no HELP for \(name)")
            }
        }
    }

    // MARK: Units

    @Test("API times name the same millisecond as IRC's time tag, for every stored millisecond")
    func timestampsMatchServerTime() {
        let base: Int64 = 1_763_812_345_000
        for offset in Int64(0)..<1000 {
            let date = Date(timeIntervalSince1970: Double(base + offset) / 1000)   // as Storage reads it back
            #expect(Timestamp.string(date) == ServerTime.format(date), "\(base + offset)")
        }
    }

    @Test("an upgraded WebSocket request lets go of its connection once the connection closes")
    func upgradedRequestReleasesItsConnection() async throws {
        weak var released: EmbeddedChannel?
        do {
            let channel = EmbeddedChannel()
            released = channel
            let router = Router(context: WebRequestContext.self)
            router.webSocketRoute("/ws", shouldUpgrade: { _, _ in .upgrade([:]) }, onUpgrade: { _, _, _ in })
            let context = WebRequestContext(source: .init(channel: channel, logger: Logger(label: "test")))
            let request = Request(head: .init(method: .get, scheme: "http", authority: "localhost", path: "/ws"),
                                  body: .init(buffer: ByteBuffer()))
            // The route accepts: HummingbirdWebSocket keeps the handler, with the context, in the context.
            #expect(try await router.buildResponder().respond(to: request, context: context).status == .ok)
            try await channel.close()
            channel.embeddedEventLoop.run()
        }
        #expect(released == nil, "the closed connection is still referenced")
    }

    @Test("Token buckets: a burst, then the rate; IPv6 clients by /64")
    func tokenBuckets() {
        let limiter = RateLimiter(perMinute: 60, burst: 2)
        let start = ContinuousClock.now
        let key = ClientKey(bytes: [10, 0, 0, 1])
        #expect(limiter.acquire(key, now: start) == .allowed)
        #expect(limiter.acquire(key, now: start) == .allowed)
        #expect(limiter.acquire(key, now: start) == .limited(retryAfterSeconds: 1))
        #expect(limiter.acquire(ClientKey(bytes: [10, 0, 0, 2]), now: start) == .allowed)
        #expect(limiter.acquire(key, now: start + .seconds(1)) == .allowed)
        #expect(limiter.acquire(key, now: start + .seconds(1)) == .limited(retryAfterSeconds: 1))
        let slow = RateLimiter(perMinute: 6, burst: 1)
        #expect(slow.acquire(key, now: start) == .allowed)
        #expect(slow.acquire(key, now: start) == .limited(retryAfterSeconds: 10))
        #expect(RateLimiter(perMinute: 0, burst: 1).acquire(key, now: start) == .allowed)

        let a = ClientKey(try? SocketAddressForTests.v6("2001:db8:1:2:aaaa::1"))
        let b = ClientKey(try? SocketAddressForTests.v6("2001:db8:1:2:bbbb::2"))
        let c = ClientKey(try? SocketAddressForTests.v6("2001:db8:1:3::1"))
        #expect(a == b)
        #expect(a != c)
        #expect(ClientKey(try? SocketAddressForTests.v6("::ffff:10.0.0.1")) == key)
    }

    @Test("Origins compare scheme-insensitively with Host; allowed origins exactly")
    func originPolicy() {
        let policy = OriginPolicy(allowedOrigins: ["https://Shop.example/", "http://localhost:3000"])
        #expect(policy.verdict(origin: nil, host: "chat.example") == .noOrigin)
        #expect(policy.verdict(origin: "https://shop.example", host: "chat.example") == .allowed)
        #expect(policy.verdict(origin: "http://localhost:3000", host: "chat.example") == .allowed)
        #expect(policy.verdict(origin: "http://localhost:3001", host: "chat.example") == .denied)
        #expect(policy.verdict(origin: "https://chat.example", host: "chat.example") == .sameOrigin)
        #expect(policy.verdict(origin: "https://chat.example", host: "chat.example:443") == .sameOrigin)
        #expect(policy.verdict(origin: "http://chat.example:8080", host: "chat.example:8080") == .sameOrigin)
        #expect(policy.verdict(origin: "http://chat.example:8080", host: "chat.example") == .denied)
        #expect(policy.verdict(origin: "https://evil.example", host: "chat.example") == .denied)
        #expect(policy.verdict(origin: "null", host: "chat.example") == .denied)
        #expect(policy.verdict(origin: "https://chat.example.evil.example", host: "chat.example") == .denied)
    }

    @Test("Timestamps are ISO 8601 UTC with milliseconds")
    func timestamps() {
        #expect(Timestamp.string(Date(timeIntervalSince1970: 1_700_000_000.125)) == "2023-11-14T22:13:20.125Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }
}

// MARK: - Helpers

private func expectTimestamp(_ value: Any?, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let text = try #require(value as? String, sourceLocation: sourceLocation)
    let pattern = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/#
    #expect(text.wholeMatch(of: pattern) != nil, "not ISO 8601 UTC with milliseconds: \(text)", sourceLocation: sourceLocation)
}

enum SocketAddressForTests {
    static func v6(_ text: String) throws -> SocketAddress { try SocketAddress(ipAddress: text, port: 1) }
}

/// A minimal WebSocket client for the events route (RFC 6455 framing over a
/// plain TCP connection), collecting the server's text frames. It sends no
/// `Origin` (like curl) unless told to, answers pings and the server's close.
/// Set once, read from anywhere.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

final class TestSocket: Sendable {
    struct Message {
        let json: [String: Any]
        var id: Int { json["id"] as? Int ?? -1 }
        var text: String { json["text"] as? String ?? "" }
    }

    struct UpgradeRefused: Error, CustomStringConvertible {
        let status: String
        var description: String { "WebSocket upgrade refused: \(status)" }
    }

    private struct State {
        /// Whether close frames are answered, as a well-behaved client does.
        var answersClose = true
        var buffer: [UInt8] = []
        var head: String?
        var frames: [String] = []
        var fragments: [UInt8] = []
        var closed = false
        /// The code of the server's close frame, once one came.
        var closeCode: Int?
    }

    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    /// Parses what the server sends; answers pings and close frames.
    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let shared: Shared
        init(_ shared: Shared) { self.shared = shared }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let replies = shared.state.withLock { state -> [[UInt8]] in
                state.buffer.append(contentsOf: buffer.readableBytesView)
                return TestSocket.parse(&state)
            }
            for reply in replies {
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: reply)), promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            shared.state.withLock { $0.closed = true }
        }
    }

    private let channel: any Channel
    private let shared: Shared

    private init(channel: any Channel, shared: Shared) {
        self.channel = channel
        self.shared = shared
    }

    deinit { channel.close(promise: nil) }

    /// Connects and upgrades; throws `UpgradeRefused` with the status line when the server says no.
    static func open(port: Int, path: String, headers: HTTPFields = [:], origin: String? = nil,
                     answersClose: Bool = true, timeout: Duration = .seconds(10)) async throws -> TestSocket {
        let shared = Shared()
        shared.state.withLock { $0.answersClose = answersClose }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Reader(shared)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let socket = TestSocket(channel: channel, shared: shared)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        for field in headers { request += "\(field.name.rawName): \(field.value)\r\n" }
        try await channel.writeAndFlush(ByteBuffer(string: request + "\r\n"))
        let deadline = ContinuousClock.now + timeout
        while true {
            let (head, closed) = shared.state.withLock { ($0.head, $0.closed) }
            if let head {
                guard head.hasPrefix("HTTP/1.1 101") else { throw UpgradeRefused(status: head) }
                return socket
            }
            if closed { throw UpgradeRefused(status: "connection closed") }
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: "the WebSocket upgrade", seen: []) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Consumes the HTTP head, then whole frames; returns the frames to send back.
    private static func parse(_ state: inout State) -> [[UInt8]] {
        var replies: [[UInt8]] = []
        if state.head == nil {
            let end: [UInt8] = Array("\r\n\r\n".utf8)
            guard let index = state.buffer.indices.dropLast(3).first(where: { Array(state.buffer[$0..<$0 + 4]) == end })
            else { return [] }
            let head = String(decoding: state.buffer[..<index], as: UTF8.self)
            state.head = head.components(separatedBy: "\r\n").first ?? head
            state.buffer.removeFirst(index + 4)
            guard state.head?.hasPrefix("HTTP/1.1 101") == true else { return [] }
        }
        while state.buffer.count >= 2 {
            let first = state.buffer[0], second = state.buffer[1]
            var length = Int(second & 0x7f)
            var offset = 2
            if length == 126 {
                guard state.buffer.count >= 4 else { break }
                length = Int(state.buffer[2]) << 8 | Int(state.buffer[3])
                offset = 4
            } else if length == 127 {
                guard state.buffer.count >= 10 else { break }
                length = state.buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                offset = 10
            }
            guard state.buffer.count >= offset + length else { break }
            let payload = Array(state.buffer[offset..<offset + length])
            state.buffer.removeFirst(offset + length)
            let fin = first & 0x80 != 0
            switch first & 0x0f {
            case 0x1, 0x0:
                state.fragments += payload
                if fin {
                    state.frames.append(String(decoding: state.fragments, as: UTF8.self))
                    state.fragments = []
                }
            case 0x8:
                if state.answersClose { replies.append(frame(opcode: 0x8, payload: Array(payload.prefix(2)))) }
                if payload.count >= 2 { state.closeCode = Int(payload[0]) << 8 | Int(payload[1]) }
                state.closed = true
            case 0x9:
                replies.append(frame(opcode: 0xA, payload: payload))
            default:
                break
            }
        }
        return replies
    }

    /// A masked client frame.
    private static func frame(opcode: UInt8, payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            bytes.append(0x80 | 127)
            bytes += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return bytes
    }

    /// The next frame matching `predicate` (frames before it are dropped).
    func next(timeout: Duration = .seconds(5), where predicate: ([String: Any]) -> Bool = { _ in true }) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (found, closed) = shared.state.withLock { state -> ([String: Any]?, Bool) in
                while !state.frames.isEmpty {
                    let text = state.frames.removeFirst()
                    let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                    if predicate(json) { return (json, false) }
                }
                return (nil, state.closed)
            }
            if let found { return found }
            if closed { throw ConnectionClosed(seen: []) }
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: "a WebSocket frame", seen: []) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The next `count` message events, in order (other frames are dropped).
    func messages(count: Int, timeout: Duration = .seconds(10)) async throws -> [Message] {
        var result: [Message] = []
        let deadline = ContinuousClock.now + timeout
        while result.count < count {
            let json = try await next(timeout: max(.zero, deadline - ContinuousClock.now)) { $0["type"] as? String == "message" }
            result.append(Message(json: json))
        }
        return result
    }

    /// Message frames received and not read yet.
    var pendingMessages: [String] {
        shared.state.withLock { $0.frames }.filter { $0.contains("\"type\":\"message\"") }
    }

    func send(_ json: [String: Any]) async throws {
        try await sendText(String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self))
    }

    func sendText(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: Self.frame(opcode: 0x1, payload: Array(text.utf8))))
    }

    /// Any frame, as a client could send it (a fragment, a continuation, bytes that are not UTF-8).
    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: Self.frame(opcode: opcode, payload: payload, fin: fin)))
    }

    /// The code of the server's close frame, nil before one came.
    var closeCode: Int? { shared.state.withLock { $0.closeCode } }

    func waitUntilClosed(timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !shared.state.withLock({ $0.closed }) {
            if ContinuousClock.now > deadline { throw TestTimeout(waitingFor: "the WebSocket to close", seen: []) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Sends a close frame (1000) and drops the connection.
    func close() async {
        _ = try? await channel.writeAndFlush(ByteBuffer(bytes: Self.frame(opcode: 0x8, payload: [0x03, 0xE8])))
        try? await channel.close()
    }
}

extension TestServer {
    func connect(tls: Bool, to port: Int) async throws -> TestIRCClient {
        try await TestIRCClient.connect(port: port, tls: tls)
    }

    /// Sends a WebSocket upgrade request by hand and reads the answer's head;
    /// the connection stays open for more reading.
    func rawUpgrade(path: String, origin: String? = nil, extraHeaders: [String] = []) async throws -> RawConnection.Head {
        let raw = try await RawConnection.connect(port: webPort)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(webPort)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        for header in extraHeaders { request += header + "\r\n" }
        try await raw.send(request + "\r\n")
        return try await raw.head()
    }
}

extension TestIRCClient {
    /// Header lines up to the blank line.
    func headerLines() async throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try await nextLine()
            if line.isEmpty { return lines }
            lines.append(line)
        }
    }
}
