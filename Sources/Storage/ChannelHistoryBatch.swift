/// Channel messages on their way to the archive, already in their stored form.
///
/// The server appends each relayed message here as it goes out: its fields are
/// copied into one growing byte array (the record format of a stored chunk), so
/// archiving a message costs a copy of its bytes and no allocation of its own,
/// and the whole batch is handed to the database thread as one value.
/// `ChannelHistoryStore.append(_:keep:)` groups the records by channel
/// into chunks without decoding them.
public struct ChannelHistoryBatch: Sendable {
    struct Entry: Sendable {
        /// Folded channel name.
        let channel: String
        /// The record is `bytes[start..<end]`.
        let start: Int
        let end: Int
        /// Milliseconds since 1970.
        let at: Int64
        /// The msgid is `bytes[msgidStart..<msgidEnd]`.
        let msgidStart: Int
        let msgidEnd: Int
    }

    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Adds one message. `channel` is the folded name that identifies the
    /// channel, `name` the name the message carried; `at` is in milliseconds
    /// since 1970; `tags` are the message's other tags as on the wire, without `@`.
    public mutating func append(
        channel: String, name: String, msgid: String, at: Int64, source: String, account: String?,
        notice: Bool, text: String, tags: String?
    ) {
        let account = account ?? ""
        let tags = tags ?? ""
        // The record is assembled in a scratch buffer and appended in one go: one
        // capacity check instead of one per field and length byte.
        let size = 9 + Self.fieldSize(name) + Self.fieldSize(msgid) + Self.fieldSize(source)
            + Self.fieldSize(account) + Self.fieldSize(text) + Self.fieldSize(tags)
        let start = bytes.count
        var msgidStart = 0
        var msgidEnd = 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { record in
            var offset = 0
            withUnsafeBytes(of: at.littleEndian) { value in
                for byte in value {
                    record[offset] = byte
                    offset += 1
                }
            }
            record[offset] = notice ? 1 : 0
            offset += 1
            Self.write(name, into: record, at: &offset)
            Self.write(msgid, into: record, at: &offset)
            msgidEnd = start + offset
            msgidStart = msgidEnd - msgid.utf8.count
            Self.write(source, into: record, at: &offset)
            Self.write(account, into: record, at: &offset)
            Self.write(text, into: record, at: &offset)
            Self.write(tags, into: record, at: &offset)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: record[0..<offset]))
        }
        entries.append(Entry(channel: channel, start: start, end: bytes.count, at: at,
                             msgidStart: msgidStart, msgidEnd: msgidEnd))
    }

    /// Adds a message in its stored form; `at` (milliseconds since 1970) replaces
    /// the message's own time, for a caller that already has it exactly.
    public mutating func append(_ message: ChannelMessage, at: Int64? = nil) {
        append(
            channel: message.channel, name: message.name, msgid: message.msgid,
            at: at ?? HistoryQuery.milliseconds(message.at), source: message.source, account: message.account,
            notice: message.command == "NOTICE", text: message.text, tags: message.tags)
    }

    /// Bytes of a field in a record: its LEB128 length, then its UTF-8 bytes.
    private static func fieldSize(_ text: String) -> Int {
        let count = text.utf8.count
        var size = 1 + count
        var rest = count >> 7
        while rest > 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    /// Writes a length (LEB128) and the UTF-8 bytes at `offset`, moving it past them.
    private static func write(_ text: String, into record: UnsafeMutableBufferPointer<UInt8>, at offset: inout Int) {
        var length = text.utf8.count
        while length >= 0x80 {
            record[offset] = UInt8(truncatingIfNeeded: length) | 0x80
            offset += 1
            length >>= 7
        }
        record[offset] = UInt8(length)
        offset += 1
        var copy = text
        copy.withUTF8 { utf8 in
            guard let source = utf8.baseAddress, !utf8.isEmpty else { return }
            (record.baseAddress! + offset).update(from: source, count: utf8.count)
        }
        offset += text.utf8.count
    }

    /// The chunk of the records at `indices` (of `entries`), in that order.
    func chunk(_ indices: some Collection<Int>) -> ChannelHistoryCoding.Chunk {
        var blob: [UInt8] = [ChannelHistoryCoding.version]
        var msgids: [UInt8] = [UInt8(ascii: " ")]
        var minAt = Int64.max
        var maxAt = Int64.min
        for index in indices {
            let entry = entries[index]
            blob.append(contentsOf: bytes[entry.start..<entry.end])
            msgids.append(contentsOf: bytes[entry.msgidStart..<entry.msgidEnd])
            msgids.append(UInt8(ascii: " "))
            minAt = min(minAt, entry.at)
            maxAt = max(maxAt, entry.at)
        }
        if indices.isEmpty { (minAt, maxAt) = (0, 0) }
        return ChannelHistoryCoding.Chunk(
            bytes: blob, msgids: String(decoding: msgids, as: UTF8.self), minAt: minAt, maxAt: maxAt,
            count: indices.count)
    }
}
