import ChildProcesses
import Foundation
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

    @Test("serves TLS and plaintext IRC, generates a certificate, and exits 0 on SIGTERM after telling clients")
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

        var plainClient: TestIRCClient?
        let deadline = ContinuousClock.now + .seconds(30)
        while plainClient == nil, ContinuousClock.now < deadline {
            plainClient = try? await TestIRCClient.connect(port: plain, tls: false)
            if plainClient == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let viaPass = try #require(plainClient)
        try await viaPass.register(nick: "mitchell", login: "mitchell", password: "s3cret pass", sasl: false)
        let viaTLS = try await TestIRCClient.connect(port: tls, tls: true)
        try await viaTLS.register(nick: "mitchell_phone", login: "mitchell", password: "s3cret pass")
        #expect(FileManager.default.fileExists(atPath: folder + "/certs/server.crt"))

        process.signal(SIGTERM)
        for client in [viaPass, viaTLS] {
            let error = try await client.expect("ERROR", timeout: .seconds(10))
            #expect(error.params == ["Server shutting down"])
            try await client.expectClosed()
        }
        #expect(await process.exit(within: .seconds(15)))
        #expect(process.exitCode == 0, "switchboard serve ended with \(process.statusDescription)")
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("development certificate"))
        // A cleanly closed SQLite database leaves no write-ahead log behind.
        #expect(!FileManager.default.fileExists(atPath: folder + "/data/switchboard.sqlite-wal"))
    }
}
