import Foundation
import GRDB

/// An operator's connection that was in a conversation and dropped out (a lost
/// link, a server restart) without leaving it: how far it had got, and when.
public struct DepartedDevice: Sendable, Hashable {
    public var login: String
    /// The connection's nick, which a client that comes back usually has again.
    public var nick: String
    /// The last message of the conversation when the connection went.
    public var lastMessageID: Int64
    public var at: Date

    public init(login: String, nick: String, lastMessageID: Int64, at: Date) {
        self.login = login
        self.nick = nick
        self.lastMessageID = lastMessageID
        self.at = at
    }
}

/// Connections of an account that were in an open conversation when the server
/// stopped, in the `conversation_device` table: after the restart, each of them
/// that comes back is replayed only what it missed, even when another connection
/// of the account is already back in the conversation.
extension ConversationStore {
    static func registerDevicesMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-conversation-devices") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conversation_device (
                        conversation_id INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
                        login TEXT NOT NULL COLLATE NOCASE,
                        last_message_id INTEGER NOT NULL,
                        departed_at INTEGER NOT NULL
                    );
                    CREATE INDEX conversation_device_by_conversation ON conversation_device (conversation_id);
                    """)
        }
        migrator.registerMigration("v8-conversation-device-nick") { db in
            try db.execute(sql: "ALTER TABLE conversation_device ADD COLUMN nick TEXT NOT NULL DEFAULT ''")
        }
    }

    /// The departed connections of one conversation, oldest first.
    public func departedDevices(conversationID: Int64) throws -> [DepartedDevice] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: """
                    SELECT login, nick, last_message_id, departed_at FROM conversation_device
                    WHERE conversation_id = ? ORDER BY departed_at, rowid
                    """,
                arguments: [conversationID]
            ).map { row in
                DepartedDevice(login: row["login"], nick: row["nick"], lastMessageID: row["last_message_id"],
                               at: Date(timeIntervalSince1970: Double(row["departed_at"] as Int64) / 1000))
            }
        }
    }

    /// Replaces every departed connection with `devices` (conversation id, device),
    /// in one transaction; those of conversations no longer open are left out.
    public func replaceDepartedDevices(_ devices: [(conversationID: Int64, device: DepartedDevice)]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM conversation_device")
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO conversation_device (conversation_id, login, nick, last_message_id, departed_at)
                    SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM conversation WHERE id = ? AND status <> 'closed')
                    """)
            for (id, device) in devices {
                try statement.execute(arguments: [id, device.login, device.nick, device.lastMessageID, Self.milliseconds(device.at), id])
            }
        }
    }
}
