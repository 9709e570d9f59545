import GRDB

/// How far each operator account has followed each open conversation: the id
/// of the last message that reached one of its connections, in the
/// `conversation_seen` table. An operator who comes back is replayed only the
/// messages after it, across server restarts too.
extension ConversationStore {
    static func registerSeenMigration(in migrator: inout DatabaseMigrator) {
        // Rows go with their conversation: deleted when it closes, and by the
        // foreign key if it is ever deleted.
        migrator.registerMigration("v5-conversation-seen") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conversation_seen (
                        conversation_id INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
                        login TEXT NOT NULL COLLATE NOCASE,
                        message_id INTEGER NOT NULL,
                        PRIMARY KEY (conversation_id, login)
                    ) WITHOUT ROWID;
                    """)
        }
    }

    /// Login -> id of the last message the account has seen, for one conversation.
    public func seen(conversationID: Int64) throws -> [String: Int64] {
        try pool.read { db in
            var result: [String: Int64] = [:]
            let rows = try Row.fetchAll(
                db, sql: "SELECT login, message_id FROM conversation_seen WHERE conversation_id = ?",
                arguments: [conversationID])
            for row in rows { result[row["login"]] = row["message_id"] }
            return result
        }
    }

    /// Records, in one transaction, how far accounts have seen conversations
    /// (`login` up to the message `messageID`). A mark only moves forward (a late
    /// write of an older id changes nothing), and only while its conversation is
    /// open: one that is closed or unknown is left alone.
    public func markSeen(_ marks: [(conversationID: Int64, login: String, messageID: Int64)]) throws {
        guard !marks.isEmpty else { return }
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO conversation_seen (conversation_id, login, message_id)
                    SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM conversation WHERE id = ? AND status <> 'closed')
                    ON CONFLICT (conversation_id, login) DO UPDATE SET message_id = MAX(message_id, excluded.message_id)
                    """)
            for mark in marks {
                try statement.execute(arguments: [mark.conversationID, mark.login, mark.messageID, mark.conversationID])
            }
        }
    }
}
