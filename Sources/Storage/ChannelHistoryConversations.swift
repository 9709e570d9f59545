import Foundation
import GRDB

/// draft/chathistory over conversation messages: the same requests as for
/// channels (`HistoryRequest`), on the `message` table. A message's msgid is
/// its id in decimal. The welcome message (author `.system`) is not part of
/// the history, as it is not part of the replay to operators.
extension ConversationStore {
    /// The conversation's messages that answer `request`, oldest first. An
    /// unknown conversation, or a msgid not in it, has none.
    public func history(conversationID: Int64, _ request: HistoryRequest) throws -> [StoredMessage] {
        let query = HistoryQuery(
            table: "message", scope: "conversation_id = ? AND author_kind <> 'system'",
            arguments: [conversationID]
        ) { db, msgid in
            guard let id = Int64(msgid) else { return nil }
            return try Row.fetchOne(
                db,
                sql: "SELECT at, id FROM message WHERE id = ? AND conversation_id = ? AND author_kind <> 'system'",
                arguments: [id, conversationID]
            ).map { HistoryQuery.Position(at: $0["at"], id: $0["id"]) }
        }
        return try pool.read { db in try query.fetch(db, request).map(Self.message(from:)) }
    }

    /// For each of the conversations with messages strictly between the two
    /// dates, the time of its newest one there.
    public func latestActivity(conversationIDs: [Int64], after: Date, before: Date) throws -> [Int64: Date] {
        guard !conversationIDs.isEmpty else { return [:] }
        return try pool.read { db in
            var result: [Int64: Date] = [:]
            let statement = try db.cachedStatement(
                sql: """
                    SELECT MAX(at) FROM message
                    WHERE conversation_id = ? AND author_kind <> 'system' AND at > ? AND at < ?
                    """)
            for id in conversationIDs {
                let newest = try Int64.fetchOne(
                    statement,
                    arguments: [id, HistoryQuery.milliseconds(after), HistoryQuery.milliseconds(before)])
                if let newest { result[id] = Self.date(newest) }
            }
            return result
        }
    }
}
