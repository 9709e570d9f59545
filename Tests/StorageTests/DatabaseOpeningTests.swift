import Foundation
import GRDB
import Storage
import Testing

@Suite struct DatabaseOpeningTests {
    @Test("a database a newer version migrated is refused, named, and left as it was")
    func newerDatabaseRefused() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/switchboard.sqlite"
        try SwitchboardDatabase(path: path).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
            try db.execute(sql: "CREATE TABLE future_thing (x)")
        }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        #expect(throws: StorageError.newerDatabase(migrations: ["v99-from-the-future"])) {
            try SwitchboardDatabase(path: path)
        }
        let message = StorageError.newerDatabase(migrations: ["v99-from-the-future"]).description
        #expect(message.contains("newer version of Switchboard") && message.contains("v99-from-the-future"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("one server at a time: a second server on the database is refused, the operator commands are not")
    func oneServerAtATime() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/data/switchboard.sqlite"
        let server = try SwitchboardDatabase(path: path, asServer: true)
        #expect(throws: StorageError.databaseInUse(path)) {
            try SwitchboardDatabase(path: path, asServer: true)
        }
        #expect(StorageError.databaseInUse(path).description.contains("already running on the database \(path)"))
        // `switchboard operator ...` next to the running server.
        let command = try SwitchboardDatabase(path: path)
        _ = try command.operators.all()
        try command.close()
        // Once the first server has closed it, the next one starts.
        try server.close()
        try SwitchboardDatabase(path: path, asServer: true).close()
    }

    @Test("a file where the database's folder should be is named in plain words")
    func folderBlockedByAFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let blocker = folder.path + "/data"
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: blocker))
        do {
            _ = try SwitchboardDatabase(path: blocker + "/inner/switchboard.sqlite")
            Issue.record("the database opened under a file")
        } catch let error as StorageError {
            #expect(error == .unusableFolder(blocker + "/inner", reason: "\(blocker) is a file, not a folder"))
            #expect(!error.description.contains("NSCocoaErrorDomain"), "\(error)")
        }
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "not a folder")
    }
}
