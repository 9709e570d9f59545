import GRDB

/// The schema, as a list of versioned migrations. A migration, once
/// released, is never edited: later changes come as new migrations appended
/// here ("v2-conversations", ...).
enum Migrations {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()

        migrator.registerMigration("v1-operators") { db in
            try db.create(table: "operator") { t in
                t.autoIncrementedPrimaryKey("id")
                // Unique case-insensitively, stored as given.
                t.column("login", .text).notNull().unique().collate(.nocase)
                t.column("display_name", .text).notNull()
                t.column("chat_name", .text)
                // Language tags separated by commas, main language first.
                t.column("languages", .text).notNull().defaults(to: "")
                t.column("is_bot", .boolean).notNull().defaults(to: false)
                t.column("is_admin", .boolean).notNull().defaults(to: false)
                t.column("password_hash", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }
        }

        // Live chat conversations (see ConversationStore).
        //
        // Dates are INTEGER milliseconds since 1970 (UTC): exact, compact, and
        // ordered the same as the instants they stand for.
        //
        // - `conversation`: one row per conversation. `languages` holds the
        //   visitor's language tags separated by commas, best first (as the
        //   `operator` table does). Only the SHA-256 of the visitor's bearer token
        //   is kept (`token_hash`), never the token. `assigned_login` is the
        //   operator of the last assignment; it stays after the operators leave,
        //   for "prefer the previous operator".
        // - `conversation_operator`: the operators currently in a conversation,
        //   normalised into rows; join order is the rowid order. A login appears
        //   once per conversation, compared case-insensitively as logins are.
        // - `message`: every message of every conversation. Its id is global and
        //   never reused (AUTOINCREMENT): it is also the IRC msgid.
        // - `conversation_page`: the pages the visitor visited, oldest first.
        migrator.registerMigration("v2-conversations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conversation (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        slug TEXT NOT NULL,
                        visitor_name TEXT,
                        visitor_id TEXT,
                        languages TEXT NOT NULL DEFAULT '',
                        user_agent TEXT,
                        current_page TEXT,
                        token_hash BLOB NOT NULL,
                        status TEXT NOT NULL DEFAULT 'waiting'
                            CHECK (status IN ('waiting', 'assigned', 'closed')),
                        created_at INTEGER NOT NULL,
                        assigned_at INTEGER,
                        assigned_login TEXT COLLATE NOCASE,
                        assignment_reason TEXT,
                        closed_at INTEGER,
                        close_reason TEXT,
                        visitor_left_at INTEGER,
                        last_message_at INTEGER,
                        rating INTEGER CHECK (rating IN (1, 3, 5)),
                        rating_comment TEXT
                    );
                    CREATE INDEX conversation_by_visitor ON conversation (visitor_id, slug);
                    -- Restart recovery lists the conversations not closed: few among many.
                    CREATE INDEX conversation_not_closed ON conversation (id) WHERE status <> 'closed';

                    CREATE TABLE conversation_operator (
                        id INTEGER PRIMARY KEY,
                        conversation_id INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
                        login TEXT NOT NULL COLLATE NOCASE,
                        UNIQUE (conversation_id, login)
                    );

                    CREATE TABLE message (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
                        at INTEGER NOT NULL,
                        author_kind TEXT NOT NULL
                            CHECK (author_kind IN ('visitor', 'operator', 'bot', 'system')),
                        author_name TEXT NOT NULL,
                        author_login TEXT,
                        text TEXT NOT NULL
                    );
                    CREATE INDEX message_by_conversation ON message (conversation_id, id);

                    CREATE TABLE conversation_page (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
                        url TEXT NOT NULL,
                        title TEXT,
                        at INTEGER NOT NULL
                    );
                    CREATE INDEX conversation_page_by_conversation ON conversation_page (conversation_id, id);
                    """)
        }

        // Chat history of ordinary channels and read markers (see
        // ChannelHistoryStore and ReadMarkerStore).
        //
        // - `channel_history`: PRIVMSG and NOTICE relayed to ordinary channels,
        //   in chunks: a row holds up to 256 consecutive messages of one
        //   channel (`channel`, its folded name), packed in `messages` (see
        //   ChannelHistoryCoding), with their number, the span of their times
        //   (INTEGER milliseconds) and their msgids (" a b c ", to find one).
        //   Messages are ordered by chunk id, then place in the chunk. Each
        //   channel keeps its newest 10,000 messages.
        // - `read_marker`: per account and folded target (channel or nick), the
        //   time of the last message read.
        migrator.registerMigration("v3-channel-history") { db in
            try db.execute(
                sql: """
                    CREATE TABLE channel_history (
                        id INTEGER PRIMARY KEY,
                        channel TEXT NOT NULL,
                        min_at INTEGER NOT NULL,
                        max_at INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        msgids TEXT NOT NULL,
                        messages BLOB NOT NULL
                    );
                    CREATE INDEX channel_history_by_channel ON channel_history (channel, id);

                    CREATE TABLE read_marker (
                        account TEXT NOT NULL COLLATE NOCASE,
                        target TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        PRIMARY KEY (account, target)
                    ) WITHOUT ROWID;
                    """)
        }

        CannedResponseStore.registerMigration(in: &migrator)
        ConversationStore.registerSeenMigration(in: &migrator)
        // An operator's `/me` is stored as the visitor reads it (`*Alice waves*`); the
        // flag lets IRC history give it back as an action.
        migrator.registerMigration("v6-message-action") { db in
            try db.execute(sql: "ALTER TABLE message ADD COLUMN is_action INTEGER NOT NULL DEFAULT 0")
        }
        ConversationStore.registerDevicesMigration(in: &migrator)
        return migrator
    }
}
