import Foundation
import LiveChat
import Storage
import Testing

/// A fixed instant with more than millisecond precision, to check rounding.
private let t0 = Date(timeIntervalSince1970: 1_700_000_000.123_4)

/// Creates a conversation with test defaults; returns the record, its welcome message and its token.
@discardableResult
private func makeConversation(
    _ store: ConversationStore, slug: String = "website", name: String? = "Anna", visitor: String? = "v-1",
    languages: [String] = ["fr", "en"], page: String? = "https://example.com/pricing", at: Date = t0
) throws -> (record: ConversationRecord, welcome: StoredMessage, token: String) {
    let token = ConversationStore.makeToken()
    let (record, welcome) = try store.create(
        slug: slug, visitorName: name, visitorID: visitor, languages: languages, userAgent: "Firefox/140",
        page: page, tokenHash: ConversationStore.hashToken(token), welcome: "How may I help you?",
        welcomeAuthor: "Website", at: at)
    return (record, welcome, token)
}

/// Whether `needle` occurs in `haystack`.
private func contains(_ haystack: Data, _ needle: Data) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    return haystack.range(of: needle) != nil
}

private func isClose(_ date: Date?, _ expected: Date) -> Bool {
    guard let date else { return false }
    return abs(date.timeIntervalSince(expected)) < 0.000_6
}

@Suite struct ConversationStoreTests {
    @Test func createReturnsTheWelcomeMessage() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let (record, welcome, _) = try makeConversation(store)

            #expect(record.id > 0)
            #expect(record.slug == "website")
            #expect(record.visitorName == "Anna")
            #expect(record.visitorID == "v-1")
            #expect(record.languages == ["fr", "en"])
            #expect(record.userAgent == "Firefox/140")
            #expect(record.currentPage == "https://example.com/pricing")
            #expect(record.status == .waiting)
            #expect(!record.isClosed)
            #expect(record.operators.isEmpty)
            #expect(record.assignedAt == nil && record.closedAt == nil && record.visitorLeftAt == nil)
            #expect(record.rating == nil && record.ratingComment == nil)
            // Stored to the millisecond.
            #expect(abs(record.createdAt.timeIntervalSince1970 - 1_700_000_000.123) < 0.000_01)
            #expect(record.lastMessageAt == record.createdAt)

            #expect(welcome.conversationID == record.id)
            #expect(welcome.id > 0)
            #expect(welcome.authorKind == .system)
            #expect(welcome.authorName == "Website")
            #expect(welcome.authorLogin == nil)
            #expect(welcome.text == "How may I help you?")
            #expect(welcome.at == record.createdAt)
            #expect(
                welcome.chatMessage
                    == ChatMessage(
                        id: welcome.id, at: welcome.at, author: ChatAuthor(kind: .system, name: "Website"),
                        text: "How may I help you?"))

            // What was returned is what is stored.
            #expect(try store.conversation(id: record.id) == record)
            #expect(try store.messages(conversationID: record.id, after: 0, limit: 100).messages == [welcome])
            #expect(try store.open() == [record])
            #expect(try store.pages(id: record.id) == [PageVisit(url: "https://example.com/pricing", at: record.createdAt)])
            #expect(try store.conversation(id: record.id + 1000) == nil)

            // Optional fields may all be absent.
            let (bare, _, _) = try makeConversation(store, name: nil, visitor: nil, languages: [], page: nil)
            #expect(bare.id > record.id)
            #expect(bare.visitorName == nil && bare.visitorID == nil && bare.currentPage == nil)
            #expect(bare.languages.isEmpty)
            #expect(try store.pages(id: bare.id).isEmpty)
        }
    }

    @Test func appendOrdersMessagesWithGlobalIDs() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let a = try makeConversation(store)
            let b = try makeConversation(store, name: "Bob", visitor: "v-2")
            #expect(b.welcome.id > a.welcome.id)

            var lastID = b.welcome.id
            var inA: [StoredMessage] = [a.welcome]
            var inB: [StoredMessage] = [b.welcome]
            for index in 0..<6 {
                let conversation = index.isMultiple(of: 2) ? a.record.id : b.record.id
                let at = t0.addingTimeInterval(Double(index + 1))
                let message = try store.append(
                    conversationID: conversation, authorKind: index < 3 ? .visitor : .operator,
                    authorName: index < 3 ? "Anna" : "Mitch", authorLogin: index < 3 ? nil : "mitchell",
                    text: "message \(index)", at: at)
                // Global, increasing in commit order, across conversations.
                #expect(message.id > lastID)
                lastID = message.id
                #expect(message.conversationID == conversation)
                #expect(isClose(message.at, at))
                if conversation == a.record.id { inA.append(message) } else { inB.append(message) }
            }
            #expect(try store.messages(conversationID: a.record.id, after: 0, limit: 100).messages == inA)
            #expect(try store.messages(conversationID: b.record.id, after: 0, limit: 100).messages == inB)
            #expect(inB.last?.authorLogin == "mitchell")
            #expect(inB.last?.chatMessage.author == ChatAuthor(kind: .operator, name: "Mitch"))

            // lastMessageAt follows the last message.
            #expect(try store.conversation(id: a.record.id)?.lastMessageAt == inA.last?.at)
            #expect(try store.conversation(id: b.record.id)?.lastMessageAt == inB.last?.at)
            // An earlier-dated message does not move lastMessageAt back.
            _ = try store.append(
                conversationID: a.record.id, authorKind: .bot, authorName: "FAQ", authorLogin: "faqbot", text: "late",
                at: t0)
            #expect(try store.conversation(id: a.record.id)?.lastMessageAt == inA.last?.at)

            // The last messages, oldest first.
            let last = try store.lastMessages(conversationID: a.record.id, limit: 2)
            #expect(last.map(\.text) == ["message 4", "late"])
            #expect(try store.lastMessages(conversationID: b.record.id, limit: 100) == inB)
            #expect(try store.lastMessages(conversationID: b.record.id, limit: 0).isEmpty)

            #expect(throws: StorageError.unknownConversation) {
                try store.append(
                    conversationID: 9999, authorKind: .visitor, authorName: "x", authorLogin: nil, text: "x", at: t0)
            }
        }
    }

    @Test func messagesArePagedWithMore() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let conversation = try makeConversation(store)
            var all = [conversation.welcome]
            for index in 1...6 {
                all.append(
                    try store.append(
                        conversationID: conversation.record.id, authorKind: .visitor, authorName: "Anna",
                        authorLogin: nil, text: "\(index)", at: t0.addingTimeInterval(Double(index))))
            }
            // Another conversation's messages, interleaved, never show.
            try makeConversation(store, visitor: "other")

            let id = conversation.record.id
            let first = try store.messages(conversationID: id, after: 0, limit: 3)
            #expect(first.messages == Array(all[0..<3]))
            #expect(first.more)
            let second = try store.messages(conversationID: id, after: first.messages.last!.id, limit: 3)
            #expect(second.messages == Array(all[3..<6]))
            #expect(second.more)
            let third = try store.messages(conversationID: id, after: second.messages.last!.id, limit: 3)
            #expect(third.messages == [all[6]])
            #expect(!third.more)
            let past = try store.messages(conversationID: id, after: all[6].id, limit: 3)
            #expect(past.messages.isEmpty && !past.more)

            // Exactly the rest: no more.
            let exact = try store.messages(conversationID: id, after: all[3].id, limit: 3)
            #expect(exact.messages == Array(all[4...6]))
            #expect(!exact.more)
            // A limit of 0 still says whether there are messages.
            let none = try store.messages(conversationID: id, after: 0, limit: 0)
            #expect(none.messages.isEmpty && none.more)
            // An unknown conversation has none.
            let unknown = try store.messages(conversationID: 9999, after: 0, limit: 100)
            #expect(unknown.messages.isEmpty && !unknown.more)
        }
    }

    @Test func closedConversationRefusesMessages() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let conversation = try makeConversation(store)
            let other = try makeConversation(store, visitor: "v-2")
            let id = conversation.record.id
            try store.assign(id: id, to: "mitchell", reason: "only one available", at: t0)

            let closedAt = t0.addingTimeInterval(60)
            #expect(try store.close(id: id, reason: "The visitor left", at: closedAt))
            // Idempotent: the first date and reason stay.
            #expect(try store.close(id: id, reason: "again", at: closedAt.addingTimeInterval(60)) == false)
            let closed = try #require(try store.conversation(id: id))
            #expect(closed.status == .closed && closed.isClosed)
            #expect(closed.closeReason == "The visitor left")
            #expect(isClose(closed.closedAt, closedAt))

            #expect(throws: StorageError.conversationClosed) {
                try store.append(
                    conversationID: id, authorKind: .visitor, authorName: "Anna", authorLogin: nil, text: "hello?",
                    at: closedAt)
            }
            #expect(throws: StorageError.conversationClosed) {
                try store.assign(id: id, to: "anna", reason: "x", at: closedAt)
            }
            #expect(throws: StorageError.conversationClosed) { try store.addOperator(id: id, login: "anna") }
            #expect(throws: StorageError.conversationClosed) { try store.setWaiting(id: id) }
            // The history stays readable, and nothing was added.
            #expect(try store.messages(conversationID: id, after: 0, limit: 100).messages == [conversation.welcome])
            // Not open any more.
            #expect(try store.open().map(\.id) == [other.record.id])
            #expect(throws: StorageError.unknownConversation) { try store.close(id: 9999, reason: nil, at: t0) }

            // The visitor closing their side is recorded once.
            try store.markVisitorLeft(id: id, at: closedAt)
            try store.markVisitorLeft(id: id, at: closedAt.addingTimeInterval(5))
            #expect(isClose(try store.conversation(id: id)?.visitorLeftAt, closedAt))
            #expect(throws: StorageError.unknownConversation) { try store.markVisitorLeft(id: 9999, at: t0) }
        }
    }

    @Test func tokensAreHashedAndComparedInConstantTime() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/switchboard.sqlite"
        let database = try SwitchboardDatabase(path: path)
        let store = database.conversations

        let token = ConversationStore.makeToken()
        // 32 bytes, base64url without padding.
        #expect(token.count == 43)
        #expect(token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        #expect(Set((0..<100).map { _ in ConversationStore.makeToken() }).count == 100)
        // SHA-256, checked against a known vector.
        #expect(
            ConversationStore.hashToken("abc").map { String(format: "%02x", $0) }.joined()
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        let hash = ConversationStore.hashToken(token)
        let (record, _) = try store.create(
            slug: "website", visitorName: nil, visitorID: nil, languages: ["en"], userAgent: nil, page: nil,
            tokenHash: hash, welcome: "Hi", welcomeAuthor: "Website", at: t0)
        let other = try makeConversation(store)

        #expect(try store.tokenMatches(conversationID: record.id, token: token))
        #expect(try store.tokenMatches(conversationID: other.record.id, token: other.token))
        #expect(try !store.tokenMatches(conversationID: record.id, token: other.token))
        #expect(try !store.tokenMatches(conversationID: other.record.id, token: token))
        #expect(try !store.tokenMatches(conversationID: record.id, token: ""))
        #expect(try !store.tokenMatches(conversationID: record.id, token: String(token.dropLast())))
        #expect(try !store.tokenMatches(conversationID: record.id, token: token.uppercased()))
        // The hash itself is not a token.
        #expect(try !store.tokenMatches(conversationID: record.id, token: hash.base64EncodedString()))
        #expect(try !store.tokenMatches(conversationID: 9999, token: token))

        // The file holds the hashes, never the tokens. Closing the database
        // checkpoints the WAL into the main file; both files are read anyway.
        try database.close()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        if let wal = try? Data(contentsOf: URL(fileURLWithPath: path + "-wal")) { bytes.append(wal) }
        #expect(contains(bytes, hash))
        #expect(contains(bytes, ConversationStore.hashToken(other.token)))
        #expect(!contains(bytes, Data(token.utf8)))
        #expect(!contains(bytes, Data(other.token.utf8)))
        // And the scan does find text that is stored.
        #expect(contains(bytes, Data("How may I help you?".utf8)))
    }

    @Test func operatorsAssignAddRemoveAndWaiting() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let id = try makeConversation(store).record.id

            let assignedAt = t0.addingTimeInterval(2)
            let assigned = try store.assign(id: id, to: "mitchell", reason: "speaks fr", at: assignedAt)
            #expect(assigned.status == .assigned)
            #expect(assigned.operators == ["mitchell"])
            #expect(assigned.assignmentReason == "speaks fr")
            #expect(isClose(assigned.assignedAt, assignedAt))
            #expect(try store.conversation(id: id) == assigned)

            // Invited colleagues join after, once each (logins compare case-insensitively).
            try store.addOperator(id: id, login: "anna")
            try store.addOperator(id: id, login: "Anna")
            try store.addOperator(id: id, login: "mitchell")
            let withBob = try store.addOperator(id: id, login: "bob")
            #expect(withBob.operators == ["mitchell", "anna", "bob"])
            #expect(try store.conversation(id: id)?.operators == ["mitchell", "anna", "bob"])

            // A new assignment appends a missing login, keeps the others.
            let reassignedAt = t0.addingTimeInterval(5)
            let reassigned = try store.assign(id: id, to: "carol", reason: "transfer", at: reassignedAt)
            #expect(reassigned.operators == ["mitchell", "anna", "bob", "carol"])
            #expect(reassigned.assignmentReason == "transfer")
            #expect(isClose(reassigned.assignedAt, reassignedAt))
            #expect(try store.assign(id: id, to: "ANNA", reason: "x", at: reassignedAt).operators.count == 4)

            // Removing: case-insensitive; unknown logins change nothing.
            try store.removeOperator(id: id, login: "MITCHELL")
            try store.removeOperator(id: id, login: "nobody")
            #expect(try store.removeOperator(id: id, login: "bob").operators == ["anna", "carol"])
            #expect(try store.conversation(id: id)?.status == .assigned)

            // Back to waiting: no operators.
            let waiting = try store.setWaiting(id: id)
            #expect(waiting.status == .waiting)
            #expect(waiting.operators.isEmpty)
            #expect(try store.open() == [waiting])

            // Assigning a waiting conversation with no operators: that operator alone.
            #expect(try store.assign(id: id, to: "bob", reason: "available", at: t0).operators == ["bob"])

            // Removing operators is allowed once closed (clean-up).
            try store.close(id: id, reason: nil, at: t0)
            #expect(try store.removeOperator(id: id, login: "bob").operators.isEmpty)

            #expect(throws: StorageError.unknownConversation) { try store.assign(id: 9999, to: "a", reason: "", at: t0) }
            #expect(throws: StorageError.unknownConversation) { try store.addOperator(id: 9999, login: "a") }
            #expect(throws: StorageError.unknownConversation) { try store.removeOperator(id: 9999, login: "a") }
            #expect(throws: StorageError.unknownConversation) { try store.setWaiting(id: 9999) }
        }
    }

    @Test func previousOperatorOfTheVisitorInTheChannel() throws {
        try withDatabase { database, _ in
            try database.operators.add(
                login: "faqbot", displayName: "FAQ", isBot: true, password: "pw", bcryptCost: testBcryptCost)
            let store = database.conversations
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == nil)

            let first = try makeConversation(store).record.id
            // Not assigned yet: no previous operator.
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == nil)
            try store.assign(id: first, to: "mitchell", reason: "", at: t0)
            try store.addOperator(id: first, login: "anna")
            // Everyone left and it closed: the assigned operator is remembered.
            try store.removeOperator(id: first, login: "mitchell")
            try store.removeOperator(id: first, login: "anna")
            try store.close(id: first, reason: nil, at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "mitchell")

            // A later conversation nobody answered does not hide it.
            let unanswered = try makeConversation(store).record.id
            try store.close(id: unanswered, reason: "visitor left", at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "mitchell")

            // Other channels and other visitors have their own.
            let elsewhere = try makeConversation(store, slug: "shop").record.id
            try store.assign(id: elsewhere, to: "carol", reason: "", at: t0)
            let someoneElse = try makeConversation(store, visitor: "v-2").record.id
            try store.assign(id: someoneElse, to: "dave", reason: "", at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "mitchell")
            #expect(try store.previousOperator(visitorID: "v-1", slug: "shop") == "carol")
            #expect(try store.previousOperator(visitorID: "v-2", slug: "website") == "dave")
            #expect(try store.previousOperator(visitorID: "v-3", slug: "website") == nil)

            // A bot is not the operator a visitor remembers.
            let withBot = try makeConversation(store).record.id
            try store.assign(id: withBot, to: "faqbot", reason: "bot", at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "mitchell")

            // The most recent one wins; after a transfer, the last assignment.
            let latest = try makeConversation(store).record.id
            try store.assign(id: latest, to: "anna", reason: "", at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "anna")
            try store.assign(id: latest, to: "bob", reason: "transfer", at: t0)
            #expect(try store.previousOperator(visitorID: "v-1", slug: "website") == "bob")
        }
    }

    @Test func pagesAreRecordedOldestFirst() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let id = try makeConversation(store, page: "https://example.com/").record.id
            try store.addPage(id: id, url: "https://example.com/pricing", title: "Pricing", at: t0.addingTimeInterval(10))
            try store.addPage(id: id, url: "https://example.com/faq", title: nil, at: t0.addingTimeInterval(20))

            let pages = try store.pages(id: id)
            #expect(pages.map(\.url) == ["https://example.com/", "https://example.com/pricing", "https://example.com/faq"])
            #expect(pages.map(\.title) == [nil, "Pricing", nil])
            #expect(isClose(pages[1].at, t0.addingTimeInterval(10)))
            #expect(try store.conversation(id: id)?.currentPage == "https://example.com/faq")

            #expect(try store.pages(id: 9999).isEmpty)
            #expect(throws: StorageError.unknownConversation) {
                try store.addPage(id: 9999, url: "https://example.com/", title: nil, at: t0)
            }
        }
    }

    @Test func ratingIsOneThreeOrFive() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let id = try makeConversation(store).record.id
            for invalid in [0, 2, 4, 6, -1, 10] {
                #expect(throws: StorageError.invalidRating) { try store.rate(id: id, rating: invalid, comment: nil) }
            }
            #expect(try store.conversation(id: id)?.rating == nil)

            for valid in [1, 3, 5] {
                try store.rate(id: id, rating: valid, comment: "rated \(valid)")
                let record = try store.conversation(id: id)
                #expect(record?.rating == valid)
                #expect(record?.ratingComment == "rated \(valid)")
            }
            // Rating after closing is the usual case.
            try store.close(id: id, reason: nil, at: t0)
            try store.rate(id: id, rating: 3, comment: nil)
            #expect(try store.conversation(id: id)?.rating == 3)
            #expect(try store.conversation(id: id)?.ratingComment == nil)

            #expect(throws: StorageError.unknownConversation) { try store.rate(id: 9999, rating: 5, comment: nil) }
            #expect(throws: StorageError.invalidRating) { try store.rate(id: 9999, rating: 4, comment: nil) }
        }
    }

    @Test func openConversationsSurviveARestart() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/data/switchboard.sqlite"

        let first = try SwitchboardDatabase(path: path)
        let migrations = try first.appliedMigrations()
        #expect(Array(migrations.prefix(2)) == ["v1-operators", "v2-conversations"])
        let store = first.conversations
        let waiting = try makeConversation(store, name: "Anna", visitor: "v-1")
        let assigned = try makeConversation(store, name: "Bob", visitor: "v-2")
        let closed = try makeConversation(store, name: "Carol", visitor: "v-3")
        try store.assign(id: assigned.record.id, to: "mitchell", reason: "speaks fr", at: t0)
        try store.addOperator(id: assigned.record.id, login: "anna")
        let reply = try store.append(
            conversationID: assigned.record.id, authorKind: .operator, authorName: "Mitch", authorLogin: "mitchell",
            text: "Bonjour !", at: t0.addingTimeInterval(3))
        try store.close(id: closed.record.id, reason: "done", at: t0)
        let openBefore = try store.open()
        #expect(openBefore.map(\.id) == [waiting.record.id, assigned.record.id])
        #expect(openBefore[1].operators == ["mitchell", "anna"])
        try first.close()

        let again = try SwitchboardDatabase(path: path)
        defer { try? again.close() }
        #expect(try again.appliedMigrations() == migrations)
        #expect(try again.synchronousLevel() == 2)
        let reopened = again.conversations
        #expect(try reopened.open() == openBefore)
        #expect(try reopened.conversation(id: closed.record.id)?.status == .closed)
        #expect(
            try reopened.messages(conversationID: assigned.record.id, after: 0, limit: 100).messages
                == [assigned.welcome, reply])
        #expect(try reopened.tokenMatches(conversationID: waiting.record.id, token: waiting.token))
        // Ids keep growing after a restart.
        let next = try reopened.append(
            conversationID: waiting.record.id, authorKind: .visitor, authorName: "Anna", authorLogin: nil, text: "hi",
            at: t0)
        #expect(next.id > reply.id)
        let newer = try makeConversation(reopened, visitor: "v-4")
        #expect(newer.record.id > closed.record.id)
    }

    @Test func commitsAreSyncedToDisk() throws {
        try withDatabase { database, _ in
            // FULL, not the NORMAL that GRDB sets up for WAL.
            let level = try database.synchronousLevel()
            #expect(level == 2)
            #expect(try database.journalMode() == "wal")
        }
    }

    @Test func concurrentAppendsGetDistinctIncreasingIDs() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try SwitchboardDatabase(path: folder.path + "/switchboard.sqlite")
        defer { try? database.close() }
        let store = database.conversations
        let a = try makeConversation(store).record.id
        let b = try makeConversation(store, visitor: "v-2").record.id

        let stored = try await withThrowingTaskGroup(of: [StoredMessage].self) { group in
            for writer in 0..<4 {
                group.addTask {
                    var messages: [StoredMessage] = []
                    for index in 0..<25 {
                        messages.append(
                            try store.append(
                                conversationID: writer.isMultiple(of: 2) ? a : b, authorKind: .visitor,
                                authorName: "w\(writer)", authorLogin: nil, text: "\(writer)-\(index)", at: Date()))
                    }
                    return messages
                }
            }
            var all: [StoredMessage] = []
            for try await messages in group {
                // Each writer's own messages come back in order.
                #expect(messages.map(\.id) == messages.map(\.id).sorted())
                all += messages
            }
            return all
        }
        #expect(Set(stored.map(\.id)).count == 100)
        let inA = try store.messages(conversationID: a, after: 0, limit: 1000).messages
        let inB = try store.messages(conversationID: b, after: 0, limit: 1000).messages
        #expect(inA.count == 51 && inB.count == 51)
        #expect(inA.map(\.id) == inA.map(\.id).sorted())
        #expect(Set(inA.dropFirst() + inB.dropFirst()) == Set(stored))
    }

    @Test func seenMarksMoveForwardAndEndWithTheConversation() throws {
        try withDatabase { database, _ in
            let store = database.conversations
            let (open, _, _) = try makeConversation(store)
            let (other, _, _) = try makeConversation(store, visitor: "v-2")
            try store.markSeen([(open.id, "alice", 10), (open.id, "Bob", 7), (other.id, "alice", 3)])
            #expect(try store.seen(conversationID: open.id) == ["alice": 10, "Bob": 7])
            // Forward only, whatever the case of the login; an older mark changes nothing.
            try store.markSeen([(open.id, "ALICE", 12), (open.id, "bob", 5)])
            #expect(try store.seen(conversationID: open.id) == ["alice": 12, "Bob": 7])

            // Closing the conversation drops its marks, and later ones are ignored, as are unknown conversations.
            try store.close(id: open.id, reason: nil, at: t0)
            try store.markSeen([(open.id, "alice", 20), (999_999, "alice", 1)])
            #expect(try store.seen(conversationID: open.id).isEmpty)
            #expect(try store.seen(conversationID: 999_999).isEmpty)
            #expect(try store.seen(conversationID: other.id) == ["alice": 3])
        }
    }
}
