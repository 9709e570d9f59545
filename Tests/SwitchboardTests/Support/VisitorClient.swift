import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What an HTTP call returned: status, headers and the JSON body (if any).
struct HTTPReply: @unchecked Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var messages: [[String: Any]] { json["messages"] as? [[String: Any]] ?? [] }
}

/// Plain HTTP against the web bridge, as a browser's fetch would do it.
struct WebTestClient: Sendable {
    let base: String

    init(port: Int) { base = "http://127.0.0.1:\(port)" }

    func request(_ method: String, _ path: String, json: [String: Any]? = nil, rawBody: Data? = nil,
                 headers: [String: String] = [:]) async throws -> HTTPReply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let rawBody {
            request.httpBody = rawBody
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        // Not URLSession's async `data(for:)`: on Linux, cancelling the calling task while its
        // request fails (a test stops its senders as it kills the server) can deadlock
        // swift-corelibs-foundation: the cancellation handler waits for the session's queue, which
        // waits for the task's lock to resume it. Here a request is never cancelled; it ends on its
        // own, by its answer, its error or its time limit.
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                guard error == nil, let http = response as? HTTPURLResponse else {
                    continuation.resume(throwing: error ?? URLError(.badServerResponse))
                    return
                }
                var headers: [String: String] = [:]
                for (key, value) in http.allHeaderFields {
                    headers[String(describing: key).lowercased()] = String(describing: value)
                }
                continuation.resume(returning: HTTPReply(status: http.statusCode, headers: headers, body: data ?? Data()))
            }.resume()
        }
    }
}

/// A website visitor: starts a conversation and talks in it over the HTTP API.
struct TestVisitor: Sendable {
    let web: WebTestClient
    let id: Int
    let token: String
    let created: HTTPReply

    static func start(_ web: WebTestClient, slug: String = "website", name: String? = nil, languages: String? = nil,
                      visitor: String? = nil, page: String? = "https://shop.example/pricing") async throws -> TestVisitor {
        var body: [String: Any] = [:]
        if let name { body["name"] = name }
        if let page { body["page"] = page }
        if let visitor { body["visitor"] = visitor }
        var headers = ["User-Agent": "TestBrowser/1.0"]
        if let languages { headers["Accept-Language"] = languages }
        let reply = try await web.request("POST", "/api/v1/livechat/\(slug)/conversations", json: body, headers: headers)
        guard reply.status == 201, let id = reply.json["id"] as? Int, let token = reply.json["token"] as? String else {
            throw HTTPFailure(reply: reply)
        }
        return TestVisitor(web: web, id: id, token: token, created: reply)
    }

    var status: String? { created.json["status"] as? String }
    var operatorName: String? { (created.json["operator"] as? [String: Any])?["name"] as? String }
    var channel: String { "#website-\(id)" }

    private var auth: [String: String] { ["Authorization": "Bearer \(token)"] }

    func say(_ text: String) async throws -> HTTPReply {
        try await web.request("POST", "/api/v1/conversations/\(id)/messages", json: ["text": text], headers: auth)
    }

    func messages(after: Int = 0) async throws -> HTTPReply {
        try await web.request("GET", "/api/v1/conversations/\(id)/messages?after=\(after)", headers: auth)
    }

    func visit(_ url: String, title: String? = nil) async throws -> HTTPReply {
        var body: [String: Any] = ["url": url]
        if let title { body["title"] = title }
        return try await web.request("POST", "/api/v1/conversations/\(id)/pages", json: body, headers: auth)
    }

    func close() async throws -> HTTPReply {
        try await web.request("POST", "/api/v1/conversations/\(id)/close", headers: auth)
    }

    /// Waits until a message with `text` is in the conversation's stored messages.
    func waitForMessage(_ text: String, timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = try await messages().messages.first(where: { $0["text"] as? String == text }) { return found }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestTimeout(waitingFor: "message \(text)", seen: [])
    }
}

struct HTTPFailure: Error, CustomStringConvertible {
    let reply: HTTPReply
    var description: String { "HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))" }
}
