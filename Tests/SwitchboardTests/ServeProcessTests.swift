import ChildProcesses
import Foundation
import Logging
import NIOCore
import NIOPosix
@testable import SwitchboardApp
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real `switchboard serve` process, as a user runs it.
@Suite("switchboard serve")
struct ServeProcessTests {
    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        try #require(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("serves TLS and plaintext IRC, generates a certificate, and exits 0 on SIGTERM after telling clients, even with a visitor's socket that never answers the close and a silent preconnect")
    func serveAndTerminate() async throws {
        let folder = NSTemporaryDirectory() + "switchboard-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (plain, tls, web) = (try Self.freePort(), try Self.freePort(), try Self.freePort())
        let config = folder + "/switchboard.toml"
        try """
            [[listen]]
            address = "127.0.0.1:\(tls)"
            tls = true
            [[listen]]
            address = "127.0.0.1:\(plain)"
            tls = false
            [tls]
            certificate = "\(folder)/certs/server.crt"
            key = "\(folder)/certs/server.key"
            [web]
            address = "127.0.0.1:\(web)"
            [storage]
            path = "\(folder)/data/switchboard.sqlite"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let added = try SwitchboardBinary.run(["operator", "add", "mitchell", "--name", "Mitchell Admin",
                                                "--password-stdin", "--config", config], stdin: "s3cret pass\n")
        #expect(added.status == 0, "\(added.stderr)")

        let path = try #require(SwitchboardBinary.path)
        let logPath = folder + "/serve.log"
        let process = try ChildProcess.spawn(path, ["serve", "--config", config], errors: .file(logPath))
        defer { process.killAndReap() }

        let viaPass = try await Self.connectOnceUp(port: plain)
        try await viaPass.register(nick: "mitchell", login: "mitchell", password: "s3cret pass", sasl: false)
        let viaTLS = try await TestIRCClient.connect(port: tls, tls: true)
        try await viaTLS.register(nick: "mitchell_phone", login: "mitchell", password: "s3cret pass")
        #expect(FileManager.default.fileExists(atPath: folder + "/certs/server.crt"))
        // A visitor whose network vanished: its socket never answers the server's close
        // frame (a plain socket that reads nothing after the upgrade, in its own process).
        let visitor = try await TestVisitor.start(WebTestClient(port: web))
        let python = try #require(TestTools.path(of: "python3"))
        let silentLog = folder + "/silent-visitor.log"
        let silent = try ChildProcess.spawn(python, ["-c", Self.silentVisitor, String(web), String(visitor.id), visitor.token],
                                            output: .file(silentLog), errorsToOutput: true)
        defer { silent.killAndReap() }
        let upgraded = ContinuousClock.now + .seconds(10)
        while !((try? String(contentsOfFile: silentLog, encoding: .utf8)) ?? "").contains("101"), ContinuousClock.now < upgraded {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(((try? String(contentsOfFile: silentLog, encoding: .utf8)) ?? "").hasPrefix("HTTP/1.1 101"))
        try await Task.sleep(for: .milliseconds(300))
        // And a connection a browser opened ahead of need, which never sends a request.
        let preconnect = try await RawConnection.connect(port: web)

        process.signal(SIGTERM)
        for client in [viaPass, viaTLS] {
            let error = try await client.expect("ERROR", timeout: .seconds(6))
            #expect(error.params == ["Server shutting down"])
            try await client.expectClosed()
        }
        #expect(await process.exit(within: .seconds(15)))
        withExtendedLifetime(preconnect) {}
        #expect(process.exitCode == 0, "switchboard serve ended with \(process.statusDescription)")
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("development certificate"))
        // A cleanly closed SQLite database leaves no write-ahead log behind.
        #expect(!FileManager.default.fileExists(atPath: folder + "/data/switchboard.sqlite-wal"))
    }

    /// Opens the events WebSocket (port, conversation id, token), prints the status
    /// line, then never reads or answers anything again.
    static let silentVisitor = """
        import socket, sys, time
        port, conversation, token = sys.argv[1], sys.argv[2], sys.argv[3]
        s = socket.create_connection(("127.0.0.1", int(port)))
        s.sendall(("GET /api/v1/conversations/%s/events?token=%s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n"
                   "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n" % (conversation, token)).encode())
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += s.recv(4096)
        print(head.split(b"\\r\\n")[0].decode(), flush=True)
        time.sleep(60)
        """

    /// A plaintext IRC connection, once the freshly started process listens (within 30 s).
    private static func connectOnceUp(port: Int) async throws -> TestIRCClient {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let client = try? await TestIRCClient.connect(port: port, tls: false) { return client }
            guard ContinuousClock.now < deadline else { throw TestTimeout(waitingFor: "serve to listen on \(port)", seen: []) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A config for `serve` in `folder`: the given IRC listener and web address, and more lines.
    private static func writeConfig(_ folder: String, listen: String, tls: Bool, web: String, extra: String = "") throws -> String {
        let path = folder + "/switchboard-\(UUID().uuidString).toml"
        try """
            [[listen]]
            address = "\(listen)"
            tls = \(tls)
            [web]
            address = "\(web)"
            [storage]
            path = "\(folder)/data/switchboard.sqlite"
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("serve says which address it cannot listen on, and what is wrong with a certificate or key")
    func startupProblemsAreNamed() async throws {
        let folder = NSTemporaryDirectory() + "switchboard-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Something already listens on this port.
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { taken.close(promise: nil) }
        let takenPort = try #require(taken.localAddress?.port)
        let (free1, free2) = (try Self.freePort(), try Self.freePort())

        var config = try Self.writeConfig(folder, listen: "127.0.0.1:\(takenPort)", tls: false, web: "127.0.0.1:\(free1)")
        var result = try SwitchboardBinary.run(["serve", "--config", config])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(takenPort) (plaintext IRC): Address already in use"),
                "\(result.stderr)")

        config = try Self.writeConfig(folder, listen: "127.0.0.1:\(free1)", tls: false, web: "127.0.0.1:\(takenPort)")
        result = try SwitchboardBinary.run(["serve", "--config", config])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(takenPort) (web): Address already in use"), "\(result.stderr)")

        // Two of our own listeners on one port: the message says so, not "another program".
        // (Another test may take the free port before the first listener does: then try another.)
        for attempt in 1...3 {
            let shared = try Self.freePort()
            config = try Self.writeConfig(folder, listen: "127.0.0.1:\(shared)", tls: false, web: "127.0.0.1:\(free2)",
                                          extra: "[[listen]]\naddress = \"0.0.0.0:\(shared)\"\ntls = false")
            result = try SwitchboardBinary.run(["serve", "--config", config])
            if attempt < 3, result.stderr.contains("cannot listen on 127.0.0.1:\(shared)") { continue }
            #expect(result.status != 0)
            #expect(result.stderr.contains("cannot listen on 0.0.0.0:\(shared) (plaintext IRC): Address already in use (by the [[listen]] entry 127.0.0.1:\(shared) of this configuration"),
                    "\(result.stderr)")
            break
        }

        // Two development certificates: the key of one does not belong to the other.
        let logger = Logger(label: "test")
        for name in ["", "/other"] {
            _ = try DevelopmentCertificate.ensure(certificatePath: folder + name + "/server.crt", keyPath: folder + name + "/server.key",
                                                  hostnames: ["switchboard.local"], logger: logger)
        }
        let cases: [(certificate: String, key: String, expected: String)] = [
            (folder + "/server.crt", folder + "/other/server.key",
             "tls.key: the private key \(folder)/other/server.key does not belong to the certificate \(folder)/server.crt"),
            (folder + "/other", folder + "/server.key", "tls.certificate: cannot load the certificate: \(folder)/other is a folder"),
            (folder + "/server.key", folder + "/server.key", "tls.certificate: cannot load the certificate: \(folder)/server.key is not a PEM certificate"),
        ]
        for (certificate, key, expected) in cases {
            config = try Self.writeConfig(folder, listen: "127.0.0.1:\(free1)", tls: true, web: "127.0.0.1:\(free2)",
                                          extra: "[tls]\ncertificate = \"\(certificate)\"\nkey = \"\(key)\"")
            result = try SwitchboardBinary.run(["serve", "--config", config])
            #expect(result.status != 0)
            #expect(result.stderr.contains(expected), "\(result.stderr)")
        }
    }

    @Test("a SIGTERM while serve is still starting (its database just created) stops it cleanly once it is up")
    func terminateWhileStarting() async throws {
        let folder = NSTemporaryDirectory() + "switchboard-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (tls, web) = (try Self.freePort(), try Self.freePort())
        let config = try Self.writeConfig(folder, listen: "127.0.0.1:\(tls)", tls: true, web: "127.0.0.1:\(web)",
                                          extra: "[tls]\ncertificate = \"\(folder)/certs/server.crt\"\nkey = \"\(folder)/certs/server.key\"")
        let process = try ChildProcess.spawn(try #require(SwitchboardBinary.path), ["serve", "--config", config])
        defer { process.killAndReap() }
        // serve creates the database first, then the certificate, then binds its ports.
        let database = folder + "/data/switchboard.sqlite"
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while !FileManager.default.fileExists(atPath: database), clock.now < deadline, process.exitCode == nil {
            try await Task.sleep(for: .milliseconds(1))
        }
        process.signal(SIGTERM)
        #expect(await process.exit(within: .seconds(15)))
        #expect(process.exitCode == 0, "switchboard serve ended with \(process.statusDescription)")
        #expect(!FileManager.default.fileExists(atPath: database + "-wal"))
    }

    @Test("SIGHUP stops serve as cleanly as SIGTERM")
    func hangUp() async throws {
        let folder = NSTemporaryDirectory() + "switchboard-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (plain, web) = (try Self.freePort(), try Self.freePort())
        let config = try Self.writeConfig(folder, listen: "127.0.0.1:\(plain)", tls: false, web: "127.0.0.1:\(web)")
        #expect(try SwitchboardBinary.run(["operator", "add", "hana", "--name", "Hana", "--password-stdin", "--config", config],
                                          stdin: "pw\n").status == 0)
        let process = try ChildProcess.spawn(try #require(SwitchboardBinary.path), ["serve", "--config", config])
        defer { process.killAndReap() }
        let hana = try await Self.connectOnceUp(port: plain)
        try await hana.register(nick: "hana", login: "hana", password: "pw", sasl: false)
        process.signal(SIGHUP)
        #expect(try await hana.expect("ERROR", timeout: .seconds(10)).params == ["Server shutting down"])
        #expect(await process.exit(within: .seconds(15)))
        #expect(process.exitCode == 0, "switchboard serve ended with \(process.statusDescription)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/data/switchboard.sqlite-wal"))
    }
}
