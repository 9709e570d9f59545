import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program started with `posix_spawn`, for the benchmark and the tests.
///
/// Not Foundation's `Process`, for three reasons:
/// - a child inherits the spawning thread's signal mask, and the threads of
///   Swift concurrency and NIO block most signals: a server or tmux started
///   through `Process` from them ignored SIGTERM. Here every signal is unblocked
///   and set back to its default action in the child;
/// - on Linux, `Process.run()` lists `/proc/self/fd` with a read past the end
///   of each directory entry, which intermittently crashes a process that has
///   many descriptors open (a test runner with hundreds of sockets);
/// - the child gets only standard input, output and error: every other
///   descriptor is closed (`closefrom`), so no socket or pipe of the parent
///   leaks into it.
///
/// Standard streams are files (or /dev/null), never pipes: reading a pipe to
/// its end would also wait for any other program that inherited its write end.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var waitStatus: Int32?

    private init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
    }

    /// Where a standard stream of the child goes.
    public enum Output: Sendable, Equatable {
        /// /dev/null.
        case discard
        /// Appended to this file, created if missing.
        case file(String)
    }

    /// Starts `executable` (a path, or a name looked up in `PATH`).
    /// - Parameters:
    ///   - environment: the child's environment; nil passes this process's own.
    ///   - directory: the child's working directory; nil keeps this process's.
    ///   - input: a file to read standard input from; nil is /dev/null.
    ///   - errorsToOutput: standard error goes where standard output goes
    ///     (one stream, in the order written), and `errors` is ignored.
    public static func spawn(_ executable: String, _ arguments: [String] = [],
                             environment: [String: String]? = nil, directory: String? = nil,
                             input: String? = nil, output: Output = .discard, errors: Output = .discard,
                             errorsToOutput: Bool = false) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let closeFrom = Native.addCloseFrom {
            try check(closeFrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")
        }
        try check(posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0), "open standard input")
        try addOutput(output, as: 1, to: &actions)
        if errorsToOutput {
            try check(posix_spawn_file_actions_adddup2(&actions, 1, 2), "redirect standard error")
        } else {
            try addOutput(errors, as: 2, to: &actions)
        }
        if let directory {
            guard let addChdir = Native.addChdir else {
                throw SpawnError("posix_spawn_file_actions_addchdir_np is not available in this C library")
            }
            try check(addChdir(&actions, directory), "change directory to \(directory)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = CStrings([executable] + arguments)
        let envp = environment.map { CStrings($0.map { "\($0.key)=\($0.value)" }) }
        var pid: pid_t = 0
        let result = argv.withPointers { argv in
            if let envp {
                return envp.withPointers { posix_spawnp(&pid, executable, &actions, &attributes, argv, $0) }
            }
            return posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard result == 0 else {
            throw SpawnError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid, executable: executable)
    }

    /// Reaps the child if it has exited; never blocks.
    public var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        if waitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            waitStatus = status
            return false
        }
        return result == 0
    }

    /// The raw wait status once the child has exited.
    public var status: Int32? {
        _ = isRunning
        lock.lock(); defer { lock.unlock() }
        return waitStatus
    }

    /// The exit code, once the child has exited normally (nil while it runs or when a signal ended it).
    public var exitCode: Int32? {
        guard let status, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// The signal that ended the child, if one did.
    public var terminatingSignal: Int32? {
        guard let status, status & 0x7f != 0 else { return nil }
        return status & 0x7f
    }

    /// "running", "exit status N" or "killed by signal N".
    public var statusDescription: String {
        if let exitCode { return "exit status \(exitCode)" }
        if let terminatingSignal { return "killed by signal \(terminatingSignal)" }
        return "running"
    }

    /// Sends `signal` (SIGTERM by default) unless the child has already been reaped.
    public func signal(_ signal: Int32 = SIGTERM) {
        lock.lock(); defer { lock.unlock() }
        // After reaping, the pid may belong to someone else.
        if waitStatus == nil { kill(pid, signal) }
    }

    /// Polls until the child exits or `timeout` passes, blocking this thread; true if it exited.
    public func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() > deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Polls until the child exits or `timeout` passes, without blocking a thread; true if it exited.
    /// Returns early, false, when the task is cancelled.
    public func exit(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now > deadline { return false }
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return !isRunning }
        }
        return true
    }

    /// SIGKILL if still running, then blocks until the child is reaped (for clean-ups).
    public func killAndReap() {
        guard isRunning else { return }
        signal(SIGKILL)
        while isRunning { usleep(5_000) }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; waits until the child is
    /// reaped. Returns the exit code, nil when a signal ended it.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) async -> Int32? {
        if isRunning {
            signal(SIGTERM)
            if await !exit(within: grace) { killAndReap() }
        }
        return exitCode
    }

    private static func addOutput(_ output: Output, as descriptor: Int32,
                                  to actions: inout posix_spawn_file_actions_t) throws {
        switch output {
        case .discard:
            try check(posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0), "open /dev/null")
        case .file(let path):
            try check(posix_spawn_file_actions_addopen(&actions, descriptor, path, O_WRONLY | O_CREAT | O_APPEND, 0o644),
                      "open \(path)")
        }
    }

    private static func check(_ result: Int32, _ what: String) throws {
        guard result == 0 else { throw SpawnError("cannot \(what): \(String(cString: strerror(result)))") }
    }
}

/// Why a program could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// glibc extensions that Swift's Glibc module does not export, looked up at run time.
private enum Native {
    typealias FileActions = UnsafeMutablePointer<posix_spawn_file_actions_t>?
    typealias AddChdir = @convention(c) (FileActions, UnsafePointer<CChar>?) -> Int32
    typealias AddCloseFrom = @convention(c) (FileActions, Int32) -> Int32

    /// glibc 2.29+.
    static let addChdir: AddChdir? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    /// glibc 2.34+. Without it the child inherits descriptors not marked close-on-exec.
    static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}

/// NUL-terminated copies of strings, as the `char *const []` that exec takes.
private final class CStrings {
    private let pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    deinit {
        for pointer in pointers { free(pointer) }
    }

    func withPointers<R>(_ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        body(pointers)
    }
}
