import ChildProcesses
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Starting programs")
struct ChildProcessTests {
    @Test("standard input, output and error are files; the exit code comes back")
    func streamsAndExitCode() async throws {
        let run = try await ChildProcess.run("/bin/sh", ["-c", "read line; echo \"out:$line\"; echo err >&2; exit 3"],
                                             input: "hello\n", timeout: .seconds(30))
        #expect(run.exitCode == 3)
        #expect(run.statusDescription == "exit status 3")
        #expect(!run.timedOut)
        #expect(run.output == "out:hello\n")
        #expect(run.errors == "err\n")
    }

    @Test("errors merged into the output keep their order")
    func mergedErrors() throws {
        let run = try ChildProcess.runBlocking("/bin/sh", ["-c", "echo one; echo two >&2; echo three"],
                                               errorsToOutput: true, timeout: 30)
        #expect(run.exitCode == 0)
        #expect(run.output == "one\ntwo\nthree\n")
        #expect(run.errors == "")
    }

    // Killed, not waited for: a time limit that did not work would let the sleep run
    // for 10 minutes, past the test's own limit. (No bound on the seconds it takes: on a
    // loaded machine the kill may come late, and this is not a timing test.)
    @Test("a program still running at its time limit is killed and reported", .timeLimit(.minutes(2)))
    func timeLimit() async throws {
        let run = try await ChildProcess.run("sleep", ["600"], timeout: .milliseconds(300))
        #expect(run.timedOut)
        #expect(run.exitCode == nil)
        #expect(run.statusDescription == "killed by signal \(SIGKILL)")
    }

    @Test("environment and working directory are the ones asked for")
    func environmentAndDirectory() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("child-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try await ChildProcess.run("/bin/sh", ["-c", "echo \"$GREETING\"; pwd -P"],
                                             environment: ["GREETING": "hi there", "PATH": "/usr/bin:/bin"],
                                             directory: folder.path, timeout: .seconds(30))
        let expected = try #require(realpath(folder.path, nil))
        defer { free(expected) }
        #expect(run.output == "hi there\n\(String(cString: expected))\n")
    }

    @Test("a missing program is a clear error")
    func missingProgram() async throws {
        let error = try #require(throws: SpawnError.self) {
            _ = try ChildProcess.spawn("/nonexistent/program")
        }
        #expect(error.description.contains("/nonexistent/program"))
    }

    /// The threads running this test block most signals; the child must not inherit that.
    @Test("the child gets SIGTERM's default action, whatever the spawning thread blocks")
    func signalsReachTheChild() async throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let child = try ChildProcess.spawn("sleep", ["30"])
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        child.signal(SIGTERM)
        #expect(await child.exit(within: .seconds(10)))
        #expect(child.terminatingSignal == SIGTERM)
        #expect(await child.stop() == nil)
    }

    /// An exited child is a zombie until it is reaped, and `kill(pid, 0)` still
    /// succeeds for it: it must not count as running.
    @Test("a process counts as running until it exits, reaped or not")
    func liveness() async throws {
        #expect(isProcessRunning(getpid()))
        #expect(!isProcessRunning(0))
        let child = try ChildProcess.spawn("sleep", ["30"])
        #expect(isProcessRunning(child.pid))
        kill(child.pid, SIGKILL)
        var reported = false
        for _ in 0..<200 where !reported {
            reported = !isProcessRunning(child.pid)
            if !reported { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(reported)
        #expect(child.isRunning == false)  // reaped only now
        #expect(!isProcessRunning(child.pid))
    }

    /// Descriptors of the parent (sockets, pipes) must not leak into children:
    /// a leaked write end keeps a pipe open, a leaked listener keeps a port busy.
    @Test("only standard input, output and error are inherited")
    func descriptorsAreNotInherited() async throws {
        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        // Few: the other suites run in this process at the same time and need descriptors too.
        for _ in 0..<100 {
            let fd = open("/dev/null", O_RDONLY)   // no O_CLOEXEC on purpose
            guard fd >= 0 else { break }
            opened.append(fd)
        }
        #expect(opened.count == 100)
        for _ in 0..<5 {
            let run = try await ChildProcess.run("/bin/sh", ["-c", "ls /proc/$$/fd"], timeout: .seconds(30))
            let descriptors = run.output.split(separator: "\n").compactMap { Int($0) }
            #expect(run.exitCode == 0)
            // 0-2, plus the one ls itself opens for the listing (it lists the shell's).
            #expect(descriptors.allSatisfy { $0 <= 2 }, "inherited: \(descriptors)")
        }
    }
}
