import Foundation
import NIOCore
import IRCProtocol
import LiveChat
import Storage

/// A live chat conversation while it is open: its IRC channel (`#website-17`),
/// the visitor's pseudo-user, the operators in it, the visitor's open event
/// streams and the recent messages (to replay to operators who join or come back).
final class Conversation {
    let id: Int64
    /// The live chat channel the conversation belongs to (it changes with a TRANSFER to another channel).
    var settings: IRCServerConfiguration.LiveChatChannel
    let channel: IRCChannel
    let visitor: Client
    var record: ConversationRecord
    let languages: [LanguageTag]
    /// The operator logins in the conversation (an account may be on several connections).
    var operators: [String] { record.operators }
    var history: [StoredMessage] = []
    /// The newest message no longer in `history`, which keeps the last `historyLimit`.
    var newestDropped: Int64?
    var subscribers: [Int: AsyncStream<VisitorEvent>.Continuation] = [:]
    var nextSubscriber = 0
    var lastVisitorTyping = Date.distantPast
    /// The visitor's operator in an earlier conversation, preferred by the rule.
    var previousOperator: String?
    /// Set once the conversation has ended; nothing more is accepted.
    var isClosed = false
    /// Messages waiting to be stored, the first one being stored (see `storingMessage`).
    var messageWrites: [MessageWrite] = []

    struct MessageWrite {
        let work: @Sendable (ConversationStore) throws -> StoredMessage
        let then: (ServerState, Result<StoredMessage, any Error>) -> Void
    }
    var visitorLeft: Bool { record.visitorLeftAt != nil }
    /// The visitor closed it while their messages were still being stored: the close
    /// comes after them (so each is delivered, and acknowledged, before `closed`), and
    /// nothing new is taken from the visitor meanwhile.
    var visitorClosing = false
    /// The visitor's close is being stored; it takes effect once it is.
    var visitorCloseStoring = false
    /// The requests that closed it, answered once the close is stored (or could not be).
    var visitorCloseWaiters: [EventLoopPromise<Void>] = []
    /// An operator's CLOSE is being stored; it takes effect once it is.
    var closing = false
    /// Whether a message, a page or typing from the visitor is still taken.
    var acceptsVisitorInput: Bool { !isClosed && !visitorLeft && !visitorClosing && !closing }

    static let historyLimit = 200
    /// The `closed` reason when the visitor closed the conversation.
    static let visitorClosedReason = "Closed by the visitor"

    init(record: ConversationRecord, settings: IRCServerConfiguration.LiveChatChannel, channel: IRCChannel, visitor: Client,
         languages: [LanguageTag]) {
        self.id = record.id
        self.record = record
        self.settings = settings
        self.channel = channel
        self.visitor = visitor
        self.languages = languages
    }

    var visitorName: String { record.visitorName ?? "Visitor" }

    /// "Anna (fr, en)" for notices.
    var visitorLabel: String {
        let codes = record.languages
        return codes.isEmpty ? visitorName : "\(visitorName) (\(codes.joined(separator: ", ")))"
    }

    /// Visitor, languages and page, within the TOPICLEN the server advertises
    /// (a long page address is cut).
    var topic: String {
        var parts = [visitorLabel]
        if let page = record.currentPage { parts.append(page) }
        return IRCText.truncated(parts.joined(separator: " — "), bytes: ISupport.topicLength)
    }

    func remember(_ message: StoredMessage) {
        history.append(message)
        if history.count > Self.historyLimit {
            let dropped = history.count - Self.historyLimit
            newestDropped = history[dropped - 1].id
            history.removeFirst(dropped)
        }
    }

    func publish(_ event: VisitorEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    func finishStreams() {
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }
}

/// An end shown to everyone but not stored yet.
struct PendingClosing {
    let reason: String?
    let at: Date
    let languages: [String]
}
