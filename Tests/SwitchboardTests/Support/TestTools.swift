import Foundation

/// Programs some tests drive (irssi, WeeChat, tmux, chromium, python3), and
/// whether those tests must run: skipped when a program is missing, except on
/// CI (`CI=true`), where a missing program is a failure.
enum TestTools {
    static var onCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The program's path on the PATH (or in the usual folders). Looked up rather
    /// than run: nothing here may block a thread of the test runner's small pool.
    static func path(of program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func available(_ programs: [String]) -> Bool {
        programs.allSatisfy { path(of: $0) != nil }
    }
}
