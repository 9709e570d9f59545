import Foundation

/// Who wrote a message, as the visitor's page shows it.
public struct ChatAuthor: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case visitor, `operator`, bot, system
    }

    public var kind: Kind
    public var name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }
}

/// One stored message of a conversation. `id` is the database id, and also the
/// IRC `msgid` of the same message.
public struct ChatMessage: Sendable, Hashable {
    public var id: Int64
    public var at: Date
    public var author: ChatAuthor
    public var text: String

    public init(id: Int64, at: Date, author: ChatAuthor, text: String) {
        self.id = id
        self.at = at
        self.author = author
        self.text = text
    }
}

/// A live chat channel as the web bridge presents it.
public struct ChannelSummary: Sendable, Hashable {
    public var slug: String
    public var name: String
    public var welcome: String
    public var button: String
    /// Whether any operator is available for a new conversation now.
    public var available: Bool
    /// The languages enabled on the server.
    public var languages: [String]

    public init(slug: String, name: String, welcome: String, button: String, available: Bool, languages: [String]) {
        self.slug = slug
        self.name = name
        self.welcome = welcome
        self.button = button
        self.available = available
        self.languages = languages
    }
}

/// How long what a visitor sends may be, in Unicode scalars: one set of
/// limits for the web API, which checks first, and the engine behind it.
public enum VisitorLimits {
    public static let name = 100
    public static let url = 2048
    public static let title = 300
    public static let visitorID = 128
    public static let userAgent = 512
    /// A message, or a rating comment.
    public static let text = 4000

    /// The refusal of a field over its limit, in the same words wherever it is checked.
    public static func tooLong(_ field: String, limit: Int) -> String {
        "The field \"\(field)\" is longer than \(limit) characters."
    }
}

public struct NewConversation: Sendable, Hashable {
    public var slug: String
    /// The name the visitor typed, if any.
    public var name: String?
    /// The page the visitor is on, and its title.
    public var page: String?
    public var pageTitle: String?
    /// The widget's opaque visitor id, to prefer the previous operator.
    public var visitor: String?
    /// From Accept-Language, ranked, enabled languages only.
    public var languages: [LanguageTag]
    public var userAgent: String?

    public init(slug: String, name: String? = nil, page: String? = nil, pageTitle: String? = nil, visitor: String? = nil,
                languages: [LanguageTag] = [], userAgent: String? = nil) {
        self.slug = slug
        self.name = name
        self.page = page
        self.pageTitle = pageTitle
        self.visitor = visitor
        self.languages = languages
        self.userAgent = userAgent
    }
}

public struct CreatedConversation: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case assigned, waiting }

    public var id: Int64
    /// The bearer token for this conversation only. Shown once; only its hash is stored.
    public var token: String
    public var status: Status
    /// The assigned operator's Online Chat Name.
    public var operatorName: String?
    public var languages: [String]
    /// The welcome message first.
    public var messages: [ChatMessage]

    public init(id: Int64, token: String, status: Status, operatorName: String?, languages: [String], messages: [ChatMessage]) {
        self.id = id
        self.token = token
        self.status = status
        self.operatorName = operatorName
        self.languages = languages
        self.messages = messages
    }
}

/// Where a conversation stands now: what a page that reloads, or an events socket
/// that connects again, may have missed while it was away.
public struct ConversationState: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case assigned, waiting, closed }

    public var status: Status
    /// The Online Chat Name of the operator who joined last, while assigned.
    public var operatorName: String?
    public var languages: [String]
    /// Why it ended, once closed (nil when no reason was given).
    public var closeReason: String?

    public init(status: Status, operatorName: String?, languages: [String], closeReason: String?) {
        self.status = status
        self.operatorName = operatorName
        self.languages = languages
        self.closeReason = closeReason
    }
}

/// What happens in a conversation, pushed to the visitor's WebSocket.
public enum VisitorEvent: Sendable, Hashable {
    case message(ChatMessage)
    case typing(ChatAuthor, active: Bool)
    case operatorJoined(ChatAuthor)
    case operatorLeft(ChatAuthor)
    case closed(reason: String?)
}

public enum GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownChannel(String)
    case unknownConversation
    case conversationClosed
    case invalid(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .unknownChannel(let slug): "no live chat channel \(slug)"
        case .unknownConversation: "no such conversation"
        case .conversationClosed: "the conversation is closed"
        case .invalid(let reason): reason
        case .unavailable(let reason): reason
        }
    }
}

/// The live chat engine as the web bridge sees it. The IRC server implements it:
/// conversations live where the operators are. Methods taking a conversation id
/// assume the caller checked the visitor's token with `authorize`.
public protocol VisitorGateway: Sendable {
    func channel(slug: String) async -> ChannelSummary?
    func createConversation(_ request: NewConversation) async throws(GatewayError) -> CreatedConversation
    func state(conversation: Int64) async throws(GatewayError) -> ConversationState
    /// Whether `token` is the bearer token of `conversation`. Constant time; false for unknown ids.
    func authorize(conversation: Int64, token: String) async -> Bool
    /// Messages after `after` (0: from the start), oldest first, at most `limit`; `more` when others follow.
    func messages(conversation: Int64, after: Int64, limit: Int) async throws(GatewayError) -> (messages: [ChatMessage], more: Bool)
    /// Stores the visitor's message and returns it once it is committed; then relays it to the operators.
    func postMessage(conversation: Int64, text: String) async throws(GatewayError) -> ChatMessage
    func visitorTyping(conversation: Int64) async
    func visitorPage(conversation: Int64, url: String, title: String?) async throws(GatewayError)
    func visitorClose(conversation: Int64) async throws(GatewayError)
    func rate(conversation: Int64, rating: Int, comment: String?) async throws(GatewayError)
    /// Live events of the conversation from now on. The stream ends when the
    /// conversation is closed (after the `closed` event) or when the server stops.
    /// For a conversation closed before the call, the stream is just its
    /// `closed` event, with the reason it was closed for.
    func events(conversation: Int64) async -> AsyncStream<VisitorEvent>
}
