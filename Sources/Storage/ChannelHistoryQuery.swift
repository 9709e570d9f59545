import Foundation
import GRDB

/// A message reference of IRCv3 chathistory: `timestamp=...` or `msgid=...`.
public enum HistoryReference: Sendable, Hashable {
    case timestamp(Date)
    case msgid(String)
}

/// One history request (the chathistory subcommands that return messages).
/// References are exclusive unless said otherwise; every answer is at most
/// `limit` messages, oldest first.
public enum HistoryRequest: Sendable, Hashable {
    /// The newest messages; with a reference, only those after it.
    case latest(after: HistoryReference?, limit: Int)
    /// The newest messages before the reference.
    case before(HistoryReference, limit: Int)
    /// The oldest messages after the reference.
    case after(HistoryReference, limit: Int)
    /// Messages on both sides of the reference, about half before; the
    /// referenced message itself (or those at the timestamp) count as after.
    case around(HistoryReference, limit: Int)
    /// Messages strictly between two references, counted from the first:
    /// oldest first when the first is the earlier one, newest first otherwise.
    case between(HistoryReference, HistoryReference, limit: Int)

    public var limit: Int {
        switch self {
        case .latest(_, let limit), .before(_, let limit), .after(_, let limit), .around(_, let limit),
             .between(_, _, let limit):
            return limit
        }
    }
}

/// The SQL behind `HistoryRequest` for a table with a row per message (the
/// conversation messages; channel history, stored in chunks, has its own
/// reader). A message's position is `(at, id)`: its time in milliseconds,
/// then its row id, which orders messages with the same time.
struct HistoryQuery {
    /// The table, e.g. `channel_message`.
    let table: String
    /// A condition selecting one target's messages, e.g. `channel = ?`.
    let scope: String
    let arguments: StatementArguments
    /// The position of the message with this msgid in the scope, if any.
    let position: (Database, String) throws -> Position?

    struct Position: Comparable {
        var at: Int64
        var id: Int64
        static func < (a: Position, b: Position) -> Bool { (a.at, a.id) < (b.at, b.id) }
    }

    /// A reference resolved to positions: messages after `lower` come after
    /// it, messages before `upper` come before it (both exclusive).
    private struct Bounds {
        var lower: Position
        var upper: Position
    }

    /// Rows in ascending order. A msgid that is not in the scope selects nothing.
    func fetch(_ db: Database, _ request: HistoryRequest) throws -> [Row] {
        let limit = max(request.limit, 0)
        guard limit > 0 else { return [] }
        switch request {
        case .latest(nil, _):
            return try rows(db, after: nil, before: nil, newestFirst: true, limit: limit)
        case .latest(let reference?, _):
            guard let bounds = try resolve(db, reference) else { return [] }
            return try rows(db, after: bounds.lower, before: nil, newestFirst: true, limit: limit)
        case .before(let reference, _):
            guard let bounds = try resolve(db, reference) else { return [] }
            return try rows(db, after: nil, before: bounds.upper, newestFirst: true, limit: limit)
        case .after(let reference, _):
            guard let bounds = try resolve(db, reference) else { return [] }
            return try rows(db, after: bounds.lower, before: nil, newestFirst: false, limit: limit)
        case .around(let reference, _):
            guard let bounds = try resolve(db, reference) else { return [] }
            let pivot = bounds.upper
            // At or after the pivot: after the position just before it.
            let justBefore = pivot.id == Int64.min
                ? Position(at: pivot.at - 1, id: Int64.max)
                : Position(at: pivot.at, id: pivot.id - 1)
            let earlier = try rows(db, after: nil, before: pivot, newestFirst: true, limit: limit)
            let later = try rows(db, after: justBefore, before: nil, newestFirst: false, limit: limit)
            // About half before, more when there are too few after.
            let taken = min(earlier.count, max(limit / 2, limit - later.count))
            return Array(earlier.suffix(taken)) + Array(later.prefix(limit - taken))
        case .between(let first, let second, _):
            guard let start = try resolve(db, first), let end = try resolve(db, second) else { return [] }
            if start.upper <= end.upper {
                return try rows(db, after: start.lower, before: end.upper, newestFirst: false, limit: limit)
            } else {
                return try rows(db, after: end.lower, before: start.upper, newestFirst: true, limit: limit)
            }
        }
    }

    private func resolve(_ db: Database, _ reference: HistoryReference) throws -> Bounds? {
        switch reference {
        case .timestamp(let date):
            let at = Self.milliseconds(date)
            return Bounds(lower: Position(at: at, id: Int64.max), upper: Position(at: at, id: Int64.min))
        case .msgid(let msgid):
            return try position(db, msgid).map { Bounds(lower: $0, upper: $0) }
        }
    }

    /// Up to `limit` rows strictly between the bounds, taken from the newest or
    /// the oldest end, returned in ascending order.
    private func rows(_ db: Database, after: Position?, before: Position?, newestFirst: Bool, limit: Int) throws -> [Row] {
        var sql = "SELECT * FROM \(table) WHERE \(scope)"
        var arguments = self.arguments
        if let after {
            sql += " AND (at, id) > (?, ?)"
            arguments += [after.at, after.id]
        }
        if let before {
            sql += " AND (at, id) < (?, ?)"
            arguments += [before.at, before.id]
        }
        let order = newestFirst ? "DESC" : "ASC"
        sql += " ORDER BY at \(order), id \(order) LIMIT ?"
        arguments += [limit]
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        return newestFirst ? rows.reversed() : rows
    }

    static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return 0 }
        return Int64(max(min(value, 9e15), -9e15))
    }
}
