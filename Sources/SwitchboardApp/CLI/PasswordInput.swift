import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a password: one line of standard input, without its line break.
/// On a terminal, asks for it on stderr and turns echo off.
enum PasswordInput {
    static func read() throws -> String {
        let interactive = isatty(STDIN_FILENO) == 1
        var saved = termios()
        if interactive {
            writeToStandardError("Password: ")
            if tcgetattr(STDIN_FILENO, &saved) == 0 {
                var quiet = saved
                quiet.c_lflag &= ~tcflag_t(ECHO)
                _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
            }
        }
        defer {
            if interactive {
                _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                writeToStandardError("\n")
            }
        }
        guard var line = readLine(strippingNewline: true) else {
            throw CLIError("no password on standard input (it is read as one line)")
        }
        while line.hasSuffix("\r") || line.hasSuffix("\n") { line.removeLast() }
        guard !line.isEmpty else {
            throw CLIError("the password read from standard input is empty")
        }
        return line
    }

    static func writeToStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
        }
    }
}
