import Storage

/// Open conversations survive a restart: at start-up they are read back with
/// their recent messages, before the listeners accept anyone.
enum ConversationRecovery {
    static func load(from store: ConversationStore) throws -> [(ConversationRecord, [StoredMessage], String?)] {
        try store.open().map { record in
            let history = try store.lastMessages(conversationID: record.id, limit: Conversation.historyLimit)
            let previous = try record.visitorID.flatMap { try store.previousOperator(visitorID: $0, slug: record.slug) }
            return (record, history, previous)
        }
    }
}
