import Foundation
import GRDB
import HummingbirdBcrypt
import LiveChat

/// Operator accounts, stored in the `operator` table.
///
/// Every method is synchronous and may block: bcrypt is slow by design (a
/// quarter of a second at cost 12) and a write may wait for another
/// process's write. Call them off event loops.
public struct OperatorStore: Sendable {
    /// The default bcrypt cost for new passwords.
    public static let defaultBcryptCost = 12
    /// The longest login accepted.
    public static let maxLoginLength = 32
    /// The longest display name or Online Chat Name accepted, in characters.
    public static let maxNameLength = 100
    /// The longest Online Chat Name accepted, in characters (the CLI and IRC's NAME alike).
    public static let maxChatNameLength = 64
    /// bcrypt reads only the first 72 bytes of a password: a longer one would be cut silently.
    public static let maxPasswordBytes = 72

    let pool: DatabasePool
    let cache: VerificationCache

    // MARK: Reading

    /// Every account, sorted by login (case-insensitively).
    public func all() throws -> [OperatorAccount] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM operator ORDER BY login COLLATE NOCASE, login")
                .map(Self.account(from:))
        }
    }

    /// The account whose login matches `login` case-insensitively, if any.
    public func find(login: String) throws -> OperatorAccount? {
        try pool.read { db in
            try Self.fetchRow(db, login: login).map(Self.account(from:))
        }
    }

    /// Checks a login and password. Returns the account when both are right,
    /// and `nil` when the login is unknown or the password wrong: callers
    /// cannot tell which (an unknown login costs a bcrypt verification too).
    public func verify(login: String, password: String) throws -> OperatorAccount? {
        let row = try pool.read { db in try Self.fetchRow(db, login: login) }
        guard let row else {
            _ = Bcrypt.verify(password, hash: Self.unknownLoginHash)
            return nil
        }
        let account = Self.account(from: row)
        let storedHash: String = row["password_hash"]
        guard !password.isEmpty else { return nil }
        let mac = cache.mac(of: password)
        if cache.contains(login: account.login, passwordMAC: mac, storedHash: storedHash) {
            return account
        }
        guard Bcrypt.verify(password, hash: storedHash) else { return nil }
        cache.insert(login: account.login, passwordMAC: mac, storedHash: storedHash)
        return account
    }

    // MARK: Writing

    /// Creates an account. The login must be new (case-insensitively) and
    /// follow the login rules; the password must not be empty.
    @discardableResult
    public func add(
        login: String,
        displayName: String,
        chatName: String? = nil,
        languages: [String] = [],
        isBot: Bool = false,
        isAdmin: Bool = false,
        password: String,
        bcryptCost: Int = OperatorStore.defaultBcryptCost
    ) throws -> OperatorAccount {
        try Self.validate(login: login)
        let displayName = try Self.validatedName(displayName)
        let chatName = try chatName.flatMap(Self.validatedChatName)
        let languages = try Self.validatedLanguages(languages)
        try Self.validate(password: password)
        // Fail early, before paying for bcrypt; checked again when writing.
        if try find(login: login) != nil { throw StorageError.duplicateLogin(login) }
        let hash = Bcrypt.hash(password, cost: Self.cost(bcryptCost))
        let createdAt = Date()

        return try pool.write { db in
            if try Self.fetchRow(db, login: login) != nil { throw StorageError.duplicateLogin(login) }
            do {
                try db.execute(
                    sql: """
                        INSERT INTO operator
                            (login, display_name, chat_name, languages, is_bot, is_admin, password_hash, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        login, displayName, chatName, languages.joined(separator: ","),
                        isBot, isAdmin, hash, createdAt,
                    ])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.duplicateLogin(login)
            }
            guard let row = try Self.fetchRow(db, login: login) else { throw StorageError.unknownLogin(login) }
            return Self.account(from: row)
        }
    }

    /// Deletes an account, and with it the account's place in conversations:
    /// it leaves the open ones (one left without an operator waits again) and
    /// is no longer any conversation's last operator, so that a later account
    /// with the same login inherits nothing (no rejoin after a restart, no
    /// returning visitor, no assignment time).
    public func remove(login: String) throws {
        let removed = try pool.write { db in
            try db.execute(sql: "DELETE FROM operator WHERE login = ?", arguments: [login])
            guard db.changesCount > 0 else { return false }
            try db.execute(
                sql: """
                    DELETE FROM conversation_operator WHERE login = ?
                      AND conversation_id IN (SELECT id FROM conversation WHERE status <> 'closed')
                    """,
                arguments: [login])
            let orphaned = "status = 'assigned' AND NOT EXISTS (SELECT 1 FROM conversation_operator o WHERE o.conversation_id = conversation.id)"
            try db.execute(sql: "UPDATE conversation SET status = 'waiting' WHERE \(orphaned) AND visitor_left_at IS NULL")
            try db.execute(
                sql: "UPDATE conversation SET status = 'closed', closed_at = ?, close_reason = 'Closed by the visitor' WHERE \(orphaned)",
                arguments: [ConversationStore.milliseconds(Date())])
            try db.execute(sql: "UPDATE conversation SET assigned_login = NULL WHERE assigned_login = ?", arguments: [login])
            return true
        }
        cache.remove(login: login)
        guard removed else { throw StorageError.unknownLogin(login) }
    }

    /// Replaces an account's password.
    public func setPassword(
        login: String,
        password: String,
        bcryptCost: Int = OperatorStore.defaultBcryptCost
    ) throws {
        try Self.validate(password: password)
        guard try find(login: login) != nil else { throw StorageError.unknownLogin(login) }
        let hash = Bcrypt.hash(password, cost: Self.cost(bcryptCost))
        let updated = try pool.write { db in
            try db.execute(sql: "UPDATE operator SET password_hash = ? WHERE login = ?", arguments: [hash, login])
            return db.changesCount > 0
        }
        cache.remove(login: login)
        guard updated else { throw StorageError.unknownLogin(login) }
    }

    /// Sets the Online Chat Name; `nil` (or a blank name) resets it to the display name.
    @discardableResult
    public func setChatName(login: String, _ chatName: String?) throws -> OperatorAccount {
        let chatName = try chatName.flatMap(Self.validatedChatName)
        return try update(login: login, sql: "UPDATE operator SET chat_name = ? WHERE login = ?", chatName)
    }

    /// Sets the Online Chat Languages, main language first. Duplicates
    /// (compared case-insensitively) are dropped; checking the codes against
    /// the languages enabled on the server is the caller's job.
    @discardableResult
    public func setLanguages(login: String, _ languages: [String]) throws -> OperatorAccount {
        let languages = try Self.validatedLanguages(languages)
        return try update(
            login: login, sql: "UPDATE operator SET languages = ? WHERE login = ?", languages.joined(separator: ","))
    }

    private func update(login: String, sql: String, _ value: (any DatabaseValueConvertible)?) throws -> OperatorAccount {
        try pool.write { db in
            try db.execute(sql: sql, arguments: [value, login])
            guard db.changesCount > 0, let row = try Self.fetchRow(db, login: login) else {
                throw StorageError.unknownLogin(login)
            }
            return Self.account(from: row)
        }
    }

    // MARK: Rules

    /// Checks the login rules: 1 to 32 characters among ASCII letters,
    /// digits, `-`, `_` and `.`, not starting with a digit or `-`.
    public static func validate(login: String) throws(StorageError) {
        if let reason = loginProblem(login) {
            throw StorageError.invalidLogin(login, reason: reason)
        }
    }

    /// Why `login` breaks the login rules, or `nil` when it follows them.
    public static func loginProblem(_ login: String) -> String? {
        let bytes = Array(login.utf8)
        if bytes.isEmpty { return "a login must not be empty" }
        if bytes.count > maxLoginLength { return "a login has at most \(maxLoginLength) characters" }
        func allowed(_ b: UInt8) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        }
        if !bytes.allSatisfy(allowed) {
            return "a login may contain only ASCII letters, digits, '-', '_' and '.'"
        }
        if let first = bytes.first, (first >= 0x30 && first <= 0x39) || first == UInt8(ascii: "-") {
            return "a login must not start with a digit or '-'"
        }
        if login.lowercased() == ServiceName.liveChat.lowercased() {
            return "'\(ServiceName.liveChat)' is the name of the live chat service"
        }
        return nil
    }

    static func validate(password: String) throws(StorageError) {
        if password.isEmpty { throw StorageError.emptyPassword }
        if password.utf8.contains(0) { throw StorageError.invalidPassword(reason: "it contains a NUL character") }
        if password.allSatisfy(\.isWhitespace) { throw StorageError.invalidPassword(reason: "it is only blank characters") }
        if password.utf8.count > maxPasswordBytes {
            throw StorageError.invalidPassword(reason: "it is longer than \(maxPasswordBytes) bytes, where bcrypt stops reading")
        }
    }

    static func validatedName(_ name: String, maximum: Int = maxNameLength) throws(StorageError) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty && name.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
            throw StorageError.invalidName(name, reason: "a name must not be empty")
        }
        if trimmed.count > maximum {
            throw StorageError.invalidName(name, reason: "a name has at most \(maximum) characters")
        }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw StorageError.invalidName(name, reason: "a name must not contain control characters or line breaks")
        }
        // Visitors read it: zero-width characters alone show nothing, and text-direction
        // controls (U+202A-U+202E, U+2066-U+2069) make a name read as something else.
        if !TextChecks.hasVisibleCharacter(trimmed) {
            throw StorageError.invalidName(name, reason: "a name needs a visible character")
        }
        if TextChecks.hasDirectionControls(trimmed) {
            throw StorageError.invalidName(name, reason: "a name must not contain text-direction controls")
        }
        return trimmed
    }

    /// An Online Chat Name; a blank one means "none".
    public static func validatedChatName(_ name: String) throws(StorageError) -> String? {
        if name.unicodeScalars.allSatisfy(\.properties.isWhitespace) { return nil }
        return try validatedName(name, maximum: maxChatNameLength)
    }

    static func validatedLanguages(_ languages: [String]) throws(StorageError) -> [String] {
        var result: [String] = []
        for code in languages {
            let isWellFormed =
                !code.isEmpty && code.count <= 35
                && code.utf8.allSatisfy { b in
                    (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
                        || b == UInt8(ascii: "-")
                }
                && !code.hasPrefix("-") && !code.hasSuffix("-")
            guard isWellFormed else { throw StorageError.invalidLanguage(code) }
            if !result.contains(where: { $0.caseInsensitiveCompare(code) == .orderedSame }) {
                result.append(code)
            }
        }
        return result
    }

    static func cost(_ cost: Int) -> UInt8 {
        UInt8(min(max(cost, 4), 31))
    }

    // MARK: Rows

    private static func fetchRow(_ db: Database, login: String) throws -> Row? {
        // The column's NOCASE collation makes this comparison case-insensitive.
        try Row.fetchOne(db, sql: "SELECT * FROM operator WHERE login = ?", arguments: [login])
    }

    private static func account(from row: Row) -> OperatorAccount {
        let languages: String = row["languages"]
        return OperatorAccount(
            login: row["login"],
            displayName: row["display_name"],
            chatName: row["chat_name"],
            languages: languages.split(separator: ",").map(String.init),
            isBot: row["is_bot"],
            isAdmin: row["is_admin"],
            createdAt: row["created_at"]
        )
    }

    /// A bcrypt hash, at the default cost, of a random password nobody knows:
    /// unknown logins are verified against it so that they take as long as
    /// wrong passwords. Made once, at the first unknown login.
    static let unknownLoginHash = Bcrypt.hash(UUID().uuidString, cost: cost(defaultBcryptCost))
}
