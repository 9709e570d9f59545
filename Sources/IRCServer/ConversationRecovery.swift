import Storage

/// An open conversation as read back at start-up.
struct RecoveredConversation: Sendable {
    let record: ConversationRecord
    /// Its latest messages, oldest first.
    let history: [StoredMessage]
    /// The message before them, when there are more than the history keeps.
    let newestDropped: Int64?
    /// Who had the visitor's previous conversation of this channel.
    let previousOperator: String?
    /// Login -> the last message the account had seen.
    let seen: [String: Int64]
    /// The operators' connections that were in it when the server stopped.
    let departed: [DepartedDevice]
}

/// Open conversations survive a restart: at start-up they are read back with
/// their recent messages and what each operator had seen of them, before the
/// listeners accept anyone.
enum ConversationRecovery {
    static func load(from store: ConversationStore) throws -> [RecoveredConversation] {
        try store.open().map { record in
            // One more than the history keeps, to know whether there is more than it.
            let last = try store.lastMessages(conversationID: record.id, limit: Conversation.historyLimit + 1)
            return RecoveredConversation(
                record: record,
                history: Array(last.suffix(Conversation.historyLimit)),
                newestDropped: last.count > Conversation.historyLimit ? last.first?.id : nil,
                previousOperator: try record.visitorID.flatMap { try store.previousOperator(visitorID: $0, slug: record.slug) },
                seen: try store.seen(conversationID: record.id),
                departed: try store.departedDevices(conversationID: record.id))
        }
    }
}
