/// Channel messages on their way to the archive, already in their stored form.
///
/// The server appends each relayed message here as it goes out: its fields are
/// copied into one growing byte array (the record format of a stored chunk), so
/// archiving a message costs a copy of its bytes and no allocation of its own,
/// and the whole batch is handed to the database thread as one value.
/// `ChannelHistoryStore.append(_:pruning:keep:)` groups the records by channel
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
        let start = bytes.count
        withUnsafeBytes(of: at.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(notice ? 1 : 0)
        Self.put(name, into: &bytes)
        let msgidEnd = Self.put(msgid, into: &bytes)
        let msgidStart = msgidEnd - msgid.utf8.count
        Self.put(source, into: &bytes)
        Self.put(account ?? "", into: &bytes)
        Self.put(text, into: &bytes)
        Self.put(tags ?? "", into: &bytes)
        entries.append(Entry(channel: channel, start: start, end: bytes.count, at: at,
                             msgidStart: msgidStart, msgidEnd: msgidEnd))
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

    /// Writes a length (LEB128) and the UTF-8 bytes; returns the end offset.
    @discardableResult
    static func put(_ text: String, into bytes: inout [UInt8]) -> Int {
        var text = text
        text.withUTF8 { utf8 in
            var length = utf8.count
            while length >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: length) | 0x80)
                length >>= 7
            }
            bytes.append(UInt8(length))
            bytes.append(contentsOf: utf8)
        }
        return bytes.count
    }
}
