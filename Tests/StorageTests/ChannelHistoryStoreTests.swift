import Foundation
import LiveChat
import Storage
import Testing

/// `count` messages in `channel`, one a second from `start`, texts "m0", "m1"...
private func messages(_ count: Int, channel: String = "#ops", from start: Int = 0,
                      at base: Date = Date(timeIntervalSince1970: 1_700_000_000)) -> [ChannelMessage] {
    (start..<(start + count)).map { index in
        ChannelMessage(
            channel: channel, name: channel == "#ops" ? "#Ops" : channel, msgid: "\(channel)-\(index)",
            at: base.addingTimeInterval(Double(index)), source: "alice!alice@host", account: "alice",
            command: index % 5 == 4 ? "NOTICE" : "PRIVMSG", text: "m\(index)", tags: index == 0 ? "bot;+draft/react=👍" : nil)
    }
}

private func texts(_ messages: [ChannelMessage]) -> [String] { messages.map(\.text) }
private func time(_ index: Int) -> Date { Date(timeIntervalSince1970: 1_700_000_000 + Double(index)) }

@Suite struct ChannelHistoryStoreTests {
    @Test func migrationIsApplied() throws {
        try withDatabase { database, _ throws in
            #expect(try database.appliedMigrations().contains("v3-channel-history"))
        }
    }

    @Test func batchInsertKeepsEverythingInOrder() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            try store.append(messages(300))
            try store.append(messages(10, channel: "#other"))
            #expect(try store.count(channel: "#ops") == 300)
            #expect(try store.count(channel: "#other") == 10)

            let latest = try store.messages(channel: "#ops", .latest(after: nil, limit: 3))
            #expect(texts(latest) == ["m297", "m298", "m299"])
            let first = try store.messages(channel: "#ops", .after(.timestamp(time(0).addingTimeInterval(-1)), limit: 1))[0]
            #expect(first.name == "#Ops" && first.msgid == "#ops-0" && first.account == "alice")
            #expect(first.source == "alice!alice@host" && first.command == "PRIVMSG")
            #expect(first.tags == "bot;+draft/react=👍")
            #expect(first.at == time(0))
            #expect(try store.messages(channel: "#ops", .after(.msgid("#ops-3"), limit: 2))[0].command == "NOTICE")
        }
    }

    @Test func requests() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            try store.append(messages(20))
            #expect(texts(try store.messages(channel: "#ops", .latest(after: .msgid("#ops-16"), limit: 10))) == ["m17", "m18", "m19"])
            #expect(texts(try store.messages(channel: "#ops", .latest(after: .timestamp(time(17)), limit: 1))) == ["m19"])
            #expect(texts(try store.messages(channel: "#ops", .before(.msgid("#ops-5"), limit: 2))) == ["m3", "m4"])
            #expect(texts(try store.messages(channel: "#ops", .before(.timestamp(time(1)), limit: 5))) == ["m0"])
            #expect(texts(try store.messages(channel: "#ops", .after(.timestamp(time(17)), limit: 5))) == ["m18", "m19"])
            #expect(texts(try store.messages(channel: "#ops", .around(.msgid("#ops-10"), limit: 5))) == ["m8", "m9", "m10", "m11", "m12"])
            #expect(texts(try store.messages(channel: "#ops", .around(.timestamp(time(1)), limit: 4))) == ["m0", "m1", "m2", "m3"])
            #expect(texts(try store.messages(channel: "#ops", .around(.msgid("#ops-19"), limit: 3))) == ["m17", "m18", "m19"])
            // BETWEEN counts from the first reference, either way; both ends excluded.
            #expect(texts(try store.messages(channel: "#ops", .between(.msgid("#ops-2"), .msgid("#ops-9"), limit: 3))) == ["m3", "m4", "m5"])
            #expect(texts(try store.messages(channel: "#ops", .between(.msgid("#ops-9"), .msgid("#ops-2"), limit: 3))) == ["m6", "m7", "m8"])
            #expect(texts(try store.messages(channel: "#ops", .between(.timestamp(time(9)), .timestamp(time(2)), limit: 100))).count == 6)
            // Unknown msgids and other channels' msgids select nothing.
            #expect(try store.messages(channel: "#ops", .before(.msgid("nope"), limit: 5)).isEmpty)
            try store.append(messages(3, channel: "#other"))
            #expect(try store.messages(channel: "#ops", .after(.msgid("#other-0"), limit: 5)).isEmpty)
            #expect(try store.messages(channel: "#nothing", .latest(after: nil, limit: 5)).isEmpty)
        }
    }

    @Test func sameMillisecondIsOrderedByStorage() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            let at = Date(timeIntervalSince1970: 1_700_000_000)
            try store.append(messages(6, at: at).map { var message = $0; message.at = at; return message })
            #expect(texts(try store.messages(channel: "#ops", .after(.msgid("#ops-2"), limit: 2))) == ["m3", "m4"])
            #expect(texts(try store.messages(channel: "#ops", .before(.msgid("#ops-2"), limit: 5))) == ["m0", "m1"])
            #expect(try store.messages(channel: "#ops", .before(.timestamp(at), limit: 5)).isEmpty)
        }
    }

    @Test func retentionKeepsTheNewest() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            try store.append(messages(50))
            try store.append(messages(10, channel: "#other"))
            try store.append(messages(5, from: 50))
            try store.prune(channel: "#ops", keep: 20)
            #expect(try store.count(channel: "#ops") == 20)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 100))) == (35..<55).map { "m\($0)" })
            // Other channels are untouched; a channel under the limit loses nothing.
            #expect(try store.count(channel: "#other") == 10)
            try store.prune(channel: "#other", keep: 20)
            #expect(try store.count(channel: "#other") == 10)
            try store.prune(channel: "#other", keep: 0)
            #expect(try store.count(channel: "#other") == 0)
            #expect(ChannelHistoryStore.retention == 10_000)
        }
    }

    /// The server's path: `append(batch)` counts each channel's messages as it writes
    /// them and prunes a channel back to `keep` once it is `pruneSlack` over, also
    /// across a reopening of the database (the count is read again once).
    @Test func batchesPruneByCountWithSlack() throws {
        func batch(_ list: [ChannelMessage]) -> ChannelHistoryBatch {
            var batch = ChannelHistoryBatch()
            for message in list { batch.append(message) }
            return batch
        }
        let slack = ChannelHistoryStore.pruneSlack
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/data/switchboard.sqlite"
        var written = 0
        do {
            let database = try SwitchboardDatabase(path: path)
            defer { try? database.close() }
            let store = database.channelHistory
            // Up to keep + slack: nothing is removed.
            try store.append(batch(messages(slack, from: 0)), keep: 20)
            try store.append(batch(messages(20, from: slack)), keep: 20)
            written = slack + 20
            #expect(try store.count(channel: "#ops") == slack + 20)
            // One more (with another channel in the same batch): pruned back to the newest 20.
            try store.append(batch(messages(1, from: written) + messages(3, channel: "#other")), keep: 20)
            written += 1
            #expect(try store.count(channel: "#ops") == 20)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 100)))
                    == ((written - 20)..<written).map { "m\($0)" })
            #expect(try store.count(channel: "#other") == 3)
        }
        // Reopened: the count starts from what is stored, not from zero.
        let database = try SwitchboardDatabase(path: path)
        defer { try? database.close() }
        let store = database.channelHistory
        try store.append(batch(messages(slack, from: written)), keep: 20)
        written += slack
        #expect(try store.count(channel: "#ops") == 20 + slack)
        try store.append(batch(messages(1, from: written)), keep: 20)
        written += 1
        #expect(try store.count(channel: "#ops") == 20)
        #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 1))) == ["m\(written - 1)"])
    }

    /// Fields longer than 127 bytes take a two-byte length; non-ASCII text keeps its bytes.
    @Test func longAndNonASCIIFieldsRoundTrip() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            let long = String(repeating: "é", count: 200) + " — " + String(repeating: "x", count: 90)
            let message = ChannelMessage(
                channel: "#ops", name: "#Ops", msgid: "id-long", at: time(1),
                source: "alice!" + String(repeating: "u", count: 140) + "@host", account: nil,
                command: "PRIVMSG", text: long, tags: "+draft/reply=" + String(repeating: "r", count: 130))
            try store.append([message] + messages(2, from: 2))
            let stored = try store.messages(channel: "#ops", .latest(after: nil, limit: 10))
            #expect(stored.count == 3)
            #expect(stored.first == message)
            #expect(texts(Array(stored.dropFirst())) == ["m2", "m3"])
        }
    }

    @Test func manyChunks() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            // One batch of 1,000 in four chunks, another channel in between.
            try store.append(messages(600) + messages(10, channel: "#other") + messages(400, from: 600))
            #expect(try store.count(channel: "#ops") == 1_000)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 3))) == ["m997", "m998", "m999"])
            #expect(texts(try store.messages(channel: "#ops", .before(.msgid("#ops-257"), limit: 3))) == ["m254", "m255", "m256"])
            #expect(texts(try store.messages(channel: "#ops", .after(.msgid("#ops-254"), limit: 3))) == ["m255", "m256", "m257"])
            #expect(texts(try store.messages(channel: "#ops", .around(.timestamp(time(512)), limit: 2))) == ["m511", "m512"])
            #expect(try store.messages(channel: "#ops", .between(.msgid("#ops-100"), .msgid("#ops-900"), limit: 100)).count == 100)
            #expect(texts(try store.messages(channel: "#ops", .between(.msgid("#ops-900"), .msgid("#ops-100"), limit: 2))) == ["m898", "m899"])
            // A msgid is found whole, not as part of another.
            #expect(texts(try store.messages(channel: "#ops", .after(.msgid("#ops-1"), limit: 1))) == ["m2"])
            #expect(try store.messages(channel: "#ops", .after(.msgid("ops-1"), limit: 1)).isEmpty)

            // Retention is exact: whole chunks go, the oldest kept one is trimmed.
            try store.prune(channel: "#ops", keep: 300)
            #expect(try store.count(channel: "#ops") == 300)
            #expect(texts(try store.messages(channel: "#ops", .after(.timestamp(time(0)), limit: 2))) == ["m700", "m701"])
            #expect(try store.messages(channel: "#ops", .before(.msgid("#ops-700"), limit: 5)).isEmpty)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 1))) == ["m999"])
            #expect(try store.count(channel: "#other") == 10)
        }
    }

    /// The server keeps each channel's slot between appends; a slot that points
    /// at another channel (left from an earlier batch) must not misfile a message.
    @Test func slotsGroupMessagesByChannel() throws {
        try withDatabase { database, _ throws in
            var batch = ChannelHistoryBatch()
            var slots = ["#ops": -1, "#other": -1, "#third": 5]
            let ops = messages(300), other = messages(300, channel: "#other"), third = messages(2, channel: "#third")
            for index in 0..<300 {
                for message in [ops[index], other[index]] + (index < 2 ? [third[index]] : []) {
                    batch.append(
                        channel: message.channel, name: message.name, msgid: message.msgid,
                        at: Int64((message.at.timeIntervalSince1970 * 1000).rounded()), source: message.source, account: message.account,
                        notice: message.command == "NOTICE", text: message.text, tags: message.tags,
                        slot: &slots[message.channel]!)
                }
                if index == 150 { (slots["#ops"], slots["#other"]) = (slots["#other"], slots["#ops"]) }
            }
            #expect(batch.count == 602)
            let store = database.channelHistory
            try store.append(batch)
            #expect(try store.count(channel: "#ops") == 300)
            #expect(try store.count(channel: "#other") == 300)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 300))) == texts(ops))
            #expect(texts(try store.messages(channel: "#other", .latest(after: nil, limit: 300))) == texts(other))
            #expect(texts(try store.messages(channel: "#third", .latest(after: nil, limit: 5))) == texts(third))
        }
    }

    /// The server starts each batch sized after the one before (a busy channel, a
    /// full chunk, a channel gone quiet): what is stored does not depend on it.
    @Test func batchesSizedAfterEarlierOnes() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            let ops = messages(700), other = messages(3, channel: "#other")
            var batch = ChannelHistoryBatch()
            for message in ops[0..<256] + other[0..<2] { batch.append(message) }
            var batches = [batch]
            // Then a full chunk and more of #ops, #other quiet, a new channel.
            batch = ChannelHistoryBatch(after: batch)
            for message in ops[256..<600] + messages(1, channel: "#new") { batch.append(message) }
            batches.append(batch)
            batch = ChannelHistoryBatch(after: batch)
            for message in ops[600..<700] + other[2..<3] { batch.append(message) }
            batches.append(batch)
            #expect(batches.map(\.count) == [258, 345, 101])
            for batch in batches { try store.append(batch) }
            #expect(try store.count(channel: "#ops") == 700)
            #expect(texts(try store.messages(channel: "#ops", .latest(after: nil, limit: 700))) == texts(ops))
            #expect(texts(try store.messages(channel: "#other", .latest(after: nil, limit: 5))) == texts(other))
            #expect(try store.messages(channel: "#new", .latest(after: nil, limit: 5)).map(\.msgid) == ["#new-0"])
            let first = try store.messages(channel: "#ops", .after(.msgid("#ops-599"), limit: 1))[0]
            #expect(first.text == "m600" && first.source == "alice!alice@host" && first.at == time(600))
        }
    }

    @Test func latestActivity() throws {
        try withDatabase { database, _ throws in
            let store = database.channelHistory
            try store.append(messages(10))
            try store.append(messages(3, channel: "#other"))
            let found = try store.latestActivity(channels: ["#ops", "#other", "#none"], after: time(1), before: time(8))
            #expect(found == ["#ops": time(7), "#other": time(2)])
            #expect(try store.latestActivity(channels: [], after: time(0), before: time(9)).isEmpty)
        }
    }

    @Test func conversationHistory() throws {
        try withDatabase { database, _ throws in
            let store = database.conversations
            let (record, welcome) = try store.create(
                slug: "website", visitorName: "Anna", visitorID: nil, languages: ["en"], userAgent: nil, page: nil,
                tokenHash: ConversationStore.hashToken("t"), welcome: "Hello", welcomeAuthor: "Website", at: time(0))
            var stored: [StoredMessage] = []
            for index in 1...6 {
                stored.append(try store.append(
                    conversationID: record.id, authorKind: index % 2 == 0 ? .operator : .visitor, authorName: "x",
                    authorLogin: index % 2 == 0 ? "alice" : nil, text: "c\(index)", at: time(index)))
            }
            let latest = try store.history(conversationID: record.id, .latest(after: nil, limit: 100))
            #expect(latest.map(\.text) == ["c1", "c2", "c3", "c4", "c5", "c6"])  // not the welcome
            #expect(try store.history(conversationID: record.id, .before(.msgid(String(stored[2].id)), limit: 1)).map(\.text) == ["c2"])
            #expect(try store.history(conversationID: record.id, .after(.msgid(String(welcome.id)), limit: 5)).isEmpty)
            #expect(try store.history(conversationID: record.id, .after(.msgid("x"), limit: 5)).isEmpty)
            #expect(try store.history(conversationID: record.id + 1, .latest(after: nil, limit: 5)).isEmpty)
            let activity = try store.latestActivity(conversationIDs: [record.id, record.id + 1], after: time(0), before: time(5))
            #expect(activity == [record.id: time(4)])
        }
    }

    @Test func readMarkersOnlyMoveForward() throws {
        try withDatabase { database, _ throws in
            let store = database.readMarkers
            #expect(try store.markers(account: "alice").isEmpty)
            #expect(try store.advance(account: "alice", target: "#ops", to: time(5)) == time(5))
            #expect(try store.advance(account: "Alice", target: "#ops", to: time(3)) == time(5))
            #expect(try store.advance(account: "alice", target: "bob", to: time(1)) == time(1))
            #expect(try store.markers(account: "ALICE") == ["#ops": time(5), "bob": time(1)])
            #expect(try store.markers(account: "bob").isEmpty)
        }
    }
}
