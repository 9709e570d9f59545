/// Channel messages on their way to the archive, already in their stored form.
///
/// The server appends each relayed message here as it goes out: its fields are
/// copied straight into the chunk its channel will store (the blob of records
/// and the msgid list of a `channel_history` row), so archiving a message costs
/// one copy of its bytes and no allocation of its own, and the database thread
/// only inserts ready rows. The whole batch is handed over as one value.
public struct ChannelHistoryBatch: Sendable {
    /// Where a channel's messages are in a batch. A caller that appends many
    /// messages of the same channels keeps it per channel and passes it back, to
    /// skip looking the channel up by name; any value is safe (it is checked).
    public typealias Slot = Int

    /// One channel's messages of the batch, as chunks ready to store.
    struct Group: Sendable {
        /// Folded channel name.
        let channel: String
        /// Chunks already holding `ChannelHistoryStore.chunkSize` messages.
        var full: [ChannelHistoryCoding.Chunk] = []
        var current: ChunkBuilder

        init(channel: String, expected: ChunkBuilder.Size?) {
            self.channel = channel
            current = ChunkBuilder(expected: expected)
        }

        var chunks: [ChannelHistoryCoding.Chunk] {
            current.count > 0 ? full + [current.chunk] : full
        }
    }

    private(set) var groups: [Group] = []
    /// Folded channel name -> index in `groups`.
    private var slots: [String: Int] = [:]
    /// Folded channel name -> the size of its last chunk in the batch before: a
    /// busy channel's chunk starts that big instead of growing (and being copied)
    /// several times in every batch.
    private var expectedSizes: [String: ChunkBuilder.Size] = [:]
    public private(set) var count = 0

    public init() {}

    /// An empty batch that expects the channels of `previous` to be as busy again.
    public init(after previous: ChannelHistoryBatch) {
        for group in previous.groups { expectedSizes[group.channel] = group.current.size }
    }

    public var isEmpty: Bool { count == 0 }

    /// Adds one message. `channel` is the folded name that identifies the
    /// channel, `name` the name the message carried; `at` is in milliseconds
    /// since 1970; `tags` are the message's other tags as on the wire, without `@`.
    /// `slot` is the channel's place in the batch the last time (see `Slot`);
    /// it is updated.
    public mutating func append(
        channel: String, name: String, msgid: String, at: Int64, source: String, account: String?,
        notice: Bool, text: String, tags: String?, slot: inout Slot
    ) {
        if !(groups.indices.contains(slot) && groups[slot].channel == channel) {
            if let known = slots[channel] {
                slot = known
            } else {
                slot = groups.count
                slots[channel] = slot
                groups.append(Group(channel: channel, expected: expectedSizes[channel]))
            }
        }
        groups[slot].current.append(
            name: name, msgid: msgid, at: at, source: source, account: account ?? "", notice: notice, text: text,
            tags: tags ?? "")
        if groups[slot].current.count == ChannelHistoryStore.chunkSize {
            let chunk = groups[slot].current.chunk
            groups[slot].full.append(chunk)
            groups[slot].current = ChunkBuilder(expected: groups[slot].current.size)
        }
        count += 1
    }

    /// Adds a message in its stored form; `at` (milliseconds since 1970) replaces
    /// the message's own time, for a caller that already has it exactly.
    public mutating func append(_ message: ChannelMessage, at: Int64? = nil) {
        var slot = -1
        append(
            channel: message.channel, name: message.name, msgid: message.msgid,
            at: at ?? HistoryQuery.milliseconds(message.at), source: message.source, account: message.account,
            notice: message.command == "NOTICE", text: message.text, tags: message.tags, slot: &slot)
    }
}

/// One chunk being filled: the records in stored form (see
/// `ChannelHistoryCoding`) and the msgid list.
struct ChunkBuilder: Sendable {
    private var bytes: [UInt8] = []
    private var msgids: [UInt8] = []
    private var minAt = Int64.max
    private var maxAt = Int64.min
    /// The previous record's time, which the next one is stored relative to.
    private var lastAt: Int64 = 0
    /// The chunk's authors (name, source, account) in the order they were
    /// first stored; a record names one by its index.
    private var authors: [Author] = []
    private var lastAuthor = 0
    private(set) var count = 0

    private struct Author: Sendable {
        let name: String
        let source: String
        let account: String
    }

    /// A chunk's first size: a few records. It grows for busy channels; a batch
    /// that touches many quiet channels stays small.
    private static let initialCapacity = 512

    /// How many bytes a chunk's records and msgid list take.
    struct Size: Sendable {
        var records: Int
        var msgids: Int
    }

    /// The capacity the chunk starts with when it gets its first record.
    private let expected: Size

    /// A chunk whose first record reserves room for `expected` (from a chunk of the
    /// same channel before), or for a few records.
    init(expected: Size? = nil) {
        self.expected = Size(records: max(expected?.records ?? 0, Self.initialCapacity),
                             msgids: max(expected?.msgids ?? 0, Self.initialCapacity / 8))
    }

    var size: Size { Size(records: bytes.count, msgids: msgids.count) }

    mutating func append(
        name: String, msgid: String, at: Int64, source: String, account: String, notice: Bool, text: String,
        tags: String
    ) {
        if bytes.isEmpty {
            bytes.reserveCapacity(expected.records)
            bytes.append(ChannelHistoryCoding.version)
            msgids.reserveCapacity(expected.msgids)
            msgids.append(UInt8(ascii: " "))
        }
        let known = authorIndex(name: name, source: source, account: account)
        var flags: UInt8 = notice ? ChannelHistoryCoding.Flag.notice : 0
        if known == nil { flags |= ChannelHistoryCoding.Flag.newAuthor }
        if !tags.isEmpty { flags |= ChannelHistoryCoding.Flag.tags }
        let delta = ChannelHistoryCoding.zigzag(at &- lastAt)
        // The record is assembled in a scratch buffer and appended in one go: one
        // capacity check instead of one per field and length byte.
        var size = 1 + ChannelHistoryCoding.varintSize(delta) + Self.fieldSize(text)
        if let known {
            size += ChannelHistoryCoding.varintSize(UInt64(known))
        } else {
            size += Self.fieldSize(name) + Self.fieldSize(source) + Self.fieldSize(account)
        }
        if !tags.isEmpty { size += Self.fieldSize(tags) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { record in
            var offset = 0
            record[offset] = flags
            offset += 1
            if let known {
                Self.write(UInt64(known), into: record, at: &offset)
            }
            Self.write(delta, into: record, at: &offset)
            if known == nil {
                Self.write(name, into: record, at: &offset)
                Self.write(source, into: record, at: &offset)
                Self.write(account, into: record, at: &offset)
            }
            Self.write(text, into: record, at: &offset)
            if !tags.isEmpty { Self.write(tags, into: record, at: &offset) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: record[0..<offset]))
        }
        if known == nil {
            lastAuthor = authors.count
            authors.append(Author(name: name, source: source, account: account))
        }
        // A record's msgid is its word in the list: one that is empty or has a
        // space (the server makes neither) is stored with "_" for the spaces.
        var msgid = msgid
        let listed = msgid.withUTF8 { utf8 in
            guard !utf8.isEmpty, !utf8.contains(UInt8(ascii: " ")) else { return false }
            msgids.append(contentsOf: utf8)
            return true
        }
        if !listed {
            msgids.append(contentsOf: msgid.isEmpty ? Array("_".utf8) : msgid.utf8.map { $0 == UInt8(ascii: " ") ? UInt8(ascii: "_") : $0 })
        }
        msgids.append(UInt8(ascii: " "))
        lastAt = at
        minAt = min(minAt, at)
        maxAt = max(maxAt, at)
        count += 1
    }

    /// How many of the chunk's latest authors a record's author is looked up
    /// among. A busy channel with many speakers may store one twice (the
    /// decoder does not mind); the lookup stays a few comparisons a message.
    private static let authorsSearched = 16

    /// The index of a stored author, trying the previous record's first: most
    /// records are by someone who spoke in the chunk just before.
    private mutating func authorIndex(name: String, source: String, account: String) -> Int? {
        func matches(_ author: Author) -> Bool {
            author.source == source && author.name == name && author.account == account
        }
        if authors.indices.contains(lastAuthor), matches(authors[lastAuthor]) { return lastAuthor }
        let searched = max(0, authors.count - Self.authorsSearched)..<authors.count
        guard let index = authors[searched].lastIndex(where: matches) else { return nil }
        lastAuthor = index
        return index
    }

    var chunk: ChannelHistoryCoding.Chunk {
        guard count > 0 else {
            return ChannelHistoryCoding.Chunk(
                bytes: [ChannelHistoryCoding.version], msgids: " ", minAt: 0, maxAt: 0, count: 0)
        }
        return ChannelHistoryCoding.Chunk(
            bytes: bytes, msgids: String(decoding: msgids, as: UTF8.self), minAt: minAt, maxAt: maxAt, count: count)
    }

    /// Bytes of a field in a record: its varint length, then its UTF-8 bytes.
    private static func fieldSize(_ text: String) -> Int {
        let count = text.utf8.count
        return ChannelHistoryCoding.varintSize(UInt64(count)) + count
    }

    /// Writes a varint (LEB128) at `offset`, moving it past it.
    private static func write(_ value: UInt64, into record: UnsafeMutableBufferPointer<UInt8>, at offset: inout Int) {
        var rest = value
        while rest >= 0x80 {
            record[offset] = UInt8(truncatingIfNeeded: rest) | 0x80
            offset += 1
            rest >>= 7
        }
        record[offset] = UInt8(rest)
        offset += 1
    }

    /// Writes a length (varint) and the UTF-8 bytes at `offset`, moving it past them.
    private static func write(_ text: String, into record: UnsafeMutableBufferPointer<UInt8>, at offset: inout Int) {
        let count = text.utf8.count
        write(UInt64(count), into: record, at: &offset)
        var copy = text
        copy.withUTF8 { utf8 in
            guard let source = utf8.baseAddress, !utf8.isEmpty else { return }
            (record.baseAddress! + offset).update(from: source, count: utf8.count)
        }
        offset += count
    }
}
