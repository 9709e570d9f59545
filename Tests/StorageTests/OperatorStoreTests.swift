import Foundation
import Storage
import Testing

/// A folder under the system's temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "switchboard-storage-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Opens a database in a new temporary folder (in a sub-folder that does not
/// exist yet, to check it gets created), runs `body`, then cleans up.
func withDatabase(_ body: (SwitchboardDatabase, String) throws -> Void) throws {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let path = folder.path + "/data/switchboard.sqlite"
    let database = try SwitchboardDatabase(path: path)
    defer { try? database.close() }
    try body(database, path)
}

/// Bcrypt's lowest cost, to keep the tests fast.
let testBcryptCost = 4

@Suite struct OperatorStoreTests {
    @Test func addListFindRemove() throws {
        try withDatabase { database, _ in
            let store = database.operators
            #expect(try store.all().isEmpty)

            let before = Date().addingTimeInterval(-1)
            let mitchell = try store.add(
                login: "mitchell", displayName: "Mitchell Admin", chatName: "Mitch", languages: ["en", "fr"],
                isBot: false, isAdmin: true, password: "s3cret", bcryptCost: testBcryptCost)
            #expect(mitchell.login == "mitchell")
            #expect(mitchell.displayName == "Mitchell Admin")
            #expect(mitchell.chatName == "Mitch")
            #expect(mitchell.visibleName == "Mitch")
            #expect(mitchell.languages == ["en", "fr"])
            #expect(mitchell.isAdmin && !mitchell.isBot)
            #expect(mitchell.createdAt > before && mitchell.createdAt < Date().addingTimeInterval(1))

            let bot = try store.add(
                login: "FAQBot", displayName: "FAQ bot", languages: ["en"], isBot: true, password: "beep",
                bcryptCost: testBcryptCost)
            #expect(bot.chatName == nil)
            #expect(bot.visibleName == "FAQ bot")
            _ = try store.add(login: "anna", displayName: "Anna", password: "pw", bcryptCost: testBcryptCost)

            // Sorted by login, case-insensitively.
            #expect(try store.all().map(\.login) == ["anna", "FAQBot", "mitchell"])
            // Found case-insensitively, returned as stored.
            #expect(try store.find(login: "faqbot") == bot)
            #expect(try store.find(login: "MITCHELL") == mitchell)
            #expect(try store.find(login: "nobody") == nil)

            try store.remove(login: "Anna")
            #expect(try store.find(login: "anna") == nil)
            #expect(try store.all().map(\.login) == ["FAQBot", "mitchell"])
            #expect(throws: StorageError.unknownLogin("anna")) { try store.remove(login: "anna") }
        }
    }

    @Test func verifyRightWrongAndUnknown() throws {
        try withDatabase { database, _ in
            let store = database.operators
            let account = try store.add(login: "mitchell", displayName: "Mitchell", password: "right", bcryptCost: testBcryptCost)
            #expect(try store.verify(login: "mitchell", password: "right") == account)
            #expect(try store.verify(login: "Mitchell", password: "right") == account)
            #expect(try store.verify(login: "mitchell", password: "wrong") == nil)
            #expect(try store.verify(login: "mitchell", password: "Right") == nil)
            #expect(try store.verify(login: "mitchell", password: "") == nil)
            #expect(try store.verify(login: "nobody", password: "right") == nil)
            // The cached success does not make a wrong password pass.
            #expect(try store.verify(login: "mitchell", password: "right") == account)
            #expect(try store.verify(login: "mitchell", password: "wrong") == nil)
        }
    }

    @Test func passwordChange() throws {
        try withDatabase { database, _ in
            let store = database.operators
            try store.add(login: "mitchell", displayName: "Mitchell", password: "old", bcryptCost: testBcryptCost)
            #expect(try store.verify(login: "mitchell", password: "old") != nil)
            try store.setPassword(login: "MITCHELL", password: "new", bcryptCost: testBcryptCost)
            #expect(try store.verify(login: "mitchell", password: "old") == nil)
            #expect(try store.verify(login: "mitchell", password: "new") != nil)
            #expect(throws: StorageError.unknownLogin("nobody")) {
                try store.setPassword(login: "nobody", password: "x", bcryptCost: testBcryptCost)
            }
            #expect(throws: StorageError.emptyPassword) {
                try store.setPassword(login: "mitchell", password: "", bcryptCost: testBcryptCost)
            }
        }
    }

    @Test func duplicateLoginIsCaseInsensitive() throws {
        try withDatabase { database, _ in
            let store = database.operators
            try store.add(login: "mitchell", displayName: "Mitchell", password: "pw", bcryptCost: testBcryptCost)
            #expect(throws: StorageError.duplicateLogin("mitchell")) {
                try store.add(login: "mitchell", displayName: "Other", password: "pw", bcryptCost: testBcryptCost)
            }
            #expect(throws: StorageError.duplicateLogin("Mitchell")) {
                try store.add(login: "Mitchell", displayName: "Other", password: "pw", bcryptCost: testBcryptCost)
            }
            #expect(try store.all().count == 1)
            let message = StorageError.duplicateLogin("Mitchell").description
            #expect(message.contains("'Mitchell'") && message.contains("already exists"))
        }
    }

    @Test(arguments: [
        "", String(repeating: "a", count: 33), "1abc", "-abc", "a b", "é", "a/b", "a:b", "a@b", "tab\t", "LiveChat", "livechat",
    ])
    func invalidLogins(login: String) throws {
        try withDatabase { database, _ in
            #expect(OperatorStore.loginProblem(login) != nil)
            do {
                try database.operators.add(login: login, displayName: "X", password: "pw", bcryptCost: testBcryptCost)
                Issue.record("login \(login.debugDescription) was accepted")
            } catch let error as StorageError {
                guard case .invalidLogin(let rejected, let reason) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(rejected == login)
                #expect(!reason.isEmpty)
                #expect(error.description.contains("invalid login"))
            }
        }
    }

    @Test(arguments: ["a", "mitchell", "Mitchell.Admin_2", "x-y", "_bot", String(repeating: "z", count: 32)])
    func validLogins(login: String) throws {
        #expect(OperatorStore.loginProblem(login) == nil)
    }

    @Test func emptyPasswordAndNamesAreRefused() throws {
        try withDatabase { database, _ in
            let store = database.operators
            #expect(throws: StorageError.emptyPassword) {
                try store.add(login: "mitchell", displayName: "Mitchell", password: "", bcryptCost: testBcryptCost)
            }
            #expect(throws: StorageError.self) {
                try store.add(login: "mitchell", displayName: "  ", password: "pw", bcryptCost: testBcryptCost)
            }
            #expect(throws: StorageError.self) {
                try store.add(login: "mitchell", displayName: "Line\nbreak", password: "pw", bcryptCost: testBcryptCost)
            }
            // Blank, or longer than bcrypt reads (it would be cut without a word).
            for password in ["   ", "\t", String(repeating: "p", count: 73)] {
                #expect(throws: StorageError.self) {
                    try store.add(login: "mitchell", displayName: "M", password: password, bcryptCost: testBcryptCost)
                }
            }
            #expect(throws: StorageError.self) {
                try store.add(login: "mitchell", displayName: "M", chatName: String(repeating: "c", count: 65),
                              password: "pw", bcryptCost: testBcryptCost)
            }
            #expect(throws: StorageError.invalidLanguage("en,fr")) {
                try store.add(login: "mitchell", displayName: "M", languages: ["en,fr"], password: "pw", bcryptCost: testBcryptCost)
            }
            let remaining = try store.all()
            #expect(remaining.isEmpty)
        }
    }

    @Test func chatNameAndLanguages() throws {
        try withDatabase { database, _ in
            let store = database.operators
            try store.add(login: "mitchell", displayName: "Mitchell Admin", languages: ["en"], password: "pw", bcryptCost: testBcryptCost)

            // The same limit as IRC's NAME: 64 characters.
            #expect(try store.setChatName(login: "mitchell", String(repeating: "c", count: 64)).chatName?.count == 64)
            #expect(throws: StorageError.self) { try store.setChatName(login: "mitchell", String(repeating: "c", count: 65)) }
            var account = try store.setChatName(login: "Mitchell", "Mitch")
            #expect(account.chatName == "Mitch" && account.visibleName == "Mitch")
            account = try store.setChatName(login: "mitchell", nil)
            #expect(account.chatName == nil && account.visibleName == "Mitchell Admin")
            account = try store.setChatName(login: "mitchell", "  ")
            #expect(account.chatName == nil)

            account = try store.setLanguages(login: "mitchell", ["fr", "en", "FR"])
            #expect(account.languages == ["fr", "en"])
            #expect(account.mainLanguage == "fr")
            #expect(try store.find(login: "mitchell")?.languages == ["fr", "en"])
            account = try store.setLanguages(login: "mitchell", [])
            #expect(account.languages.isEmpty)

            #expect(throws: StorageError.unknownLogin("nobody")) { try store.setChatName(login: "nobody", "X") }
            #expect(throws: StorageError.unknownLogin("nobody")) { try store.setLanguages(login: "nobody", ["en"]) }
        }
    }

    /// Another process (here, another `SwitchboardDatabase` on the same file)
    /// changes the password or removes the account: the cached success of
    /// this process must not let the old password in.
    @Test func cacheFollowsChangesFromAnotherConnection() throws {
        try withDatabase { server, path in
            let cli = try SwitchboardDatabase(path: path)
            defer { try? cli.close() }

            try cli.operators.add(login: "mitchell", displayName: "Mitchell", password: "old", bcryptCost: testBcryptCost)
            #expect(try server.operators.verify(login: "mitchell", password: "old") != nil)
            #expect(try server.operators.verify(login: "mitchell", password: "old") != nil)  // cached

            try cli.operators.setPassword(login: "mitchell", password: "new", bcryptCost: testBcryptCost)
            #expect(try server.operators.verify(login: "mitchell", password: "old") == nil)
            #expect(try server.operators.verify(login: "mitchell", password: "new") != nil)

            try cli.operators.remove(login: "mitchell")
            #expect(try server.operators.verify(login: "mitchell", password: "new") == nil)

            // Re-created with the same password: a new hash, verified afresh.
            try cli.operators.add(login: "mitchell", displayName: "Mitchell", password: "new", bcryptCost: testBcryptCost)
            #expect(try server.operators.verify(login: "mitchell", password: "new") != nil)
        }
    }

    /// Thousands of logins with one account must not each pay for bcrypt.
    @Test func repeatedVerificationsAreCached() throws {
        try withDatabase { database, _ in
            let store = database.operators
            try store.add(login: "bench", displayName: "Bench", password: "load", bcryptCost: 12)
            #expect(try store.verify(login: "bench", password: "load") != nil)
            let start = Date()
            for _ in 0..<200 {
                #expect(try store.verify(login: "bench", password: "load") != nil)
            }
            // 200 bcrypt verifications at cost 12 take around a minute.
            #expect(Date().timeIntervalSince(start) < 5)
        }
    }

    @Test func concurrentVerifications() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let database = try SwitchboardDatabase(path: folder.path + "/db.sqlite")
        defer { try? database.close() }
        try database.operators.add(login: "bench", displayName: "Bench", password: "load", bcryptCost: testBcryptCost)

        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let password = index.isMultiple(of: 4) ? "wrong" : "load"
                    let account = try database.operators.verify(login: "bench", password: password)
                    return (account != nil) == (password == "load")
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0 })
    }
}

@Suite struct DatabaseTests {
    @Test func walModeAndParentFolderCreated() throws {
        try withDatabase { database, path in
            #expect(try database.journalMode() == "wal")
            #expect(FileManager.default.fileExists(atPath: path))
            try database.operators.add(login: "a", displayName: "A", password: "pw", bcryptCost: testBcryptCost)
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test func migrationsAreIdempotentOnReopen() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/switchboard.sqlite"

        let first = try SwitchboardDatabase(path: path)
        let migrations = try first.appliedMigrations()
        #expect(Array(migrations.prefix(2)) == ["v1-operators", "v2-conversations"])
        let account = try first.operators.add(
            login: "mitchell", displayName: "Mitchell", languages: ["en"], password: "pw", bcryptCost: testBcryptCost)
        try first.close()

        for _ in 0..<2 {
            let again = try SwitchboardDatabase(path: path)
            #expect(try again.appliedMigrations() == migrations)
            #expect(try again.operators.all() == [account])
            #expect(try again.operators.verify(login: "mitchell", password: "pw") == account)
            try again.close()
        }
    }

    @Test func twoOpenDatabasesWriteConcurrently() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/switchboard.sqlite"
        let a = try SwitchboardDatabase(path: path)
        let b = try SwitchboardDatabase(path: path)
        defer {
            try? a.close()
            try? b.close()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                let database = index.isMultiple(of: 2) ? a : b
                group.addTask {
                    try database.operators.add(login: "op\(index)", displayName: "Op \(index)", password: "pw", bcryptCost: testBcryptCost)
                }
            }
            try await group.waitForAll()
        }
        #expect(try a.operators.all().count == 20)
        #expect(try b.operators.all().count == 20)
    }
}
