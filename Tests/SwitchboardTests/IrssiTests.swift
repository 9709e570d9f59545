import ChildProcesses
import Foundation
import IRCProtocol
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Real IRC clients on a real terminal: irssi (and WeeChat) run inside a
/// detached tmux session of our own, against a server started in-process.
/// Each logs in over TLS without certificate verification and with SASL
/// PLAIN, joins a channel, and exchanges messages with a raw test client.
///
/// Needs `irssi`, `weechat` and `tmux` (`apt-get install irssi weechat tmux`,
/// done by `.ci/run`): without them a test is skipped, except on CI
/// (`CI=true`) where it fails.
@Suite("Stock IRC clients in a terminal")
struct IrssiTests {
    @Test("irssi logs in over TLS with SASL PLAIN, joins a channel and talks with a raw client",
          Self.needsIrssi, .timeLimit(.minutes(2)))
    func irssi() async throws {
        guard let (irssi, tmux) = Self.irssiAndTmux() else { return }
        try await converse(irssiClient(irssi, tmux: tmux, asking: "alice", login: "alice", registersAs: "alice"))
    }

    @Test("irssi asking for a nick kept for website visitors registers with its next choice",
          Self.needsIrssi, .timeLimit(.minutes(2)))
    func irssiWithVisitorShapedNick() async throws {
        guard let (irssi, tmux) = Self.irssiAndTmux() else { return }
        // irssi ends the connection on 432 before registration; on 433 it adds `_`.
        try await converse(irssiClient(irssi, tmux: tmux, asking: "Anna-17", login: "alice", registersAs: "Anna-17_"))
    }

    static let needsIrssi = ConditionTrait.enabled(
        if: TestTools.available(["irssi", "tmux"]) || TestTools.onCI,
        "needs irssi and tmux (apt-get install irssi tmux); required when CI=true")

    /// The paths of irssi and tmux; when one is missing (only on CI, see `needsIrssi`), records why.
    private static func irssiAndTmux() -> (String, String)? {
        guard let irssi = TestTools.path(of: "irssi"), let tmux = TestTools.path(of: "tmux") else {
            Issue.record("CI=true but irssi or tmux is not installed: run `apt-get install irssi tmux` (or .ci/run)")
            return nil
        }
        return (irssi, tmux)
    }

    /// irssi logging in as `login` with SASL PLAIN and asking for the nick `requested`.
    private func irssiClient(_ irssi: String, tmux: String, asking requested: String, login: String,
                             registersAs nick: String) -> StockClient {
        let password = TestServer.password.replacingOccurrences(of: "\"", with: "\\\"")
        return StockClient(
            name: "irssi", tmux: tmux, nick: nick,
            command: { home, _ in [irssi, "--home=\(home)", "--noconnect", "-n", requested] },
            // The prompt names the active window once irssi reads its input.
            ready: "[(status)]",
            setup: { port in [
                "/network add -nick \(requested) -sasl_mechanism PLAIN -sasl_username \(login) -sasl_password \"\(password)\" NET",
                "/server add -tls -notls_verify -network NET 127.0.0.1 \(port)",
                "/connect NET",
            ] },
            failures: ["SASL authentication failed", "Unable to connect", "Connection lost"])
    }

    @Test("WeeChat logs in over TLS with SASL PLAIN, joins a channel and talks with a raw client",
          .enabled(if: TestTools.available(["weechat", "tmux"]) || TestTools.onCI,
                   "needs weechat and tmux (apt-get install weechat tmux); required when CI=true"),
          .timeLimit(.minutes(2)))
    func weechat() async throws {
        guard let weechat = TestTools.path(of: "weechat"), let tmux = TestTools.path(of: "tmux") else {
            Issue.record("CI=true but weechat or tmux is not installed: run `apt-get install weechat tmux` (or .ci/run)")
            return
        }
        let password = TestServer.password.replacingOccurrences(of: "\"", with: "\\\"")
        try await converse(StockClient(
            name: "WeeChat", tmux: tmux, nick: "carol",
            // Only the irc plugin (no script languages); the setup runs at startup (`-r`, `;`-separated).
            command: { home, port in [weechat, "--dir", home, "-P", "irc", "-r", [
                "/server add NET 127.0.0.1/\(port) -ssl -ssl_verify=off -nicks=carol",
                "/set irc.server.NET.sasl_mechanism plain",
                "/set irc.server.NET.sasl_username carol",
                "/set irc.server.NET.sasl_password \"\(password)\"",
                "/connect NET",
            ].joined(separator: ";")] },
            ready: nil,
            setup: { _ in [] },
            failures: ["authentication failed", "disconnected from server", "connection refused"]))
    }

    /// One stock client in a terminal: how to start it and set it up.
    struct StockClient {
        let name: String
        let tmux: String
        /// The nick the server knows the client by once registered.
        let nick: String
        /// The command line, given the client's home folder and the server's TLS port.
        let command: (_ home: String, _ port: Int) -> [String]
        /// Text on the screen once the client reads what is typed, if it must be awaited.
        let ready: String?
        /// Lines typed after that, given the TLS port.
        let setup: (_ port: Int) -> [String]
        /// Text on the screen meaning the client will not register.
        let failures: [String]
    }

    /// The conversation both clients go through, bounded to about 60 s.
    private func converse(_ client: StockClient) async throws {
        let deadline = Deadline(ContinuousClock.now + .seconds(60))
        let channel = "#switchboard-test"
        let nick = client.nick
        try await withServer { server in
            let bob = try await server.client("bob")
            try await bob.send("JOIN \(channel)")
            try await bob.expect("366")

            try await withTmux(tmux: client.tmux) { term in
                let home = term.folder.appendingPathComponent("client").path
                try await term.start(client.command(home, server.tlsPort))
                if let ready = client.ready {
                    try await term.waitForScreen("\(client.name) to start", deadline.within(.seconds(15))) { $0.contains(ready) }
                }
                for line in client.setup(server.tlsPort) {
                    try await term.type(line)
                }

                // Registered: the server knows the nick (asked from the server side).
                let registered = deadline.within(.seconds(20))
                while true {
                    try await bob.send("WHOIS \(nick)")
                    let reply = try? await bob.expect("311 or 401", timeout: .seconds(2)) { $0.command == "311" || $0.command == "401" }
                    if reply?.command == "311" { break }
                    let screen = await term.screen()
                    if let failure = client.failures.first(where: { screen.contains($0) }) {
                        throw TerminalError("\(client.name) did not register (\(failure))", screen: screen)
                    }
                    if ContinuousClock.now > registered {
                        throw TerminalError("\(client.name) did not register in time", screen: screen)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                }

                try await term.type("/join \(channel)")
                try await bob.expect("\(nick)'s JOIN", timeout: deadline.remaining(max: .seconds(10))) {
                    $0.command == "JOIN" && $0.source?.hasPrefix("\(nick)!") == true && $0.params.first == channel
                }
                // The client switched to the channel's window: what is typed next goes to the channel.
                try await term.waitForScreen("the channel window", deadline.within(.seconds(10))) {
                    $0.contains("has joined \(channel)")
                }

                try await term.type("hello from \(client.name)")
                let fromClient = try await bob.expect("\(nick)'s PRIVMSG", timeout: deadline.remaining(max: .seconds(10))) {
                    $0.command == "PRIVMSG" && $0.source?.hasPrefix("\(nick)!") == true
                }
                #expect(fromClient.params == [channel, "hello from \(client.name)"])

                try await bob.send("PRIVMSG \(channel) :hello from bob to \(client.name)")
                let screen = try await term.waitForScreen("bob's message on \(client.name)'s screen", deadline.within(.seconds(10))) { screen in
                    screen.split(separator: "\n").contains { $0.contains("bob") && $0.contains("hello from bob to \(client.name)") }
                }
                #expect(screen.contains("hello from \(client.name)"))

                try await term.type("/quit leaving the test")
                let quit = try await bob.expect("\(nick)'s QUIT", timeout: deadline.remaining(max: .seconds(10))) {
                    $0.command == "QUIT" && $0.source?.hasPrefix("\(nick)!") == true
                }
                #expect(quit.params.last?.contains("leaving the test") == true)
            }
            await bob.close()
        }
    }
}

// MARK: - Support for driving terminal clients

/// A point in time that bounds a whole test; each step waits at most what is left.
private struct Deadline {
    let end: ContinuousClock.Instant
    init(_ end: ContinuousClock.Instant) { self.end = end }

    func remaining(max: Duration) -> Duration {
        Swift.max(.zero, Swift.min(max, end - ContinuousClock.now))
    }

    func within(_ duration: Duration) -> ContinuousClock.Instant {
        Swift.min(end, ContinuousClock.now + duration)
    }
}

private struct TerminalError: Error, CustomStringConvertible {
    let message: String
    let screen: String
    init(_ message: String, screen: String) {
        self.message = message
        self.screen = screen
    }
    var description: String { "\(message); the terminal shows:\n\(screen)" }
}

private struct ToolFailed: Error, CustomStringConvertible {
    let command: [String]
    let status: String
    let output: String
    var description: String { "`\(command.joined(separator: " "))` ended with \(status): \(output)" }
}

/// Runs `body` with a private tmux server (its own socket and config in a
/// temporary folder, so a user's tmux is never touched), and always ends it
/// and whatever runs in it, then removes the folder.
private func withTmux(tmux: String, _ body: (Tmux) async throws -> Void) async throws {
    let term = try await Tmux.start(tmux: tmux)
    do {
        try await body(term)
    } catch {
        if !(error is TerminalError) {
            let screen = await term.screen()
            Issue.record("the terminal showed, when the test failed:\n\(screen)")
        }
        await term.stop()
        throw error
    }
    await term.stop()
}

/// A tmux server of our own, run in the foreground (`-D`) as our child process,
/// holding one detached session with one program in a 200×50 terminal.
/// Clients are run with `-N` so that none of them ever starts a server of its own.
private final class Tmux: Sendable {
    let tmux: String
    /// A throwaway folder: the socket, the tmux config and the client's home live here.
    let folder: URL
    let session: String
    private let socket: String
    private let config: String
    private let environment: [String: String]
    private let server: ChildProcess

    private init(tmux: String) throws {
        self.tmux = tmux
        // Short names: a Unix socket path is limited to about 100 bytes.
        let id = UUID().uuidString.prefix(8).lowercased()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-tmux-\(id)")
        session = "switchboard-\(id)"
        socket = folder.appendingPathComponent("sock").path
        config = folder.appendingPathComponent("tmux.conf").path
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Keep a dead pane's last screen for failure messages; the whole screen for the client.
        try "set -g remain-on-exit on\nset -g status off\n".write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TMUX"] = nil
        environment["TMUX_PANE"] = nil
        environment["HOME"] = folder.path
        self.environment = environment
        do {
            server = try ChildProcess.spawn(tmux, ["-D", "-S", socket, "-f", config], environment: environment)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    static func start(tmux: String) async throws -> Tmux {
        let term = try Tmux(tmux: tmux)
        do {
            // Wait for the server to answer on its socket.
            let ready = ContinuousClock.now + .seconds(10)
            while true {
                do {
                    try await term.run(["show-options", "-g"])
                    return term
                } catch where ContinuousClock.now < ready && term.server.isRunning {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        } catch {
            await term.stop()
            throw error
        }
    }

    /// Starts `command` (program and arguments, no shell) in a new detached session.
    func start(_ command: [String]) async throws {
        try await run(["new-session", "-d", "-s", session, "-x", "200", "-y", "50", "--"] + command)
    }

    /// Types `text` literally, then Enter.
    func type(_ text: String) async throws {
        try await run(["send-keys", "-t", session, "-l", text])
        try await run(["send-keys", "-t", session, "Enter"])
    }

    /// What the terminal shows now (empty if it cannot be read).
    func screen() async -> String {
        let text = (try? await run(["capture-pane", "-p", "-J", "-t", session])) ?? ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.reversed().drop(while: { $0 == " " }).reversed()
        }
        return String(lines.map { String($0) }.joined(separator: "\n").trimmingCharacters(in: .newlines))
    }

    /// Polls the screen until `predicate` holds; returns that screen.
    @discardableResult
    func waitForScreen(_ what: String, _ deadline: ContinuousClock.Instant,
                       until predicate: (String) -> Bool) async throws -> String {
        while true {
            let screen = await screen()
            if predicate(screen) { return screen }
            if ContinuousClock.now > deadline { throw TerminalError("timed out waiting for \(what)", screen: screen) }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Ends the programs in the panes (irssi takes `kill-server`'s SIGHUP as
    /// "reload the config"), then the tmux server, then removes the folder.
    /// Safe to call in any state, and bounded in time.
    func stop() async {
        if server.isRunning {
            let panes = (try? await run(["list-panes", "-a", "-F", "#{pane_pid} #{pane_dead}"])) ?? ""
            let live = panes.split(separator: "\n").compactMap { line -> pid_t? in
                let fields = line.split(separator: " ")
                guard fields.count == 2, fields[1] == "0", let pid = pid_t(fields[0]), pid > 1 else { return nil }
                return pid
            }
            await Self.end(live)
            _ = try? await run(["kill-server"])
            await server.stop(grace: .seconds(2))
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// SIGTERM, up to 2 s to exit, then SIGKILL.
    private static func end(_ pids: [pid_t]) async {
        guard !pids.isEmpty else { return }
        for pid in pids { kill(pid, SIGTERM) }
        for _ in 0..<40 where pids.contains(where: isProcessRunning) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Runs one tmux command against this private server; returns its standard output.
    @discardableResult
    private func run(_ arguments: [String]) async throws -> String {
        let all = ["-N", "-S", socket] + arguments
        let result = try await ChildProcess.run(tmux, all, environment: environment, timeout: .seconds(10))
        guard result.exitCode == 0 else {
            throw ToolFailed(command: ["tmux"] + arguments, status: result.statusDescription,
                             output: result.errors + result.output)
        }
        return result.output
    }
}
