import Foundation
import GRDB
import Synchronization

/// One PRIVMSG or NOTICE of an ordinary channel, as archived for
/// draft/chathistory.
public struct ChannelMessage: Sendable, Hashable {
    /// The channel's folded name: what identifies the channel.
    public var channel: String
    /// The channel's name as the message carried it.
    public var name: String
    /// The msgid the message was relayed with.
    public var msgid: String
    /// When it was relayed, to the millisecond.
    public var at: Date
    /// The sender's `nick!user@host` then.
    public var source: String
    /// The sender's account, if any.
    public var account: String?
    /// `PRIVMSG` or `NOTICE`.
    public var command: String
    public var text: String
    /// Other tags of the message (`bot`, client-only tags), serialised as on
    /// the wire without the leading `@`; nil when there were none.
    public var tags: String?

    public init(
        channel: String, name: String, msgid: String, at: Date, source: String, account: String?, command: String,
        text: String, tags: String? = nil
    ) {
        self.channel = channel
        self.name = name
        self.msgid = msgid
        self.at = at
        self.source = source
        self.account = account
        self.command = command
        self.text = text
        self.tags = tags
    }
}

/// The archive of ordinary channel messages, in the `channel_history` table
/// (see the "v3-channel-history" migration).
///
/// Messages are stored in chunks: one row holds up to `chunkSize` consecutive
/// messages of one channel, packed in a blob. A busy server archives tens of
/// thousands of messages a second, and a row (and an index entry) per message
/// would cost several times the CPU of writing them; a chunk is one row
/// appended per channel and batch. Messages are ordered as they were relayed
/// (chunk id, then place in the chunk); time references select by each
/// message's own time.
///
/// Each channel keeps its newest `retention` messages (`append` prunes the
/// channels it is given). Methods are synchronous and may block: call them off
/// event loops.
public struct ChannelHistoryStore: Sendable {
    let pool: DatabasePool
    /// How many messages each channel written by this process holds.
    let counts: StoredCounts

    init(pool: DatabasePool, counts: StoredCounts) {
        self.pool = pool
        self.counts = counts
    }

    /// How many messages a channel keeps.
    public static let retention = 10_000
    /// How far past its retention a channel may grow before `append` prunes it:
    /// pruning reads the channel's rows, so it is done once per this many messages.
    public static let pruneSlack = 1_000
    /// The most messages in one row.
    public static let chunkSize = 256

    /// Stores `messages` like `append(_:keep:)` stores a batch.
    public func append(_ messages: [ChannelMessage], keep: Int = Self.retention) throws {
        var batch = ChannelHistoryBatch()
        for message in messages { batch.append(message) }
        try append(batch, keep: keep)
    }

    /// Stores the messages of `batch` in one transaction, in order, and keeps
    /// each channel near its newest `keep` messages: a channel is pruned back to
    /// `keep` once it holds more than `keep + pruneSlack`. The number of messages
    /// of each channel is read once per process and then counted as it is
    /// written, so a busy archive does not read its own rows back.
    public func append(_ batch: ChannelHistoryBatch, keep: Int = Self.retention) throws {
        guard !batch.isEmpty else { return }
        let order = batch.groups.map(\.channel)
        let known = counts.current(order)
        do {
            let updated = try pool.write { db -> [String: Int] in
                var updated: [String: Int] = [:]
                for group in batch.groups {
                    var added = 0
                    for chunk in group.chunks {
                        try Self.insert(db, channel: group.channel, chunk)
                        added += chunk.count
                    }
                    var total = try known[group.channel].map { $0 + added } ?? Self.count(db, channel: group.channel)
                    if total > keep + Self.pruneSlack {
                        try Self.prune(db, channel: group.channel, keep: keep)
                        total = min(total, keep)
                    }
                    updated[group.channel] = total
                }
                return updated
            }
            counts.set(updated)
        } catch {
            // Not written: what is stored for these channels is read again next time.
            counts.forget(order)
            throw error
        }
    }

    /// Keeps the newest `keep` messages of the channel.
    public func prune(channel: String, keep: Int = Self.retention) throws {
        try pool.write { db in try Self.prune(db, channel: channel, keep: keep) }
    }

    /// The channel's messages that answer `request`, oldest first.
    public func messages(channel: String, _ request: HistoryRequest) throws -> [ChannelMessage] {
        let limit = max(request.limit, 0)
        guard limit > 0 else { return [] }
        return try pool.read { db in
            let reader = ChunkReader(db: db, channel: channel)
            switch request {
            case .latest(nil, _):
                return try reader.scan(newestFirst: true, [], limit: limit)
            case .latest(let reference?, _):
                guard let bound = try reader.resolve(reference) else { return [] }
                return try reader.scan(newestFirst: true, [.after(bound)], limit: limit)
            case .before(let reference, _):
                guard let bound = try reader.resolve(reference) else { return [] }
                return try reader.scan(newestFirst: true, [.before(bound)], limit: limit)
            case .after(let reference, _):
                guard let bound = try reader.resolve(reference) else { return [] }
                return try reader.scan(newestFirst: false, [.after(bound)], limit: limit)
            case .around(let reference, _):
                guard let bound = try reader.resolve(reference) else { return [] }
                let earlier = try reader.scan(newestFirst: true, [.before(bound)], limit: limit)
                let later = try reader.scan(newestFirst: false, [.from(bound)], limit: limit)
                // About half before, more when there are too few after.
                let taken = min(earlier.count, max(limit / 2, limit - later.count))
                return Array(earlier.suffix(taken)) + Array(later.prefix(limit - taken))
            case .between(let first, let second, _):
                guard let start = try reader.resolve(first), let end = try reader.resolve(second) else { return [] }
                if start.isNotAfter(end) {
                    return try reader.scan(newestFirst: false, [.after(start), .before(end)], limit: limit)
                } else {
                    return try reader.scan(newestFirst: true, [.before(start), .after(end)], limit: limit)
                }
            }
        }
    }

    /// How many messages the channel has stored.
    public func count(channel: String) throws -> Int {
        try pool.read { db in try Self.count(db, channel: channel) }
    }

    /// For each of `channels` with messages strictly between the two dates,
    /// the time of its newest one there.
    public func latestActivity(channels: [String], after: Date, before: Date) throws -> [String: Date] {
        guard !channels.isEmpty else { return [:] }
        let (low, high) = (HistoryQuery.milliseconds(after), HistoryQuery.milliseconds(before))
        return try pool.read { db in
            var result: [String: Date] = [:]
            for channel in channels {
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT max_at, msgids, messages FROM channel_history
                        WHERE channel = ? AND min_at < ? AND max_at > ? ORDER BY id DESC
                        """,
                    arguments: [channel, high, low])
                while let row = try rows.next() {
                    let newest: Int64 = row["max_at"]
                    if newest < high {
                        result[channel] = ChannelHistoryCoding.date(newest)
                        break
                    }
                    let inside = try ChannelHistoryCoding.decode(row["messages"], msgids: row["msgids"], channel: channel)
                        .map { $0.at }.filter { $0 > low && $0 < high }
                    if let newest = inside.max() {
                        result[channel] = ChannelHistoryCoding.date(newest)
                        break
                    }
                }
            }
            return result
        }
    }

    // MARK: Rows

    private static func insert(_ db: Database, channel: String, _ chunk: ChannelHistoryCoding.Chunk) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO channel_history (channel, min_at, max_at, count, msgids, messages)
                VALUES (?, ?, ?, ?, ?, ?)
                """)
        try statement.execute(arguments: [channel, chunk.minAt, chunk.maxAt, chunk.count, chunk.msgids, Data(chunk.bytes)])
    }

    private static func count(_ db: Database, channel: String) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT COALESCE(SUM(count), 0) FROM channel_history WHERE channel = ?", arguments: [channel]) ?? 0
    }

    private static func prune(_ db: Database, channel: String, keep: Int) throws {
        guard keep > 0 else {
            try db.execute(sql: "DELETE FROM channel_history WHERE channel = ?", arguments: [channel])
            return
        }
        guard try count(db, channel: channel) > keep else { return }
        // The chunks older than the one that holds the oldest message to keep...
        try db.execute(
            sql: """
                DELETE FROM channel_history WHERE channel = ?1 AND id < (
                    SELECT id FROM (
                        SELECT id, SUM(count) OVER (ORDER BY id DESC) AS newer
                        FROM channel_history WHERE channel = ?1
                    ) WHERE newer >= ?2 ORDER BY id DESC LIMIT 1
                )
                """,
            arguments: [channel, keep])
        // ...then the older messages of that one.
        let extra = try count(db, channel: channel) - keep
        guard extra > 0,
              let oldest = try Row.fetchOne(
                db, sql: "SELECT id, msgids, messages FROM channel_history WHERE channel = ? ORDER BY id LIMIT 1",
                arguments: [channel])
        else { return }
        let kept = try ChannelHistoryCoding.decode(oldest["messages"], msgids: oldest["msgids"], channel: channel).dropFirst(extra)
        var remaining = ChannelHistoryBatch()
        for (at, message) in kept { remaining.append(message, at: at) }
        // Fewer than a chunk's worth: one chunk.
        guard let chunk = remaining.groups.first?.chunks.first else {
            try db.execute(sql: "DELETE FROM channel_history WHERE id = ?", arguments: [oldest["id"] as Int64])
            return
        }
        try db.execute(
            sql: "UPDATE channel_history SET min_at = ?, max_at = ?, count = ?, msgids = ?, messages = ? WHERE id = ?",
            arguments: [chunk.minAt, chunk.maxAt, chunk.count, chunk.msgids, Data(chunk.bytes), oldest["id"] as Int64])
    }
}

/// Reads one channel's chunks for a request.
private struct ChunkReader {
    let db: Database
    let channel: String

    /// A message's place: its chunk, then its index there.
    struct Position: Comparable {
        var chunk: Int64
        var index: Int
        static func < (a: Position, b: Position) -> Bool { (a.chunk, a.index) < (b.chunk, b.index) }
    }

    /// A resolved reference: a stored message (and its time), or a time.
    enum Bound {
        case message(Position, at: Int64)
        case time(Int64)

        var at: Int64 {
            switch self {
            case .message(_, let at), .time(let at): return at
            }
        }

        /// Whether `self` comes before `other`, or at the same place.
        func isNotAfter(_ other: Bound) -> Bool {
            if case .message(let a, _) = self, case .message(let b, _) = other { return a <= b }
            return at <= other.at
        }
    }

    /// Messages strictly after, strictly before, or at-or-after a bound.
    enum Constraint {
        case after(Bound)
        case before(Bound)
        case from(Bound)

        /// A condition on chunk rows that keeps every chunk with a message that passes.
        var sql: (String, StatementArguments) {
            switch self {
            case .after(.message(let p, _)), .from(.message(let p, _)): return ("id >= ?", [p.chunk])
            case .before(.message(let p, _)): return ("id <= ?", [p.chunk])
            case .after(.time(let at)): return ("max_at > ?", [at])
            case .from(.time(let at)): return ("max_at >= ?", [at])
            case .before(.time(let at)): return ("min_at < ?", [at])
            }
        }

        func accepts(_ position: Position, at: Int64) -> Bool {
            switch self {
            case .after(.message(let p, _)): return position > p
            case .from(.message(let p, _)): return position >= p
            case .before(.message(let p, _)): return position < p
            case .after(.time(let t)): return at > t
            case .from(.time(let t)): return at >= t
            case .before(.time(let t)): return at < t
            }
        }
    }

    func resolve(_ reference: HistoryReference) throws -> Bound? {
        switch reference {
        case .timestamp(let date):
            return .time(HistoryQuery.milliseconds(date))
        case .msgid(let msgid):
            guard !msgid.isEmpty, !msgid.contains(" ") else { return nil }
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT id, msgids, messages FROM channel_history
                    WHERE channel = ? AND instr(msgids, ?) > 0 ORDER BY id DESC LIMIT 1
                    """,
                arguments: [channel, " \(msgid) "])
            else { return nil }
            let messages = try ChannelHistoryCoding.decode(row["messages"], msgids: row["msgids"], channel: channel)
            guard let index = messages.firstIndex(where: { $0.message.msgid == msgid }) else { return nil }
            return .message(Position(chunk: row["id"], index: index), at: messages[index].at)
        }
    }

    /// Up to `limit` messages that pass every constraint, taken from the
    /// newest or the oldest end, returned oldest first.
    func scan(newestFirst: Bool, _ constraints: [Constraint], limit: Int) throws -> [ChannelMessage] {
        var sql = "SELECT id, msgids, messages FROM channel_history WHERE channel = ?"
        var arguments: StatementArguments = [channel]
        for constraint in constraints {
            let (condition, values) = constraint.sql
            sql += " AND " + condition
            arguments += values
        }
        sql += newestFirst ? " ORDER BY id DESC" : " ORDER BY id ASC"
        var found: [ChannelMessage] = []
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        scanning: while let row = try rows.next() {
            let chunk: Int64 = row["id"]
            let messages = try ChannelHistoryCoding.decode(row["messages"], msgids: row["msgids"], channel: channel)
            let indices = newestFirst ? Array(messages.indices.reversed()) : Array(messages.indices)
            for index in indices {
                let position = Position(chunk: chunk, index: index)
                let at = messages[index].at
                guard constraints.allSatisfy({ $0.accepts(position, at: at) }) else { continue }
                found.append(messages[index].message)
                if found.count == limit { break scanning }
            }
        }
        return newestFirst ? found.reversed() : found
    }
}

/// The blob of a chunk: a version byte, then one record per message.
///
/// Version 2 (written since): per message a flags byte (`Flag`); the index of
/// its author (name, source and account) among the chunk's authors, when it
/// is one already stored; its time, in milliseconds, as a zigzag varint
/// difference from the previous record's (from 0 for the first); for a new
/// author, its name, source and account (which become the next index); the
/// text; the tags when flagged. Strings are a varint length and UTF-8 bytes
/// (account "" for none). The msgid is not repeated: it is the record's word in
/// the `msgids` column (" a b c "), which lets SQLite find a msgid's chunk
/// without decoding any. A chat's chunk has few authors and messages close in
/// time, so a record is little more than its text: the first version took
/// about 60 % more bytes for the same messages.
///
/// Version 1 (read only): per message its time (Int64 milliseconds,
/// little-endian), its command (0 PRIVMSG, 1 NOTICE), then name, msgid,
/// source, account, text and tags, each as a varint length and UTF-8 bytes
/// (length 0: no account, no tags).
enum ChannelHistoryCoding {
    struct Chunk {
        var bytes: [UInt8]
        var msgids: String
        var minAt: Int64
        var maxAt: Int64
        var count: Int
    }

    enum Failure: Error, CustomStringConvertible {
        case corrupt
        var description: String { "a stored chunk of channel history is corrupt" }
    }

    /// The version written.
    static let version: UInt8 = 2

    /// Bits of a version 2 record's flags byte.
    enum Flag {
        static let notice: UInt8 = 1
        /// Name, source and account follow, for an author new to the chunk.
        static let newAuthor: UInt8 = 2
        static let tags: UInt8 = 4
    }

    /// The messages of a chunk, with their times in milliseconds. `msgids` is
    /// the chunk's msgid list.
    static func decode(_ data: Data, msgids: String, channel: String) throws -> [(at: Int64, message: ChannelMessage)] {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var reader = Reader(bytes: raw)
            switch try reader.byte() {
            case 1: return try decodeVersion1(&reader, channel: channel)
            case 2: return try decodeVersion2(&reader, msgids: msgids, channel: channel)
            default: throw Failure.corrupt
            }
        }
    }

    private static func decodeVersion2(
        _ reader: inout Reader, msgids: String, channel: String
    ) throws -> [(at: Int64, message: ChannelMessage)] {
        var ids = msgids.split(separator: " ").makeIterator()
        var authors: [(name: String, source: String, account: String)] = []
        var at: Int64 = 0
        var messages: [(at: Int64, message: ChannelMessage)] = []
        while !reader.isAtEnd {
            let flags = try reader.byte()
            guard flags & ~(Flag.notice | Flag.newAuthor | Flag.tags) == 0 else { throw Failure.corrupt }
            var author: Int?
            if flags & Flag.newAuthor == 0 {
                let index = try reader.varint()
                guard index < UInt64(authors.count) else { throw Failure.corrupt }
                author = Int(index)
            }
            at &+= unzigzag(try reader.varint())
            if author == nil {
                authors.append((try reader.string(), try reader.string(), try reader.string()))
                author = authors.count - 1
            }
            let text = try reader.string()
            let tags = flags & Flag.tags != 0 ? try reader.string() : ""
            guard let msgid = ids.next(), let author else { throw Failure.corrupt }
            let (name, source, account) = authors[author]
            messages.append((at, ChannelMessage(
                channel: channel, name: name, msgid: String(msgid), at: date(at), source: source,
                account: account.isEmpty ? nil : account, command: flags & Flag.notice != 0 ? "NOTICE" : "PRIVMSG",
                text: text, tags: tags.isEmpty ? nil : tags)))
        }
        guard ids.next() == nil else { throw Failure.corrupt }
        return messages
    }

    private static func decodeVersion1(
        _ reader: inout Reader, channel: String
    ) throws -> [(at: Int64, message: ChannelMessage)] {
        var messages: [(at: Int64, message: ChannelMessage)] = []
        while !reader.isAtEnd {
            let at = try reader.int64()
            let command = try reader.byte() == 1 ? "NOTICE" : "PRIVMSG"
            let name = try reader.string()
            let msgid = try reader.string()
            let source = try reader.string()
            let account = try reader.string()
            let text = try reader.string()
            let tags = try reader.string()
            messages.append((at, ChannelMessage(
                channel: channel, name: name, msgid: msgid, at: date(at), source: source,
                account: account.isEmpty ? nil : account, command: command, text: text,
                tags: tags.isEmpty ? nil : tags)))
        }
        return messages
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// A signed difference as an unsigned number that is small when the
    /// difference is small either way: 0, -1, 1, -2... give 0, 1, 2, 3...
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// Bytes of `value` as a varint (LEB128).
    static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest > 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw Failure.corrupt }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func int64() throws -> Int64 {
            guard offset + 8 <= bytes.count else { throw Failure.corrupt }
            var value: Int64 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)])) }
            offset += 8
            return Int64(littleEndian: value)
        }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = try byte()
                guard shift < 64 else { throw Failure.corrupt }
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func string() throws -> String {
            let length = try varint()
            guard length <= UInt64(bytes.count - offset) else { throw Failure.corrupt }
            let end = offset + Int(length)
            defer { offset = end }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), as: UTF8.self)
        }
    }
}

/// The number of archived messages of each channel this process has written,
/// shared by every `ChannelHistoryStore` of one database.
final class StoredCounts: Sendable {
    private let map = Mutex<[String: Int]>([:])

    func current(_ channels: [String]) -> [String: Int] {
        map.withLock { map in
            var known: [String: Int] = [:]
            for channel in channels { known[channel] = map[channel] }
            return known
        }
    }

    func set(_ updated: [String: Int]) {
        map.withLock { map in
            // Bounded: past this many channels, start again (each is read once more).
            if map.count > 100_000 { map.removeAll() }
            map.merge(updated) { _, new in new }
        }
    }

    func forget(_ channels: [String]) {
        map.withLock { map in
            for channel in channels { map[channel] = nil }
        }
    }
}
