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

        return migrator
    }
}
