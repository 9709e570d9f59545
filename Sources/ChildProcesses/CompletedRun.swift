import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ChildProcess {
    /// What a program that ran to completion (or was killed at its time limit) left behind.
    public struct Completed: Sendable {
        /// The exit code; nil when a signal ended the program.
        public let exitCode: Int32?
        /// "exit status N" or "killed by signal N".
        public let statusDescription: String
        /// True when the program was still running at the time limit and was killed.
        public let timedOut: Bool
        /// Standard output (with standard error too, when they were merged).
        public let output: String
        /// Standard error; empty when it was merged into `output`.
        public let errors: String
    }

    /// Runs a program to completion without blocking a thread, with `input` as
    /// its standard input; kills it at `timeout`.
    public static func run(_ executable: String, _ arguments: [String] = [],
                           environment: [String: String]? = nil, directory: String? = nil,
                           input: String? = nil, errorsToOutput: Bool = false,
                           timeout: Duration) async throws -> Completed {
        let files = try CaptureFiles(input: input)
        defer { files.remove() }
        let child = try files.spawn(executable, arguments, environment: environment, directory: directory,
                                    errorsToOutput: errorsToOutput)
        let exited = await child.exit(within: timeout)
        if !exited { child.killAndReap() }
        return files.collect(child, timedOut: !exited)
    }

    /// `run`, blocking the calling thread while the program runs.
    public static func runBlocking(_ executable: String, _ arguments: [String] = [],
                                   environment: [String: String]? = nil, directory: String? = nil,
                                   input: String? = nil, errorsToOutput: Bool = false,
                                   timeout: TimeInterval) throws -> Completed {
        let files = try CaptureFiles(input: input)
        defer { files.remove() }
        let child = try files.spawn(executable, arguments, environment: environment, directory: directory,
                                    errorsToOutput: errorsToOutput)
        let exited = child.wait(timeout: timeout)
        if !exited { child.killAndReap() }
        return files.collect(child, timedOut: !exited)
    }
}

/// A private temporary folder (mode 0700) holding a child's standard input,
/// output and error as files.
private struct CaptureFiles {
    let folder: String
    let input: String?

    var output: String { folder + "/output" }
    var errors: String { folder + "/errors" }

    init(input text: String?) throws {
        let pattern = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("child-process-XXXXXX").path
        var template = Array(pattern.utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SpawnError("cannot create a temporary folder: \(String(cString: strerror(errno)))")
        }
        folder = String(cString: created)
        guard let text else {
            input = nil
            return
        }
        let path = folder + "/input"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            try? FileManager.default.removeItem(atPath: folder)
            throw SpawnError("cannot write \(path)")
        }
        input = path
    }

    func spawn(_ executable: String, _ arguments: [String], environment: [String: String]?, directory: String?,
               errorsToOutput: Bool) throws -> ChildProcess {
        try ChildProcess.spawn(executable, arguments, environment: environment, directory: directory, input: input,
                               output: .file(output), errors: .file(errors), errorsToOutput: errorsToOutput)
    }

    func collect(_ child: ChildProcess, timedOut: Bool) -> ChildProcess.Completed {
        ChildProcess.Completed(
            exitCode: child.exitCode, statusDescription: child.statusDescription, timedOut: timedOut,
            output: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "",
            errors: (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
