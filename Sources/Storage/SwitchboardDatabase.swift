import Foundation
import GRDB

/// The Switchboard database: one SQLite file in WAL mode.
///
/// Several processes may open the same file at once (the server and the
/// `switchboard operator` commands): WAL lets readers and one writer work
/// together, and a busy timeout makes a writer wait for another one instead of
/// failing.
public final class SwitchboardDatabase: Sendable {
    /// How long a write waits for another connection's write to finish.
    public static let busyTimeout: TimeInterval = 10

    /// The path the database was opened with.
    public let path: String

    let pool: DatabasePool
    let verificationCache: VerificationCache
    /// Messages per channel in the history archive, counted as they are written.
    let historyCounts = StoredCounts()

    /// Held while a server uses the database (see `ServerLock`).
    private let serverLock: ServerLock?

    /// Opens (creating it if needed) the database at `path` and brings its
    /// schema up to date. The parent folder is created when missing. A server
    /// opens it `asServer`: then a second server on the same file is refused.
    public init(path: String, asServer: Bool = false) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                // Foundation's own description is a dump of its error object.
                throw StorageError.unusableFolder(folder, reason: Self.reason(creating: folder, error))
            }
        }
        let serverLock = asServer ? try ServerLock(databasePath: path) : nil
        self.serverLock = serverLock

        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.label = "switchboard"
        // Durability: with `synchronous = FULL` in WAL mode, every commit syncs
        // the WAL to disk before COMMIT returns, so a committed write (a message
        // acknowledged to a visitor) survives a crash and even a power loss.
        configuration.prepareDatabase { db in
            // 16 KiB pages for a new database (an existing one keeps its size): a
            // batch of archived channel messages is rows of several KiB each, and with
            // 4 KiB pages writing them (and checkpointing the WAL) took four times the
            // system calls. Small transactions (a visitor's message) still write little.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            self.pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            serverLock?.release()
            throw error
        }
        self.verificationCache = VerificationCache()
        do {
            // GRDB sets `synchronous = NORMAL` on the writer when it enables WAL,
            // after `prepareDatabase` ran: set FULL again on the writer, the only
            // connection that writes. (The writer is never reopened.)
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // A batch of the channel archive writes a row for each busy channel,
                // hundreds of pages: with SQLite's default 2 MB cache the writer ran
                // out of room mid-transaction and wrote pages out early (and read
                // them back). The cache only fills while such batches are written.
                try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)")
            }
            let migrator = Migrations.migrator()
            // A database a newer Switchboard has migrated (after a downgrade, say) has
            // tables and columns this version does not know: writing to it could break
            // them, so it is refused rather than used.
            let unknown = try pool.read { db in
                try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
            }
            guard unknown.isEmpty else { throw StorageError.newerDatabase(migrations: unknown) }
            try migrator.migrate(pool)
        } catch {
            try? pool.close()
            serverLock?.release()
            throw error
        }
    }

    /// Why `folder` could not be created, in words (Foundation's own description
    /// is a dump of its error object).
    private static func reason(creating folder: String, _ error: any Error) -> String {
        // A file where one of the path's folders should be: say which.
        var ancestor = folder
        while !ancestor.isEmpty, ancestor != "/" {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: ancestor, isDirectory: &isFolder) {
                if !isFolder.boolValue { return "\(ancestor) is a file, not a folder" }
                break
            }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        let described = error as NSError
        if let underlying = described.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return described.localizedDescription
    }

    /// The writer connection's page cache, in KiB.
    static let writerCacheKiB = 16 * 1024

    /// Closes every connection. Using the database afterwards is an error.
    public func close() throws {
        // Readers first: the last connection to close checkpoints and removes the
        // WAL, and a read-only connection cannot.
        pool.releaseMemory()
        defer { serverLock?.release() }
        try pool.close()
    }

    /// Canned responses shared by the operators.
    public var cannedResponses: CannedResponseStore { CannedResponseStore(pool: pool) }

    /// Operator accounts.
    public var operators: OperatorStore {
        OperatorStore(pool: pool, cache: verificationCache)
    }

    /// Live chat conversations, their messages and the pages their visitors visited.
    public var conversations: ConversationStore {
        ConversationStore(pool: pool)
    }

    /// Messages of ordinary channels, for draft/chathistory.
    public var channelHistory: ChannelHistoryStore { ChannelHistoryStore(pool: pool, counts: historyCounts) }

    /// Read markers of operator accounts (draft/read-marker).
    public var readMarkers: ReadMarkerStore { ReadMarkerStore(pool: pool) }

    /// The writer connection's `PRAGMA synchronous` level (2 is FULL), for diagnostics.
    public func synchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
    }

    /// The SQLite journal mode in effect (`"wal"`), for diagnostics.
    public func journalMode() throws -> String {
        try pool.read { db in
            try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? ""
        }
    }

    /// The identifiers of the migrations applied to this database, oldest first.
    public func appliedMigrations() throws -> [String] {
        let migrator = Migrations.migrator()
        return try pool.read { db in try migrator.appliedMigrations(db) }
    }
}
