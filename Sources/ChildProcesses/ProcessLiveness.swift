import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the process `pid` is still running, for processes this one did not
/// spawn itself (a server found by its port, a client inside tmux) or before
/// reaping one: it exists (`kill(pid, 0)` succeeds, or fails with EPERM for a
/// process of another user) and is not a zombie. An exited child that its
/// parent has not reaped yet still answers `kill`; on Linux its state in
/// `/proc/<pid>/stat` says so.
public func isProcessRunning(_ pid: pid_t) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return true }
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat[stat.index(after: close)...].drop(while: { $0 == " " }).first != "Z"
}
