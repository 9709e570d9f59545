import Foundation
import GRDB

/// draft/read-marker: per operator account and target (a folded channel
/// name or nick), the time of the last message the user has read, in the
/// `read_marker` table (see the "v3-channel-history" migration).
///
/// A marker only moves forward, in the database too: a late write of an
/// older value changes nothing. Methods are synchronous and may block: call
/// them off event loops.
public struct ReadMarkerStore: Sendable {
    let pool: DatabasePool

    /// Every marker of the account (compared case-insensitively), by target.
    public func markers(account: String) throws -> [String: Date] {
        try pool.read { db in
            var result: [String: Date] = [:]
            let rows = try Row.fetchAll(
                db, sql: "SELECT target, at FROM read_marker WHERE account = ?", arguments: [account])
            for row in rows {
                result[row["target"]] = Date(timeIntervalSince1970: Double(row["at"] as Int64) / 1000)
            }
            return result
        }
    }

    /// Moves the marker forward to `at` (to the millisecond); an earlier or
    /// equal date changes nothing. Returns the stored date.
    @discardableResult
    public func advance(account: String, target: String, to at: Date) throws -> Date {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO read_marker (account, target, at) VALUES (?, ?, ?)
                    ON CONFLICT (account, target) DO UPDATE SET at = MAX(at, excluded.at)
                    """,
                arguments: [account, target, HistoryQuery.milliseconds(at)])
            let stored = try Int64.fetchOne(
                db, sql: "SELECT at FROM read_marker WHERE account = ? AND target = ?", arguments: [account, target])
            return Date(timeIntervalSince1970: Double(stored ?? 0) / 1000)
        }
    }
}
