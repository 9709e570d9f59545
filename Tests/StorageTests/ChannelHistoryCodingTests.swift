import Foundation
import GRDB
@testable import Storage
import Testing

/// The stored form of archived channel messages: what goes in comes back out,
/// it stays small, and chunks written by earlier versions stay readable.
@Suite struct ChannelHistoryCodingTests {
    private static let base: Int64 = 1_700_000_000_000

    private static func message(
        _ index: Int, at: Int64, source: String, account: String?, name: String = "#Ops", notice: Bool = false,
        tags: String? = nil
    ) -> ChannelMessage {
        ChannelMessage(
            channel: "#ops", name: name, msgid: "id-\(index)", at: ChannelHistoryCoding.date(at), source: source,
            account: account, command: notice ? "NOTICE" : "PRIVMSG", text: "text \(index) ✓", tags: tags)
    }

    /// Forty authors (some differing only by account or by the channel name's
    /// case), times that go back and jump far, NOTICEs and tags, over two chunks.
    @Test func everyFieldRoundTrips() throws {
        try withDatabase { database, _ throws in
            var written: [ChannelMessage] = []
            for index in 0..<300 {
                let author = (index * 7) % 40
                // Mostly close together; now and then back by seconds or months, or a day ahead.
                let at = Self.base + Int64(index) * 10 + [0, 5, -3_000, 86_400_000, -5_000_000_000][index % 5]
                written.append(Self.message(
                    index, at: at, source: "u\(author % 20)!user@host-\(author % 20)",
                    account: author < 20 ? "acct\(author)" : nil, name: index % 3 == 0 ? "#OPS" : "#Ops",
                    notice: index % 4 == 3, tags: index % 6 == 0 ? "+draft/react=\(index)" : nil))
            }
            let store = database.channelHistory
            try store.append(written)
            let stored = try store.messages(channel: "#ops", .latest(after: nil, limit: 300))
            #expect(stored.count == written.count)
            if let (back, sent) = zip(stored, written).first(where: { $0 != $1 }) {
                Issue.record("stored as \(sent), read back as \(back)")
            }
            #expect(try store.messages(channel: "#ops", .before(.msgid("id-260"), limit: 2)).map(\.msgid) == ["id-258", "id-259"])
        }
    }

    /// A chat between two people: the record is the text and a few bytes.
    @Test func recordsOfAChatAreSmall() {
        var batch = ChannelHistoryBatch()
        let text = String(repeating: "x", count: 80)
        var slot = -1
        for index in 0..<200 {
            batch.append(
                channel: "#bench-pair-1", name: "#bench-pair-1", msgid: "8xcoacru-\(index)", at: Self.base + Int64(index),
                source: index % 2 == 0 ? "p001!bench@127.0.0.1" : "p002!bench@127.0.0.1", account: "bench",
                notice: false, text: text, tags: nil, slot: &slot)
        }
        let chunk = batch.groups[0].chunks[0]
        #expect(chunk.count == 200)
        // Flags, author, time and text length: 4 bytes besides the text.
        #expect(chunk.bytes.count <= 1 + 2 * 48 + 200 * (80 + 4))
    }

    /// A database written before the compact records: its chunks are read,
    /// found by msgid and pruned like new ones, next to new chunks.
    @Test func firstVersionChunksStayReadable() throws {
        try withDatabase { database, _ throws in
            let old = (0..<10).map {
                Self.message($0, at: Self.base + Int64($0) * 1_000, source: "alice!a@host", account: $0 < 5 ? "alice" : nil,
                             notice: $0 == 3, tags: $0 == 4 ? "bot" : nil)
            }
            try database.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO channel_history (channel, min_at, max_at, count, msgids, messages) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: ["#ops", Self.base, Self.base + 9_000, 10, " " + old.map(\.msgid).joined(separator: " ") + " ",
                                Data(Self.firstVersion(old))])
            }
            let store = database.channelHistory
            let new = (10..<15).map { Self.message($0, at: Self.base + Int64($0) * 1_000, source: "bob!b@host", account: "bob") }
            try store.append(new)
            #expect(try store.messages(channel: "#ops", .latest(after: nil, limit: 20)) == old + new)
            #expect(try store.messages(channel: "#ops", .after(.msgid("id-7"), limit: 3)).map(\.msgid) == ["id-8", "id-9", "id-10"])
            try store.prune(channel: "#ops", keep: 12)
            #expect(try store.messages(channel: "#ops", .latest(after: nil, limit: 20)) == Array(old.dropFirst(3)) + new)
        }
    }

    /// A chunk whose msgid list does not match its records is reported, not misread.
    @Test func mismatchedMsgidListIsAnError() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            try store.append((0..<3).map { Self.message($0, at: Self.base, source: "alice!a@host", account: nil) })
            try database.pool.write { db in
                try db.execute(sql: "UPDATE channel_history SET msgids = ' id-0 id-1 '")
            }
            #expect(throws: ChannelHistoryCoding.Failure.self) {
                try store.messages(channel: "#ops", .latest(after: nil, limit: 5))
            }
        }
    }

    /// The msgid list is split on spaces: a msgid that is empty or has one (the
    /// server makes neither) must not shift the others onto the wrong records.
    @Test func oddMsgidsKeepTheListAligned() throws {
        try withDatabase { database, _ throws in
            var written = (0..<3).map { Self.message($0, at: Self.base + Int64($0), source: "alice!a@host", account: nil) }
            written[0].msgid = "a b"
            written[1].msgid = ""
            let store = database.channelHistory
            try store.append(written)
            let stored = try store.messages(channel: "#ops", .latest(after: nil, limit: 5))
            #expect(stored.map(\.msgid) == ["a_b", "_", "id-2"])
            #expect(stored.map(\.text) == written.map(\.text))
            #expect(try store.messages(channel: "#ops", .before(.msgid("id-2"), limit: 5)).count == 2)
        }
    }

    /// The first version's blob, written here as that version did.
    private static func firstVersion(_ messages: [ChannelMessage]) -> [UInt8] {
        var bytes: [UInt8] = [1]
        func field(_ text: String) {
            var length = text.utf8.count
            while length >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: length) | 0x80)
                length >>= 7
            }
            bytes.append(UInt8(length))
            bytes.append(contentsOf: text.utf8)
        }
        for message in messages {
            let at = Int64((message.at.timeIntervalSince1970 * 1000).rounded())
            withUnsafeBytes(of: at.littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(message.command == "NOTICE" ? 1 : 0)
            for text in [message.name, message.msgid, message.source, message.account ?? "", message.text, message.tags ?? ""] {
                field(text)
            }
        }
        return bytes
    }
}
