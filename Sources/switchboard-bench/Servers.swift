#if os(Linux)
import ChildProcesses
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Every server process this tool started, so that a signal, the overall
/// timeout or a normal exit can stop them.
final class ChildRegistry: @unchecked Sendable {
    static let shared = ChildRegistry()
    private let lock = NSLock()
    private var pids: [Int32: String] = [:]

    /// A fixed table of the same pids that a signal handler can read without locks.
    private nonisolated(unsafe) static let slots: UnsafeMutablePointer<Int32> = {
        let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: slotCount)
        pointer.initialize(repeating: 0, count: slotCount)
        return pointer
    }()
    private static let slotCount = 16

    func add(_ pid: Int32, pidFile: String) {
        lock.lock()
        pids[pid] = pidFile
        for index in 0..<Self.slotCount where Self.slots[index] == 0 {
            Self.slots[index] = pid
            break
        }
        lock.unlock()
    }

    func remove(_ pid: Int32) {
        lock.lock()
        pids[pid] = nil
        for index in 0..<Self.slotCount where Self.slots[index] == pid { Self.slots[index] = 0 }
        lock.unlock()
    }

    /// Async-signal-safe: sends `signal` to every recorded child.
    static func signalChildren(_ signal: Int32) {
        for index in 0..<slotCount {
            let pid = slots[index]
            if pid > 0 { kill(pid, signal) }
        }
    }

    /// SIGTERM, a short grace period, then SIGKILL; used on abnormal exits.
    func killAll() {
        lock.lock()
        let all = pids
        pids = [:]
        for index in 0..<Self.slotCount { Self.slots[index] = 0 }
        lock.unlock()
        for pid in all.keys { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, all.keys.contains(where: isProcessRunning) {
            usleep(50_000)
        }
        for (pid, pidFile) in all {
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            unlink(pidFile)
        }
    }
}

/// Resident set size of a process in KiB, from `/proc/<pid>/status` (VmRSS).
func residentKiB(pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.dropFirst("VmRSS:".count).filter { $0.isNumber }
        return Int(digits)
    }
    return nil
}

/// CPU time (user + system, all threads) a process has used so far, in
/// seconds, from `/proc/<pid>/stat`.
func cpuSeconds(pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (user + system) / (ticks > 0 ? ticks : 100)
}

/// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchFailure("socket(): errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw BenchFailure("bind(127.0.0.1:0): errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw BenchFailure("getsockname: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
func loopbackPortAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// The pid of the process listening on a loopback TCP port, found through
/// `/proc/net/tcp{,6}` and the processes' socket descriptors (needs the
/// right to read other processes' `fd` folders, e.g. same user or root).
func pidListening(onPort port: Int) -> Int32? {
    var inodes = Set<String>()
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[3] == "0A" else { continue } // LISTEN
            guard let colon = fields[1].lastIndex(of: ":"),
                  let localPort = Int(fields[1][fields[1].index(after: colon)...], radix: 16),
                  localPort == port else { continue }
            inodes.insert(String(fields[9]))
        }
    }
    guard !inodes.isEmpty,
          let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
    for entry in entries {
        guard let pid = Int32(entry) else { continue }
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
        for fd in fds {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
               target.hasPrefix("socket:["),
               inodes.contains(String(target.dropFirst("socket:[".count).dropLast())) {
                return pid
            }
        }
    }
    return nil
}

/// Raises this process's open-file limit to its hard limit.
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}

/// A server this tool started: its process, ports and logs.
final class ManagedServer: @unchecked Sendable {
    let name: String
    let process: ChildProcess
    let port: Int
    let pidFile: String
    let logPath: String

    init(name: String, process: ChildProcess, port: Int, pidFile: String, logPath: String) {
        self.name = name
        self.process = process
        self.port = port
        self.pidFile = pidFile
        self.logPath = logPath
    }

    var pid: Int32 { process.pid }
    var isRunning: Bool { process.isRunning }

    func logTail(lines: Int = 30) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log at \(logPath))" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, up to `grace` seconds, then SIGKILL.
    func stop(grace: TimeInterval = 10) {
        if process.isRunning {
            let started = Date()
            process.signal(SIGTERM)
            let deadline = started.addingTimeInterval(grace)
            if process.wait(timeout: max(0, deadline.timeIntervalSinceNow)) {
                log("\(name) stopped \(String(format: "%.1f", Date().timeIntervalSince(started))) s after SIGTERM (\(process.statusDescription))")
            } else {
                log("\(name) still running \(Int(grace)) s after SIGTERM: SIGKILL")
                process.killAndReap()
            }
        }
        ChildRegistry.shared.remove(pid)
        unlink(pidFile)
    }

    /// Starts `executable` with `arguments` in `directory`, output to `logPath`,
    /// records its pid in `pidFile`, and waits until it accepts connections on
    /// 127.0.0.1:port.
    static func launch(name: String, executable: String, arguments: [String], directory: String,
                       port: Int, logPath: String, pidFile: String, startupTimeout: TimeInterval) throws -> ManagedServer {
        let process = try ChildProcess.spawn(executable, arguments, directory: directory,
                                             output: .file(logPath), errorsToOutput: true)
        let pid = process.pid
        ChildRegistry.shared.add(pid, pidFile: pidFile)
        try? "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let server = ManagedServer(name: name, process: process, port: port, pidFile: pidFile, logPath: logPath)
        let deadline = Date().addingTimeInterval(startupTimeout)
        while true {
            if !process.isRunning {
                let tail = server.logTail()
                server.stop()
                throw BenchFailure("\(name) exited during startup (\(process.statusDescription)); log \(logPath):\n\(tail)")
            }
            if loopbackPortAccepts(port) { break }
            if Date() > deadline {
                let tail = server.logTail()
                server.stop()
                throw BenchFailure("\(name) did not accept connections on 127.0.0.1:\(port) within \(Int(startupTimeout)) s; log \(logPath):\n\(tail)")
            }
            usleep(100_000)
        }
        return server
    }
}

/// Runs a short command to completion (bounded by `timeout`), feeding `input`
/// on its standard input (through a file readable only by this user).
func runCommand(_ executable: String, _ arguments: [String], directory: String, input: String?,
                timeout: TimeInterval) throws -> (status: Int32, output: String) {
    let run = try ChildProcess.runBlocking(executable, arguments, directory: directory, input: input,
                                           errorsToOutput: true, timeout: timeout)
    if run.timedOut {
        throw BenchFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
    }
    return (run.exitCode ?? 128, run.output)
}

/// How to start each server under test.
enum ServerSetup {
    /// InspIRCd 3 with a minimal config: one plaintext listener on loopback,
    /// one connect class for 127.0.0.1 with every per-client limit lifted.
    static func startInspIRCd(executable: String, workdir: String, startupTimeout: TimeInterval) throws -> ManagedServer {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchFailure("no inspircd executable at \(executable) (apt-get install inspircd, or pass --inspircd)")
        }
        let folder = workdir + "/inspircd"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let configPath = folder + "/inspircd.conf"
        let config = """
        # Generated by switchboard-bench: loopback only, limits lifted for load generation.
        <server name="bench.inspircd.local" description="switchboard-bench reference" network="Bench">
        <admin name="bench" nick="bench" email="bench@localhost">
        <path configdir="\(folder)" datadir="\(folder)" logdir="\(folder)">
        <bind address="127.0.0.1" port="\(port)" type="clients">
        <connect name="bench" allow="127.0.0.1" timeout="300" pingfreq="3600"
                 hardsendq="268435456" softsendq="268435456" recvq="268435456"
                 threshold="1000000000" commandrate="1000000000" fakelag="no"
                 localmax="1000000" globalmax="1000000" limit="1000000" maxconnwarn="no"
                 resolvehostnames="no" useident="no" maxchans="100">
        <performance nouserdns="yes" softlimit="1000000" somaxconn="4096" netbuffersize="65536" clonesonconnect="no" quietbursts="yes">
        <options prefixquit="Quit: " syntaxhints="no" announcets="yes">
        <security hideserver="" userstats="Pu" flatlinks="no" maxtargets="20">
        <channels users="100" opers="100">
        <limits maxchan="64" maxnick="30">
        <dns server="127.0.0.1" timeout="1">
        <log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="\(folder)/ircd.log">

        """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        var arguments = ["--config", configPath, "--nofork", "--nopid"]
        if geteuid() == 0 { arguments.append("--runasroot") }
        return try ManagedServer.launch(name: "InspIRCd", executable: executable, arguments: arguments,
                                        directory: folder, port: port, logPath: folder + "/stdout.log",
                                        pidFile: workdir + "/inspircd.pid", startupTimeout: startupTimeout)
    }

    /// Switchboard with a generated TOML config (plaintext loopback listener
    /// only, storage in the work folder, loopback exempt from per-IP limits)
    /// and one operator account, `bench`, created with `switchboard operator add`.
    static func startSwitchboard(executable: String, workdir: String, password: String,
                                 startupTimeout: TimeInterval) throws -> ManagedServer {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchFailure("no switchboard executable at \(executable) (swift build -c release --product switchboard, or pass --switchboard)")
        }
        let folder = workdir + "/switchboard"
        try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        var webPort = try freeLoopbackPort()
        while webPort == port { webPort = try freeLoopbackPort() }
        let configPath = folder + "/switchboard.toml"
        let config = """
        # Generated by switchboard-bench: loopback only, no TLS listener.
        [server]
        name = "bench.switchboard.local"
        network = "Bench"

        [[listen]]
        address = "127.0.0.1:\(port)"
        tls = false

        [web]
        address = "127.0.0.1:\(webPort)"
        allowed_origins = []

        [storage]
        path = "\(folder)/data/switchboard.sqlite"

        [limits]
        exempt = ["127.0.0.0/8", "::1"]

        [livechat]
        languages = ["en"]
        inactivity_timeout = "30m"
        max_sessions = 0

        [[livechat.channel]]
        name = "Website"
        irc = "#website"
        slug = "website"
        welcome = "How may I help you?"
        button = "Need help? Chat with us."

        """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let added = try runCommand(executable, ["operator", "add", "bench", "--name", "Bench", "--password-stdin",
                                                "--config", configPath],
                                   directory: folder, input: password + "\n", timeout: 120)
        guard added.status == 0 else {
            throw BenchFailure("switchboard operator add failed (status \(added.status)):\n\(added.output)")
        }
        return try ManagedServer.launch(name: "Switchboard", executable: executable,
                                        arguments: ["serve", "--config", configPath],
                                        directory: folder, port: port, logPath: folder + "/server.log",
                                        pidFile: workdir + "/switchboard.pid", startupTimeout: startupTimeout)
    }
}
#endif
