import Foundation
import Hummingbird
import LiveChat
import NIOCore

/// Limits of the visitor API that are not configurable.
public enum APILimits {
    /// Longest message text (and rating comment), in Unicode scalars; a
    /// browser's `maxlength` counts UTF-16 units, so the widget never exceeds it.
    public static let maxTextLength = VisitorLimits.text
    /// Messages per page of `GET .../messages`.
    public static let pageSize = 100
    static let maxNameLength = VisitorLimits.name
    static let maxURLLength = VisitorLimits.url
    static let maxTitleLength = VisitorLimits.title
    static let maxVisitorIDLength = VisitorLimits.visitorID
    static let maxUserAgentLength = VisitorLimits.userAgent
    static let maxClientIDLength = 128
    static let maxTokenLength = 512
}

/// JSON in and out: one encoder configuration, timestamps as ISO 8601 UTC with milliseconds.
enum JSON {
    static let contentType = "application/json; charset=utf-8"

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]   // stable bytes for equal answers
        return try encoder.encode(value)
    }

    static func string(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    /// A JSON response with `status`.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: contentType],
                 body: .init(byteBuffer: ByteBuffer(data: try encode(value))))
    }

    /// Decodes a request body; an empty body counts as `{}`. Errors are 400s that say what is wrong.
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(APIError) -> T {
        let data = buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as APIError {
            throw error
        } catch let DecodingError.typeMismatch(expected, context) {
            throw .badRequest(describe(context.codingPath, expected: expected))
        } catch let DecodingError.valueNotFound(expected, context) {
            throw .badRequest(describe(context.codingPath, expected: expected))
        } catch let DecodingError.keyNotFound(key, _) {
            throw .badRequest("The field \"\(key.stringValue)\" is missing.")
        } catch {
            throw .badRequest("The body is not valid JSON.")
        }
    }

    private static func describe(_ path: [any CodingKey], expected: Any.Type) -> String {
        let what = expected == String.self ? "a string" : expected == Int.self || expected == Int64.self ? "a number"
            : expected == Bool.self ? "true or false" : "something else"
        guard !path.isEmpty else { return "The body must be a JSON object." }
        return "The field \"\(path.map(\.stringValue).joined(separator: "."))\" must be \(what)."
    }
}

/// ISO 8601 in UTC with milliseconds: `2025-03-14T09:26:53.589Z`.
enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)

    /// The formatter cuts to the millisecond, and a stored millisecond read back as a
    /// `Double` can fall just below itself (`.488` as `.48799…`, shown `.487` while the
    /// IRC `time` tag of the same message says `.488`): format the middle of the
    /// nearest millisecond instead.
    static func string(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        return style.format(Date(timeIntervalSince1970: (milliseconds + 0.5) / 1000))
    }
}

// MARK: Responses

struct ChannelInfoBody: Encodable {
    var slug: String
    var name: String
    var available: Bool
    var welcome: String
    var languages: [String]
    var button: String

    init(_ summary: ChannelSummary) {
        slug = summary.slug
        name = summary.name
        available = summary.available
        welcome = summary.welcome
        languages = summary.languages
        button = summary.button
    }
}

/// A message as the visitor's page sees it: `{"id","at","author":{"kind","name"},"text"}`.
struct MessageBody: Encodable {
    var id: Int64
    var at: String
    var author: ChatAuthor
    var text: String

    init(_ message: ChatMessage) {
        id = message.id
        at = Timestamp.string(message.at)
        author = message.author
        text = message.text
    }
}

struct OperatorBody: Encodable {
    var name: String
}

/// `GET /api/v1/conversations/{id}`: `operator` and `reason` are always there, null when they do not apply.
struct ConversationStateBody: Encodable {
    var id: Int64
    var state: ConversationState

    enum CodingKeys: String, CodingKey { case id, status, `operator`, languages, reason }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(state.status.rawValue, forKey: .status)
        try container.encode(state.operatorName.map(OperatorBody.init(name:)), forKey: .operator)
        try container.encode(state.languages, forKey: .languages)
        try container.encode(state.closeReason, forKey: .reason)
    }
}

struct CreatedConversationBody: Encodable {
    var id: Int64
    var token: String
    var status: String
    var `operator`: OperatorBody?
    var languages: [String]
    var messages: [MessageBody]

    init(_ created: CreatedConversation) {
        id = created.id
        token = created.token
        status = created.status.rawValue
        `operator` = created.operatorName.map(OperatorBody.init(name:))
        languages = created.languages
        messages = created.messages.map(MessageBody.init)
    }

    enum CodingKeys: String, CodingKey { case id, token, status, `operator`, languages, messages }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(token, forKey: .token)
        try container.encode(status, forKey: .status)
        try container.encode(`operator`, forKey: .operator)   // null when waiting
        try container.encode(languages, forKey: .languages)
        try container.encode(messages, forKey: .messages)
    }
}

struct MessagePageBody: Encodable {
    var messages: [MessageBody]
    var more: Bool
}

struct PostedMessageBody: Encodable {
    var id: Int64
    var at: String
}

struct StatusBody: Encodable {
    var status: String
}

// MARK: Requests

struct CreateConversationRequest: Decodable {
    var name: String?
    var page: String?
    /// The page's title, kept with it for the operators (as `pages` takes it).
    var title: String?
    var visitor: String?
}

struct PostMessageRequest: Decodable {
    var text: String?
}

struct PageRequest: Decodable {
    var url: String?
    var title: String?
}

struct RatingRequest: Decodable {
    /// A rating of the wrong type is `bad_request`, as in every other body; one that
    /// is missing, null, or a number other than 1, 3 or 5 is `invalid_rating` (as a
    /// missing `text` is `text_required`). 0 stands for those.
    var rating: Int
    var comment: String?

    enum CodingKeys: String, CodingKey { case rating, comment }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try !container.contains(.rating) || container.decodeNil(forKey: .rating) {
            rating = 0
        } else if let whole = try? container.decode(Int.self, forKey: .rating) {
            rating = whole
        } else if (try? container.decode(Double.self, forKey: .rating)) != nil {
            rating = 0   // a number, but not a whole one in range: not 1, 3 or 5
        } else {
            rating = try container.decode(Int.self, forKey: .rating)   // not a number: the error says so
        }
        comment = try container.decodeIfPresent(String.self, forKey: .comment)
    }
}

// MARK: Validation

enum Validate {
    /// A message's text: present, not blank, at most `APILimits.maxTextLength` scalars.
    static func messageText(_ text: String?) throws(APIError) -> String {
        guard let text = try freeText(text, what: "message") else {
            throw APIError(.badRequest, .textRequired, "The message has no text.")
        }
        return text
    }

    /// What a visitor writes (a message, a rating comment): nil when missing or
    /// blank (only spaces, line breaks and invisible characters such as U+200B or
    /// U+FEFF); at most `APILimits.maxTextLength` scalars; line breaks and tabs
    /// allowed, no other control character. NUL would cut the stored text short,
    /// and escape sequences would reach the operators' terminals.
    static func freeText(_ text: String?, what: String) throws(APIError) -> String? {
        guard let text, TextChecks.hasVisibleCharacter(text) else {
            return nil
        }
        guard text.unicodeScalars.count <= APILimits.maxTextLength else {
            throw APIError(.badRequest, .textTooLong, "The \(what) is longer than \(APILimits.maxTextLength) characters.")
        }
        guard !hasControlCharacters(text, besides: ["\t", "\n", "\r"]) else {
            throw .badRequest("The \(what) contains control characters.")
        }
        return text
    }

    /// An optional one-line field: trimmed, nil when blank, at most `limit` scalars,
    /// without control characters (tab included), line or paragraph separators or
    /// noncharacters. With `ordered`, text-direction controls are refused too: the
    /// value is shown to operators, who would read it reordered. Every check on a
    /// field is made here, before the rate limits count the request.
    static func optional(_ value: String?, field: String, limit: Int, ordered: Bool = false) throws(APIError) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        guard trimmed.unicodeScalars.count <= limit else {
            throw .badRequest(VisitorLimits.tooLong(field, limit: limit))
        }
        guard !TextChecks.hasLineBreaksOrControls(trimmed) else {
            throw .badRequest("The field \"\(field)\" contains control characters or noncharacters, which one line cannot hold.")
        }
        guard !ordered || !TextChecks.hasDirectionControls(trimmed) else {
            throw .badRequest("The field \"\(field)\" contains text-direction controls.")
        }
        return trimmed
    }

    private static func hasControlCharacters(_ text: String, besides allowed: Set<Unicode.Scalar>) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control && !allowed.contains($0) }
    }

    /// A conversation id from the path; anything else is answered like a wrong token.
    static func conversationID(_ text: String?) throws(APIError) -> Int64 {
        guard let text, let id = Int64(text), id > 0 else { throw .unauthorized }
        return id
    }

    /// `?after=`: a message id, 0 or none for "from the start".
    static func after(_ text: String?) throws(APIError) -> Int64? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw .badRequest("\"after\" must be a message id (0 or more).")
        }
        return value
    }
}
