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

    /// Opens (creating it if needed) the database at `path` and brings its
    /// schema up to date. The parent folder is created when missing.
    public init(path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }

        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.label = "switchboard"
        self.pool = try DatabasePool(path: path, configuration: configuration)
        self.verificationCache = VerificationCache()
        do {
            try Migrations.migrator().migrate(pool)
        } catch {
            try? pool.close()
            throw error
        }
    }

    /// Closes every connection. Using the database afterwards is an error.
    public func close() throws {
        // Readers first: the last connection to close checkpoints and removes the
        // WAL, and a read-only connection cannot.
        pool.releaseMemory()
        try pool.close()
    }

    /// Operator accounts.
    public var operators: OperatorStore {
        OperatorStore(pool: pool, cache: verificationCache)
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
