#if !os(Linux)
import Foundation

/// switchboard-bench reads /proc, spawns servers with Linux's posix_spawn
/// extensions and uses Linux socket options; elsewhere it only says so.
@main
struct UnsupportedPlatform {
    static func main() {
        FileHandle.standardError.write(Data("switchboard-bench runs on Linux only\n".utf8))
        exit(1)
    }
}
#endif
