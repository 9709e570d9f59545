import Foundation
import LiveChat

/// Where a conversation stands.
public enum ConversationStatus: String, Sendable {
    /// No operator yet: it is assigned as soon as one is available.
    case waiting
    /// At least one operator was assigned.
    case assigned
    /// Ended, by the visitor, an operator or the server. A closed conversation
    /// takes no more messages.
    case closed
}

/// A live chat conversation as stored.
public struct ConversationRecord: Sendable, Hashable {
    public var id: Int64
    /// The live chat channel's slug.
    public var slug: String
    /// The name the visitor gave, if any.
    public var visitorName: String?
    /// The widget's opaque visitor id, if it sent one.
    public var visitorID: String?
    /// The visitor's languages, best first.
    public var languages: [String]
    public var userAgent: String?
    /// The page the visitor is on, as last reported.
    public var currentPage: String?
    public var status: ConversationStatus
    public var createdAt: Date
    /// The last assignment.
    public var assignedAt: Date?
    public var closedAt: Date?
    public var closeReason: String?
    /// When the visitor closed their side.
    public var visitorLeftAt: Date?
    /// Why the last assignment chose its operator.
    public var assignmentReason: String?
    /// The logins of the operators currently in the conversation, in join order.
    public var operators: [String]
    /// The time of the last message (the welcome message counts).
    public var lastMessageAt: Date?
    /// The visitor's rating: 1, 3 or 5.
    public var rating: Int?
    public var ratingComment: String?

    public init(
        id: Int64,
        slug: String,
        visitorName: String? = nil,
        visitorID: String? = nil,
        languages: [String] = [],
        userAgent: String? = nil,
        currentPage: String? = nil,
        status: ConversationStatus = .waiting,
        createdAt: Date,
        assignedAt: Date? = nil,
        closedAt: Date? = nil,
        closeReason: String? = nil,
        visitorLeftAt: Date? = nil,
        assignmentReason: String? = nil,
        operators: [String] = [],
        lastMessageAt: Date? = nil,
        rating: Int? = nil,
        ratingComment: String? = nil
    ) {
        self.id = id
        self.slug = slug
        self.visitorName = visitorName
        self.visitorID = visitorID
        self.languages = languages
        self.userAgent = userAgent
        self.currentPage = currentPage
        self.status = status
        self.createdAt = createdAt
        self.assignedAt = assignedAt
        self.closedAt = closedAt
        self.closeReason = closeReason
        self.visitorLeftAt = visitorLeftAt
        self.assignmentReason = assignmentReason
        self.operators = operators
        self.lastMessageAt = lastMessageAt
        self.rating = rating
        self.ratingComment = ratingComment
    }

    /// Whether the conversation is closed.
    public var isClosed: Bool { status == .closed }
}

/// One stored message of a conversation.
public struct StoredMessage: Sendable, Hashable {
    /// Global across all conversations, increasing in commit order, never
    /// reused; also the message's IRC `msgid`.
    public var id: Int64
    public var conversationID: Int64
    /// When the message was written, to the millisecond.
    public var at: Date
    public var authorKind: ChatAuthor.Kind
    /// The name the visitor sees (the Online Chat Name for operators).
    public var authorName: String
    /// The operator's or bot's login.
    public var authorLogin: String?
    public var text: String
    /// An operator's `/me`: `text` is how the visitor reads it (`*Alice waves*`).
    public var isAction: Bool

    public init(
        id: Int64, conversationID: Int64, at: Date, authorKind: ChatAuthor.Kind, authorName: String,
        authorLogin: String? = nil, text: String, isAction: Bool = false
    ) {
        self.id = id
        self.conversationID = conversationID
        self.at = at
        self.authorKind = authorKind
        self.authorName = authorName
        self.authorLogin = authorLogin
        self.text = text
        self.isAction = isAction
    }

    /// The message as the web bridge shows it.
    public var chatMessage: ChatMessage {
        ChatMessage(id: id, at: at, author: ChatAuthor(kind: authorKind, name: authorName), text: text)
    }
}

/// A page the visitor visited during a conversation.
public struct PageVisit: Sendable, Hashable {
    public var url: String
    public var title: String?
    public var at: Date

    public init(url: String, title: String? = nil, at: Date) {
        self.url = url
        self.title = title
        self.at = at
    }
}
