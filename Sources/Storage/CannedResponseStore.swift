import Foundation
import GRDB

/// A canned response: `::hello` typed in a conversation becomes its text.
public struct CannedResponse: Sendable, Hashable {
    public var shortcut: String
    public var text: String
    public var createdBy: String
    public var createdAt: Date

    public init(shortcut: String, text: String, createdBy: String, createdAt: Date) {
        self.shortcut = shortcut
        self.text = text
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// Canned responses, shared by all operators, in the `canned_response` table.
public struct CannedResponseStore: Sendable {
    let pool: DatabasePool

    public static let maximumShortcut = 32
    public static let maximumText = 2000

    static func registerMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-canned-responses") { db in
            try db.create(table: "canned_response") { t in
                t.primaryKey("shortcut", .text)            // lower case
                t.column("text", .text).notNull()
                t.column("created_by", .text).notNull()
                t.column("created_at", .integer).notNull()  // milliseconds since 1970
            }
        }
    }

    /// Shortcuts are 1–32 characters: lower-case letters, digits, `-` and `_`.
    public static func normalize(_ shortcut: String) -> String? {
        let lowered = shortcut.lowercased()
        guard (1...maximumShortcut).contains(lowered.count),
              lowered.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" })
        else { return nil }
        return lowered
    }

    public func all() throws -> [CannedResponse] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM canned_response ORDER BY shortcut").map(Self.response(from:))
        }
    }

    /// Adds or replaces a response; returns it and whether one was replaced.
    @discardableResult
    public func add(shortcut: String, text: String, by login: String, at: Date = Date()) throws -> (CannedResponse, replaced: Bool) {
        guard let key = Self.normalize(shortcut) else { throw StorageError.invalidShortcut(shortcut) }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= Self.maximumText else { throw StorageError.invalidCannedText }
        let ms = Int64((at.timeIntervalSince1970 * 1000).rounded())
        return try pool.write { db in
            let existed = try Bool.fetchOne(db, sql: "SELECT 1 FROM canned_response WHERE shortcut = ?", arguments: [key]) ?? false
            try db.execute(
                sql: """
                    INSERT INTO canned_response (shortcut, text, created_by, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(shortcut) DO UPDATE SET text = excluded.text, created_by = excluded.created_by,
                        created_at = excluded.created_at
                    """,
                arguments: [key, trimmed, login, ms])
            let stored = CannedResponse(shortcut: key, text: trimmed, createdBy: login,
                                        createdAt: Date(timeIntervalSince1970: Double(ms) / 1000))
            return (stored, existed)
        }
    }

    /// Removes a response; false when there was none.
    @discardableResult
    public func remove(_ shortcut: String) throws -> Bool {
        guard let key = Self.normalize(shortcut) else { return false }
        return try pool.write { db in
            try db.execute(sql: "DELETE FROM canned_response WHERE shortcut = ?", arguments: [key])
            return db.changesCount > 0
        }
    }

    private static func response(from row: Row) -> CannedResponse {
        CannedResponse(shortcut: row["shortcut"], text: row["text"], createdBy: row["created_by"],
                       createdAt: Date(timeIntervalSince1970: Double(row["created_at"] as Int64) / 1000))
    }
}
