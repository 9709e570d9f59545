import Foundation
import Logging
import NIOCore
import Storage
import Synchronization
@testable import SwitchboardApp

/// A whole Switchboard started in-process on ephemeral loopback ports, with its
/// own temporary folder for the database and the development certificate.
final class TestServer: Sendable {
    let server: SwitchboardServer
    let folder: URL
    let tlsPort: Int
    let plainPort: Int
    let webPort: Int

    static let password = "correct horse battery staple"

    private init(server: SwitchboardServer, folder: URL) {
        self.server = server
        self.folder = folder
        let ports = server.ircAddresses.map { $0.port ?? 0 }
        tlsPort = ports[0]
        plainPort = ports[1]
        webPort = server.webPort ?? 0
    }

    /// Starts a server with operators `alice`, `bob` and `carol` (password `TestServer.password`).
    /// With `logs`, everything the server logs at debug level and above is kept there.
    static func start(operators: [String] = ["alice", "bob", "carol"], logs: CapturedLogs? = nil,
                      configure: (inout SwitchboardConfig) -> Void = { _ in }) async throws -> TestServer {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var config = SwitchboardConfig.defaults
        config.listeners = [
            .init(host: "127.0.0.1", port: 0, tls: true),
            .init(host: "127.0.0.1", port: 0, tls: false),
        ]
        config.webHost = "127.0.0.1"
        config.webPort = 0
        config.storagePath = folder.appendingPathComponent("switchboard.sqlite").path
        config.tlsCertificate = folder.appendingPathComponent("server.crt").path
        config.tlsKey = folder.appendingPathComponent("server.key").path
        config.motd = ["Welcome to the test server"]
        configure(&config)
        var logger = Logger(label: "switchboard-test")
        logger.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"] == nil ? .critical : .debug
        if let logs {
            logger = Logger(label: "switchboard-test") { _ in logs }
            logger.logLevel = .debug
        }
        let server = try SwitchboardServer(config: config, logger: logger)
        do {
            try addOperators(operators, to: server)
            try await server.start()
        } catch {
            await server.stop()
            throw error
        }
        return TestServer(server: server, folder: folder)
    }

    private static func addOperators(_ operators: [String], to server: SwitchboardServer) throws {
        for login in operators {
            _ = try server.database.operators.add(
                login: login, displayName: login.capitalized, chatName: nil, languages: ["en"],
                isBot: false, isAdmin: login == "alice", password: password, bcryptCost: 4)
        }
    }

    /// Stops this server and starts a new one on the same database and config (new ports).
    func restarted() async throws -> TestServer {
        await server.stop()
        var logger = Logger(label: "switchboard-test")
        logger.logLevel = .critical
        let next = try SwitchboardServer(config: server.config, logger: logger)
        try await next.start()
        return TestServer(server: next, folder: folder)
    }

    /// Adds a bot account (user mode +B).
    func addBot(_ login: String) throws {
        _ = try server.database.operators.add(
            login: login, displayName: login.capitalized, chatName: nil, languages: ["en"],
            isBot: true, isAdmin: false, password: Self.password, bcryptCost: 4)
    }

    func connect(tls: Bool = true, receiveBuffer: Int? = nil) async throws -> TestIRCClient {
        try await TestIRCClient.connect(port: tls ? tlsPort : plainPort, tls: tls, receiveBuffer: receiveBuffer)
    }

    /// A registered client with SASL and the given capabilities, over TLS unless told.
    func client(_ nick: String, login: String? = nil, caps: [String] = [], tls: Bool = true) async throws -> TestIRCClient {
        let client = try await connect(tls: tls)
        try await client.register(nick: nick, login: login ?? nick, password: Self.password, caps: caps)
        return client
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// Runs `body` against a fresh server and always stops it.
func withServer(operators: [String] = ["alice", "bob", "carol"], logs: CapturedLogs? = nil,
                configure: (inout SwitchboardConfig) -> Void = { _ in },
                _ body: (TestServer) async throws -> Void) async throws {
    let server = try await TestServer.start(operators: operators, logs: logs, configure: configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// A log handler that keeps what it is given, for tests of what the server logs.
struct CapturedLogs: LogHandler {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
    }

    private final class Box: Sendable {
        let entries = Mutex<[Entry]>([])
    }

    private let box = Box()
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let message = event.metadata.map { "\(event.message) \($0)" } ?? "\(event.message)"
        box.entries.withLock { $0.append(Entry(level: event.level, message: message)) }
    }

    /// What was logged at `level` or above.
    func entries(atLeast level: Logger.Level) -> [Entry] {
        box.entries.withLock { $0.filter { $0.level >= level } }
    }
}
