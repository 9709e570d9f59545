import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `--password-stdin`, which `operator add` and `operator passwd` require: a
/// password is never an argument, where `ps` and the shell history would show
/// it. A flag of an enumeration without a default is one ArgumentParser
/// requires, and shows without brackets in the usage line.
enum PasswordSource: String, EnumerableFlag {
    case passwordStdin

    static func help(for value: PasswordSource) -> ArgumentHelp? {
        "Required: read the password from standard input (one line), e.g. printf '%s\\n' \"$PASSWORD\" | switchboard operator ... --password-stdin"
    }
}

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
        guard var line = readStandardInputLine() else {
            throw CLIError("no password on standard input (it is read as one line)")
        }
        while line.last == UInt8(ascii: "\r") || line.last == UInt8(ascii: "\n") { line.removeLast() }
        guard !line.isEmpty else {
            throw CLIError("the password read from standard input is empty")
        }
        // Decoding with repair (as readLine does) would turn every invalid byte into
        // U+FFFD, so that different byte strings became one weak password.
        guard let password = String(validating: line, as: UTF8.self) else {
            throw CLIError("the password read from standard input is not valid UTF-8; give it as UTF-8 text")
        }
        if line.contains(UInt8(ascii: "\r")) {
            // An old Mac line break, or a CR pasted into the password: no IRC client could send it with PASS.
            throw CLIError("the password read from standard input has a line break (CR) in it; the password is one line")
        }
        if !interactive, standardInputHoldsMoreText() {
            // A second line is likely a file given by mistake, or a password that holds a
            // line break: taking only the first line would set a password nobody meant.
            throw CLIError("standard input has more than one line; the password is read as one line, give only that")
        }
        return password
    }

    static func writeToStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
        }
    }
}

/// The bytes of standard input up to the first line break (included), or nil
/// at the end of the input with nothing read. Outside `PasswordInput`, whose
/// `read()` would hide the system's `read`.
private func readStandardInputLine() -> [UInt8]? {
    var bytes: [UInt8] = []
    var byte: UInt8 = 0
    while true {
        let count = read(STDIN_FILENO, &byte, 1)
        if count < 0, errno == EINTR { continue }
        guard count == 1 else { return bytes.isEmpty ? nil : bytes }
        bytes.append(byte)
        if byte == UInt8(ascii: "\n") { return bytes }
    }
}

/// Whether standard input already holds more than blank lines (after the password's).
private func standardInputHoldsMoreText() -> Bool {
    var pending = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
    guard poll(&pending, 1, 0) == 1, pending.revents & Int16(POLLIN) != 0 else { return false }
    var rest = [UInt8](repeating: 0, count: 4096)
    let count = read(STDIN_FILENO, &rest, rest.count)
    guard count > 0 else { return false }
    let blanks: Set<UInt8> = [UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t")]
    return rest[..<count].contains { !blanks.contains($0) }
}
