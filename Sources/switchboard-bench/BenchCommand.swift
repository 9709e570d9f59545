#if os(Linux)
import ArgumentParser
import ChildProcesses
import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load generator comparing Switchboard with InspIRCd 3 on loopback.",
        discussion: """
        Without --port, starts each server named by --servers itself, one after
        the other, on free 127.0.0.1 ports with a generated config in --workdir,
        runs the same scenarios against each and prints the ratio
        Switchboard/InspIRCd. With --port, measures one server that is already
        running on loopback. See docs/benchmarks.md.
        """
    )

    // Servers to start.
    @Option(help: "Servers to start and measure, comma-separated, in this order.")
    var servers: String = "switchboard,inspircd"

    @Option(name: .customLong("repeat"), help: """
        Measure the servers this many times, in alternating order (A B, B A, A B...), and compare them \
        on all their rounds together: on a machine whose speed drifts, neither server gets the better minutes.
        """)
    var repetitions: Int = 1

    @Option(help: "The switchboard executable (default: next to this binary).")
    var switchboard: String?

    @Option(help: "The inspircd executable.")
    var inspircd: String = "/usr/sbin/inspircd"

    @Option(help: "Folder for generated configs, databases and logs (default: a new temporary folder).")
    var workdir: String?

    // An already running server.
    @Option(help: "Measure an already running server at this loopback address instead of starting servers.")
    var host: String = "127.0.0.1"

    @Option(help: "Port of an already running server (selects the single-server mode).")
    var port: Int?

    @Option(help: "PASS argument sent at registration, e.g. bench:secret (single-server mode).")
    var pass: String?

    @Option(help: "Pid of the running server, to read its memory (default: the process listening on --port, if visible).")
    var serverPid: Int32?

    @Option(help: "Name of the running server in the report (Switchboard or InspIRCd pairs it with the comparison).")
    var label: String = "server"

    // Scenario sizes.
    @Option(help: "Idle clients connected and registered before the message scenarios (kept connected).")
    var idle: Int = 5000

    @Option(help: "Members of the fan-out channel.")
    var members: Int = 200

    @Option(help: "Messages sent to the fan-out channel per round (each is delivered to members - 1 clients).")
    var fanoutMessages: Int = 20000

    @Option(help: "Members of the fan-out channel that send.")
    var fanoutSenders: Int = 10

    @Option(help: "Messages each fan-out sender may have in flight (sent, not yet seen by its observer).")
    var fanoutWindow: Int = 32

    @Option(help: "Two-member channels.")
    var pairs: Int = 500

    @Option(help: "Messages each pair member sends to its channel per round.")
    var pairMessages: Int = 500

    @Option(help: "Messages each pair member may have in flight.")
    var pairWindow: Int = 16

    @Option(help: "Length of each message text in bytes (timestamp header plus padding).")
    var textSize: Int = 80

    @Option(help: "Measured rounds per message scenario; the report shows the median round.")
    var rounds: Int = 3

    @Flag(help: "Skip the unmeasured warm-up round before each message scenario.")
    var noWarmup: Bool = false

    @Flag(help: "Small sizes for a quick check: 200 idle, 50 fan-out members, 500 messages, 50 pairs x 20.")
    var quick: Bool = false

    // Pacing and limits.
    @Option(help: """
        Re-arm TCP_QUICKACK after every read, so that delayed ACKs do not stall servers that leave Nagle on: \
        on, off, or auto (on for every server but Switchboard, which sets TCP_NODELAY).
        """)
    var quickAck: QuickAck = .auto

    @Option(help: "Client event loop threads.")
    var threads: Int = 2

    @Option(help: "Connections registering at the same time.")
    var connectConcurrency: Int = 500

    @Option(help: "Seconds a client waits for 001 after connecting, and for its JOIN to be confirmed.")
    var registrationTimeout: Double = 120

    @Option(help: "Seconds a phase (connecting a group of clients, one measured round) may take.")
    var phaseTimeout: Double = 900

    @Option(help: "Seconds the whole run may take; then the servers are stopped and the run fails.")
    var timeout: Double = 3600

    @Option(help: "Seconds a started server has to accept connections.")
    var startupTimeout: Double = 60

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    mutating func validate() throws {
        if host == "localhost" { host = "127.0.0.1" }
        let loopback = host == "::1" || (host.hasPrefix("127.") && (try? SocketAddress(ipAddress: host, port: 0)) != nil)
        guard loopback else {
            throw ValidationError("--host must be a loopback IP address (127.0.0.0/8 or ::1)")
        }
        for (name, value) in [("idle", idle), ("members", members), ("pairs", pairs), ("rounds", rounds),
                              ("threads", threads), ("connect-concurrency", connectConcurrency),
                              ("fanout-window", fanoutWindow), ("pair-window", pairWindow),
                              ("fanout-senders", fanoutSenders)] where value < 0 {
            throw ValidationError("--\(name) must not be negative")
        }
        if threads < 1 || connectConcurrency < 1 || fanoutWindow < 1 || pairWindow < 1 || rounds < 1 || repetitions < 1 {
            throw ValidationError("--threads, --connect-concurrency, --rounds, --repeat and the windows must be at least 1")
        }
        if port != nil && repetitions > 1 {
            throw ValidationError("--repeat needs servers the bench starts itself (not --port)")
        }
        if members == 1 { throw ValidationError("--members must be 0 (skip) or at least 2") }
    }

    func settings() -> Settings {
        var s = Settings(idle: idle, members: members, fanoutMessages: fanoutMessages, fanoutSenders: fanoutSenders,
                         fanoutWindow: fanoutWindow, pairs: pairs, pairMessages: pairMessages, pairWindow: pairWindow,
                         textSize: textSize, rounds: rounds, warmup: !noWarmup,
                         connectConcurrency: connectConcurrency, registrationTimeout: registrationTimeout,
                         phaseTimeout: phaseTimeout, threads: threads, quickAck: quickAck)
        if quick {
            s.idle = min(s.idle, 200)
            s.members = min(s.members, 50)
            s.fanoutMessages = min(s.fanoutMessages, 500)
            s.fanoutSenders = min(s.fanoutSenders, 5)
            s.pairs = min(s.pairs, 50)
            s.pairMessages = min(s.pairMessages, 20)
            s.rounds = 1
        }
        return s
    }

    func run() async throws {
        let settings = settings()
        let limit = raiseOpenFileLimit()
        let needed = settings.idle + settings.members + 2 * settings.pairs + 100
        if limit >= 0 && limit < needed {
            log("warning: open-file limit is \(limit), below the \(needed) descriptors this run needs (raise ulimit -n)")
        }
        installSignalHandlers()
        startWatchdog(seconds: timeout)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)

        var results: [ServerResult] = []
        if let port {
            let pid = serverPid ?? pidListening(onPort: port)
            if pid == nil { log("warning: no pid for the server on port \(port); memory will not be measured (pass --server-pid)") }
            let target = Target(label: label, host: host, port: port, password: pass, pid: pid,
                                quickAck: settings.quickAck.enabled(forServer: label), isAlive: {
                pid.map(isProcessRunning) ?? true
            })
            log("measuring \(label) at \(host):\(port)\(pid.map { " (pid \($0))" } ?? "")")
            let runner = Runner(settings: settings, target: target, group: group)
            results.append(await runner.run())
        } else {
            results = try await runManaged(settings: settings, group: group)
        }
        try? await group.shutdownGracefully()

        let machine = Report.machineDescription()
        print(Report.render(settings: settings, results: results, machine: machine), terminator: "")
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Output: Codable { var machine: String; var settings: Settings; var results: [ServerResult] }
            let data = try encoder.encode(Output(machine: machine, settings: settings, results: results))
            try data.write(to: URL(fileURLWithPath: json))
            log("results written to \(json)")
        }
        let incomplete = results.contains { result in
            result.idleRegistered < result.idleRequested
                || [result.fanout, result.pairs].contains { $0.map { !$0.median.complete } ?? false }
                || !result.errors.filter({ !$0.hasPrefix("client:") }).isEmpty
        }
        if incomplete {
            throw ExitCode(2)
        }
    }

    private func runManaged(settings: Settings, group: MultiThreadedEventLoopGroup) async throws -> [ServerResult] {
        let folder: String
        if let workdir {
            folder = URL(fileURLWithPath: workdir).standardizedFileURL.path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } else {
            var template = Array((NSTemporaryDirectory() + "/switchboard-bench.XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else { throw BenchFailure("mkdtemp failed: errno \(errno)") }
            folder = String(cString: made)
        }
        log("work folder: \(folder)")
        let listed = servers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        // Each repetition in a folder of its own: a fresh database and config per start.
        let runs = (0..<repetitions).flatMap { repetition in
            (repetition % 2 == 0 ? listed : listed.reversed()).map { name in
                (name, repetitions > 1 ? folder + "/run\(repetition + 1)" : folder)
            }
        }
        var results: [ServerResult] = []
        for (name, folder) in runs {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let server: ManagedServer
            var password: String? = nil
            do {
                switch name {
                case "inspircd":
                    log("starting InspIRCd (\(inspircd))")
                    server = try ServerSetup.startInspIRCd(executable: inspircd, workdir: folder,
                                                           startupTimeout: startupTimeout)
                    // The same registration lines as for Switchboard; InspIRCd ignores PASS
                    // when the connect class has no password.
                    password = "bench:not-checked"
                case "switchboard":
                    let executable = switchboard ?? Self.siblingExecutable("switchboard")
                    let secret = Self.randomPassword()
                    log("starting Switchboard (\(executable))")
                    server = try ServerSetup.startSwitchboard(executable: executable, workdir: folder,
                                                              password: secret, startupTimeout: startupTimeout)
                    password = "bench:\(secret)"
                default:
                    throw BenchFailure("unknown server '\(name)' in --servers (use switchboard, inspircd)")
                }
            } catch {
                log("\(error)")
                results.append(ServerResult(label: name == "inspircd" ? "InspIRCd" : "Switchboard", pid: nil,
                                            idleRequested: settings.idle, idleRegistered: 0,
                                            lostConnections: 0, errors: ["\(error)"]))
                continue
            }
            log("\(server.name) running, pid \(server.pid), 127.0.0.1:\(server.port), log \(server.logPath)")
            let target = Target(label: server.name, port: server.port, password: password, pid: server.pid,
                                quickAck: settings.quickAck.enabled(forServer: server.name),
                                isAlive: { server.isRunning })
            let runner = Runner(settings: settings, target: target, group: group)
            var result = await runner.run()
            if !server.isRunning {
                result.errors.append("\(server.name) exited (\(server.process.statusDescription)); log tail:\n\(server.logTail(lines: 15))")
            }
            log("stopping \(server.name)")
            server.stop()
            results.append(result)
        }
        return results
    }

    static func siblingExecutable(_ name: String) -> String {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<24).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }
}

// MARK: Stopping on signals and on the overall timeout

/// SIGINT, SIGTERM and SIGHUP stop the servers and end the run. A real handler
/// (not SIG_IGN) is installed on purpose: ignored signals would be inherited
/// by the servers this tool starts, and they would then ignore SIGTERM too.
private func installSignalHandlers() {
    for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
        signal(signalNumber, onTerminatingSignal)
    }
}

/// Runs in signal context: only async-signal-safe calls (kill, write, _exit).
private func onTerminatingSignal(_ signalNumber: Int32) {
    ChildRegistry.signalChildren(SIGTERM)
    let message = "switchboard-bench: interrupted, servers sent SIGTERM\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    _exit(128 + signalNumber)
}

private func startWatchdog(seconds: Double) {
    DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
        log("overall timeout of \(Int(seconds)) s reached: stopping the servers")
        ChildRegistry.shared.killAll()
        exit(124)
    }
}

extension QuickAck: ExpressibleByArgument {}
#endif
