import Crypto
import Foundation
import GRDB
import LiveChat

/// Live chat conversations, their messages and the pages their visitors
/// visited, in the `conversation`, `conversation_operator`, `message` and
/// `conversation_page` tables (see the "v2-conversations" migration), and
/// what each operator has seen of them (`conversation_seen`, ConversationSeen.swift).
///
/// Every method is synchronous, thread-safe, and may block (a write waits for
/// the disk and for other writers): call them off event loops. Each writing
/// method is one transaction, committed and synced to disk
/// (`synchronous = FULL`) before it returns, so what it returns may be
/// acknowledged to a visitor.
///
/// Dates are kept to the millisecond: the dates returned are the stored ones,
/// so a record returned by a write equals the same record read back later.
public struct ConversationStore: Sendable {
    let pool: DatabasePool

    // MARK: Conversations

    /// Creates a conversation, `waiting`, and its first message (the welcome,
    /// author `.system` named `welcomeAuthor`, the channel's name) in one
    /// transaction. `tokenHash` is `hashToken(token)`: the token itself is
    /// never stored.
    public func create(
        slug: String, visitorName: String?, visitorID: String?, languages: [String], userAgent: String?,
        page: String?, pageTitle: String? = nil, tokenHash: Data, welcome: String, welcomeAuthor: String, at: Date
    ) throws -> (ConversationRecord, StoredMessage) {
        let ms = Self.milliseconds(at)
        return try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO conversation
                        (slug, visitor_name, visitor_id, languages, user_agent, current_page, token_hash,
                         status, created_at, last_message_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    slug, visitorName, visitorID, languages.joined(separator: ","), userAgent, page, tokenHash,
                    ConversationStatus.waiting.rawValue, ms, ms,
                ])
            let id = db.lastInsertedRowID
            if let page {
                try db.execute(
                    sql: "INSERT INTO conversation_page (conversation_id, url, title, at) VALUES (?, ?, ?, ?)",
                    arguments: [id, page, pageTitle, ms])
            }
            let welcomeMessage = try Self.insertMessage(
                db, conversationID: id, authorKind: .system, authorName: welcomeAuthor, authorLogin: nil,
                text: welcome, ms: ms)
            guard let record = try Self.fetchRecord(db, id: id) else { throw StorageError.unknownConversation }
            return (record, welcomeMessage)
        }
    }

    /// The conversation with this id, if any.
    public func conversation(id: Int64) throws -> ConversationRecord? {
        try pool.read { db in try Self.fetchRecord(db, id: id) }
    }

    /// Every conversation not closed, oldest first (for restart recovery).
    public func open() throws -> [ConversationRecord] {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM conversation WHERE status <> 'closed' ORDER BY id")
            // The operators of all of them in one query, in join order.
            var operators: [Int64: [String]] = [:]
            let operatorRows = try Row.fetchAll(
                db,
                sql: """
                    SELECT conversation_id, login FROM conversation_operator
                    WHERE conversation_id IN (SELECT id FROM conversation WHERE status <> 'closed')
                    ORDER BY id
                    """)
            for row in operatorRows {
                operators[row["conversation_id"], default: []].append(row["login"])
            }
            return rows.map { row in Self.record(from: row, operators: operators[row["id"]] ?? []) }
        }
    }

    // MARK: Messages

    /// Appends a message in its own transaction and returns it, with its id,
    /// once committed. Updates the conversation's `lastMessageAt`.
    ///
    /// - Throws: `StorageError.conversationClosed` when the conversation is
    ///   closed, `StorageError.unknownConversation` when there is none.
    public func append(
        conversationID: Int64, authorKind: ChatAuthor.Kind, authorName: String, authorLogin: String?, text: String,
        isAction: Bool = false, at: Date
    ) throws -> StoredMessage {
        let ms = Self.milliseconds(at)
        return try pool.write { db in
            guard try Self.status(db, id: conversationID) != .closed else { throw StorageError.conversationClosed }
            let message = try Self.insertMessage(
                db, conversationID: conversationID, authorKind: authorKind, authorName: authorName,
                authorLogin: authorLogin, text: text, isAction: isAction, ms: ms)
            try db.execute(
                sql: "UPDATE conversation SET last_message_at = MAX(COALESCE(last_message_at, ?), ?) WHERE id = ?",
                arguments: [ms, ms, conversationID])
            return message
        }
    }

    /// The messages with an id greater than `after` (0: from the start),
    /// oldest first, at most `limit`; `more` when others follow. An unknown
    /// conversation has no messages.
    public func messages(conversationID: Int64, after: Int64, limit: Int) throws -> (messages: [StoredMessage], more: Bool) {
        let limit = min(max(limit, 0), Int.max - 1)
        let messages = try pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM message WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [conversationID, after, limit + 1]
            ).map(Self.message(from:))
        }
        return (Array(messages.prefix(limit)), messages.count > limit)
    }

    /// The last `limit` messages at most, oldest first (for replay to operators).
    public func lastMessages(conversationID: Int64, limit: Int) throws -> [StoredMessage] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM (
                        SELECT * FROM message WHERE conversation_id = ? ORDER BY id DESC LIMIT ?
                    ) ORDER BY id
                    """,
                arguments: [conversationID, max(limit, 0)]
            ).map(Self.message(from:))
        }
    }

    // MARK: Tokens

    /// Whether `token` is the bearer token of the conversation: compares
    /// SHA-256(token) with the stored hash in constant time. False for an
    /// unknown id.
    public func tokenMatches(conversationID: Int64, token: String) throws -> Bool {
        let stored = try storedTokenHash(conversationID: conversationID)
        let computed = Self.hashToken(token)
        guard let stored else {
            // As much work as for a known id.
            _ = Self.constantTimeEqual(computed, computed)
            return false
        }
        return Self.constantTimeEqual(stored, computed)
    }

    /// The stored token hash of the conversation, if any.
    func storedTokenHash(conversationID: Int64) throws -> Data? {
        try pool.read { db in
            try Data.fetchOne(db, sql: "SELECT token_hash FROM conversation WHERE id = ?", arguments: [conversationID])
        }
    }

    /// SHA-256 of the token's UTF-8 bytes: what is stored instead of the token.
    public static func hashToken(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }

    /// A new bearer token: 32 random bytes from the system's generator,
    /// base64url without padding (43 characters).
    public static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            let word: UInt64 = generator.next()
            withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Compares without stopping at the first difference. Only the lengths
    /// (public: always 32) decide early.
    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    // MARK: Operators

    /// Assigns the conversation to `login`: status `assigned`, `assignedAt`,
    /// the reason; `login` joins the operators if not among them yet (alone
    /// when there were none). `login` becomes the conversation's operator for
    /// `previousOperator`.
    ///
    /// - Throws: `StorageError.conversationClosed`, `StorageError.unknownConversation`.
    @discardableResult
    public func assign(id: Int64, to login: String, reason: String, at: Date) throws -> ConversationRecord {
        try pool.write { db in
            guard try Self.status(db, id: id) != .closed else { throw StorageError.conversationClosed }
            try db.execute(
                sql: """
                    UPDATE conversation
                    SET status = 'assigned', assigned_at = ?, assigned_login = ?, assignment_reason = ?
                    WHERE id = ?
                    """,
                arguments: [Self.milliseconds(at), login, reason, id])
            try Self.insertOperator(db, id: id, login: login)
            return try Self.requireRecord(db, id: id)
        }
    }

    /// Puts the conversation back to `waiting`, with no operators (the last
    /// assignment's date and operator are kept).
    ///
    /// - Throws: `StorageError.conversationClosed`, `StorageError.unknownConversation`.
    @discardableResult
    public func setWaiting(id: Int64) throws -> ConversationRecord {
        try pool.write { db in
            guard try Self.status(db, id: id) != .closed else { throw StorageError.conversationClosed }
            try db.execute(sql: "UPDATE conversation SET status = 'waiting' WHERE id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM conversation_operator WHERE conversation_id = ?", arguments: [id])
            return try Self.requireRecord(db, id: id)
        }
    }

    /// Adds an operator (an invited colleague) after the others; nothing
    /// changes when the login (compared case-insensitively) is already there.
    ///
    /// - Throws: `StorageError.conversationClosed`, `StorageError.unknownConversation`.
    @discardableResult
    public func addOperator(id: Int64, login: String) throws -> ConversationRecord {
        try pool.write { db in
            guard try Self.status(db, id: id) != .closed else { throw StorageError.conversationClosed }
            try Self.insertOperator(db, id: id, login: login)
            return try Self.requireRecord(db, id: id)
        }
    }

    /// Removes an operator (compared case-insensitively); also allowed once
    /// closed. The status does not change: when the last operator leaves,
    /// closing is the caller's decision (`record.operators.isEmpty`).
    ///
    /// - Throws: `StorageError.unknownConversation`.
    @discardableResult
    public func removeOperator(id: Int64, login: String) throws -> ConversationRecord {
        try pool.write { db in
            try db.execute(
                sql: "DELETE FROM conversation_operator WHERE conversation_id = ? AND login = ?",
                arguments: [id, login])
            return try Self.requireRecord(db, id: id)
        }
    }

    /// The login of the operator of the visitor's most recent conversation in
    /// that channel that had one (its last assignment), for "prefer the
    /// previous operator". Bot accounts are skipped: a bot is not the
    /// operator a returning visitor remembers. Whether that operator is
    /// available, or still exists, is the caller's question.
    public func previousOperator(visitorID: String, slug: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT c.assigned_login FROM conversation c
                    WHERE c.visitor_id = ? AND c.slug = ? AND c.assigned_login IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM operator o WHERE o.login = c.assigned_login AND o.is_bot)
                    ORDER BY c.id DESC
                    LIMIT 1
                    """,
                arguments: [visitorID, slug])
        }
    }

    /// Each operator's latest assignment (login -> when), as far as the
    /// conversations remember it (each keeps its last assignment), for the
    /// assignment rule after a restart.
    public func lastAssignments() throws -> [String: Date] {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT assigned_login AS login, MAX(assigned_at) AS at FROM conversation
                    WHERE assigned_login IS NOT NULL AND assigned_at IS NOT NULL
                    GROUP BY assigned_login
                    """)
            var result: [String: Date] = [:]
            for row in rows {
                let login: String = row["login"]
                let at: Int64 = row["at"]
                result[login] = Self.date(at)
            }
            return result
        }
    }

    // MARK: Ending

    /// Closes the conversation. Idempotent: closing a closed conversation
    /// changes nothing (the first date and reason stay). Returns whether this
    /// call closed it.
    ///
    /// - Throws: `StorageError.unknownConversation`.
    @discardableResult
    public func close(id: Int64, reason: String?, at: Date) throws -> Bool {
        try pool.write { db in
            guard try Self.status(db, id: id) != .closed else { return false }
            try db.execute(
                sql: "UPDATE conversation SET status = 'closed', closed_at = ?, close_reason = ? WHERE id = ?",
                arguments: [Self.milliseconds(at), reason, id])
            try db.execute(sql: "DELETE FROM conversation_seen WHERE conversation_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM conversation_device WHERE conversation_id = ?", arguments: [id])
            return true
        }
    }

    /// Records that the visitor closed their side (the first time counts).
    ///
    /// - Throws: `StorageError.unknownConversation`.
    public func markVisitorLeft(id: Int64, at: Date) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE conversation SET visitor_left_at = COALESCE(visitor_left_at, ?) WHERE id = ?",
                arguments: [Self.milliseconds(at), id])
            guard db.changesCount > 0 else { throw StorageError.unknownConversation }
        }
    }

    /// Records the visitor's rating, 1, 3 or 5, and an optional comment; a
    /// second rating replaces the first.
    ///
    /// - Throws: `StorageError.invalidRating`, `StorageError.unknownConversation`.
    public func rate(id: Int64, rating: Int, comment: String?) throws {
        guard [1, 3, 5].contains(rating) else { throw StorageError.invalidRating }
        try pool.write { db in
            try db.execute(
                sql: "UPDATE conversation SET rating = ?, rating_comment = ? WHERE id = ?",
                arguments: [rating, comment, id])
            guard db.changesCount > 0 else { throw StorageError.unknownConversation }
        }
    }

    // MARK: Pages

    /// Records a page the visitor visited; it becomes the current page.
    ///
    /// - Throws: `StorageError.conversationClosed`, `StorageError.unknownConversation`.
    public func addPage(id: Int64, url: String, title: String?, at: Date) throws {
        try pool.write { db in
            guard try Self.status(db, id: id) != .closed else { throw StorageError.conversationClosed }
            try db.execute(sql: "UPDATE conversation SET current_page = ? WHERE id = ?", arguments: [url, id])
            try db.execute(
                sql: "INSERT INTO conversation_page (conversation_id, url, title, at) VALUES (?, ?, ?, ?)",
                arguments: [id, url, title, Self.milliseconds(at)])
        }
    }

    /// The pages the visitor visited, oldest first; the page given at
    /// creation, if any, is the first.
    public func pages(id: Int64) throws -> [PageVisit] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT url, title, at FROM conversation_page WHERE conversation_id = ? ORDER BY id",
                arguments: [id]
            ).map { row in PageVisit(url: row["url"], title: row["title"], at: Self.date(row["at"])) }
        }
    }

    // MARK: Rows

    /// Milliseconds since 1970, as stored.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// The date of a stored number of milliseconds. Every date returned is made
    /// here, so the same stored value always gives equal dates.
    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    static func date(_ milliseconds: Int64?) -> Date? {
        milliseconds.map { date($0) }
    }

    /// The conversation's status; throws `unknownConversation` when there is none.
    private static func status(_ db: Database, id: Int64) throws -> ConversationStatus {
        guard let raw = try String.fetchOne(db, sql: "SELECT status FROM conversation WHERE id = ?", arguments: [id])
        else { throw StorageError.unknownConversation }
        return ConversationStatus(rawValue: raw) ?? .closed
    }

    private static func insertOperator(_ db: Database, id: Int64, login: String) throws {
        // The UNIQUE (conversation_id, login) constraint, case-insensitive, keeps one row per login.
        try db.execute(
            sql: "INSERT OR IGNORE INTO conversation_operator (conversation_id, login) VALUES (?, ?)",
            arguments: [id, login])
    }

    private static func insertMessage(
        _ db: Database, conversationID: Int64, authorKind: ChatAuthor.Kind, authorName: String, authorLogin: String?,
        text: String, isAction: Bool = false, ms: Int64
    ) throws -> StoredMessage {
        try db.execute(
            sql: """
                INSERT INTO message (conversation_id, at, author_kind, author_name, author_login, text, is_action)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [conversationID, ms, authorKind.rawValue, authorName, authorLogin, text, isAction])
        return StoredMessage(
            id: db.lastInsertedRowID, conversationID: conversationID, at: date(ms), authorKind: authorKind,
            authorName: authorName, authorLogin: authorLogin, text: text, isAction: isAction)
    }

    private static func fetchRecord(_ db: Database, id: Int64) throws -> ConversationRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM conversation WHERE id = ?", arguments: [id]) else {
            return nil
        }
        let operators = try String.fetchAll(
            db, sql: "SELECT login FROM conversation_operator WHERE conversation_id = ? ORDER BY id", arguments: [id])
        return record(from: row, operators: operators)
    }

    private static func requireRecord(_ db: Database, id: Int64) throws -> ConversationRecord {
        guard let record = try fetchRecord(db, id: id) else { throw StorageError.unknownConversation }
        return record
    }

    private static func record(from row: Row, operators: [String]) -> ConversationRecord {
        let languages: String = row["languages"]
        let status: String = row["status"]
        return ConversationRecord(
            id: row["id"],
            slug: row["slug"],
            visitorName: row["visitor_name"],
            visitorID: row["visitor_id"],
            languages: languages.split(separator: ",").map(String.init),
            userAgent: row["user_agent"],
            currentPage: row["current_page"],
            status: ConversationStatus(rawValue: status) ?? .closed,
            createdAt: date(row["created_at"] as Int64),
            assignedAt: date(row["assigned_at"] as Int64?),
            closedAt: date(row["closed_at"] as Int64?),
            closeReason: row["close_reason"],
            visitorLeftAt: date(row["visitor_left_at"] as Int64?),
            assignmentReason: row["assignment_reason"],
            operators: operators,
            lastMessageAt: date(row["last_message_at"] as Int64?),
            rating: row["rating"],
            ratingComment: row["rating_comment"]
        )
    }

    static func message(from row: Row) -> StoredMessage {
        let kind: String = row["author_kind"]
        return StoredMessage(
            id: row["id"],
            conversationID: row["conversation_id"],
            at: date(row["at"] as Int64),
            authorKind: ChatAuthor.Kind(rawValue: kind) ?? .system,
            authorName: row["author_name"],
            authorLogin: row["author_login"],
            text: row["text"],
            isAction: row["is_action"]
        )
    }
}
