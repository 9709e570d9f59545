import ChildProcesses
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Storage
import SwitchboardApp
import Testing

/// Runs the built `switchboard` binary.
enum SwitchboardBinary {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `switchboard` executable built next to the test bundle, or the one
    /// named by `SWITCHBOARD_BINARY`.
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BINARY"] { return path }
        var folders: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        folders.append(Bundle.main.bundleURL)
        folders.append(Bundle.main.bundleURL.deletingLastPathComponent())
        // macOS: .build/debug/xxxPackageTests.xctest/Contents/MacOS/xxxPackageTests
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent("switchboard").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    static func run(_ arguments: [String], stdin: String? = nil) throws -> Result {
        let path = try #require(Self.path, "the switchboard binary was not found next to the tests; build it first")
        let run = try ChildProcess.runBlocking(path, arguments, input: stdin ?? "", timeout: 60)
        if run.timedOut { Issue.record("switchboard \(arguments.joined(separator: " ")) did not finish within 60 s") }
        return Result(status: run.exitCode ?? -1, stdout: run.output, stderr: run.errors)
    }
}

/// A temporary folder with a config whose database lives in it.
private struct CLISandbox {
    let folder: String
    let configPath: String
    let databasePath: String

    init(config extra: String = "") throws {
        folder = NSTemporaryDirectory() + "switchboard-cli-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        configPath = folder + "/switchboard.toml"
        databasePath = folder + "/data/switchboard.sqlite"
        let text = """
            [storage]
            path = "\(databasePath)"

            [livechat]
            languages = ["en", "fr", "es", "de"]
            \(extra)
            """
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func run(_ arguments: [String], stdin: String? = nil) throws -> SwitchboardBinary.Result {
        try SwitchboardBinary.run(arguments + ["--config", configPath], stdin: stdin)
    }

    /// Runs with `stdin` as raw bytes, which need not be text.
    func run(_ arguments: [String], stdinBytes: [UInt8]) throws -> SwitchboardBinary.Result {
        let path = try #require(SwitchboardBinary.path, "the switchboard binary was not found next to the tests; build it first")
        let run = folder + "/run-" + UUID().uuidString
        FileManager.default.createFile(atPath: run + ".in", contents: Data(stdinBytes))
        let child = try ChildProcess.spawn(path, arguments + ["--config", configPath], input: run + ".in",
                                           output: .file(run + ".out"), errors: .file(run + ".err"))
        if !child.wait(timeout: 60) {
            child.killAndReap()
            Issue.record("switchboard \(arguments.joined(separator: " ")) did not finish within 60 s")
        }
        return SwitchboardBinary.Result(
            status: child.exitCode ?? -1,
            stdout: (try? String(contentsOfFile: run + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: run + ".err", encoding: .utf8)) ?? "")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}

@Suite(.serialized) struct CLITests {
    @Test func addListPasswdRemove() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }

        var result = try sandbox.run(["operator", "list"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "no operator accounts\n")

        result = try sandbox.run(
            ["operator", "add", "mitchell", "--name", "Mitchell Admin", "--chat-name", "Mitch", "--lang", "FR",
             "--lang", "en", "--admin", "--password-stdin"],
            stdin: "first password\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "added operator mitchell\n")

        result = try sandbox.run(
            ["operator", "add", "faqbot", "--name", "FAQ bot", "--bot", "--password-stdin"], stdin: "beep")
        #expect(result.status == 0, "\(result.stderr)")

        result = try sandbox.run(["operator", "list"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 3, "\(result.stdout)")
        #expect(lines[0].hasPrefix("LOGIN"))
        for column in ["NAME", "CHAT NAME", "LANGUAGES", "FLAGS", "CREATED"] {
            #expect(lines[0].contains(column))
        }
        #expect(lines[1].hasPrefix("faqbot "))
        #expect(lines[1].contains("FAQ bot") && lines[1].contains(" bot "))
        #expect(lines[2].hasPrefix("mitchell "))
        #expect(lines[2].contains("Mitchell Admin") && lines[2].contains("Mitch ") && lines[2].contains("fr,en"))
        #expect(lines[2].contains("admin"))
        // Aligned: every column starts at the same offset on every line.
        let createdColumn = try #require(lines[0].range(of: "CREATED")).lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst() {
            #expect(line.count > createdColumn)
            let before = line.index(line.startIndex, offsetBy: createdColumn - 1)
            #expect(line[before] == " ")
            #expect(line[line.index(after: before)].isNumber)
        }

        // The account as the server will see it.
        do {
            let database = try SwitchboardDatabase(path: sandbox.databasePath)
            defer { try? database.close() }
            let account = try #require(try database.operators.verify(login: "mitchell", password: "first password"))
            #expect(account.languages == ["fr", "en"])
            #expect(account.chatName == "Mitch" && account.isAdmin && !account.isBot)
            let bot = try #require(try database.operators.verify(login: "faqbot", password: "beep"))
            #expect(bot.isBot && bot.languages == ["en"])
        }

        result = try sandbox.run(["operator", "passwd", "Mitchell", "--password-stdin"], stdin: "second\r\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("mitchell"))
        do {
            let database = try SwitchboardDatabase(path: sandbox.databasePath)
            defer { try? database.close() }
            #expect(try database.operators.verify(login: "mitchell", password: "first password") == nil)
            #expect(try database.operators.verify(login: "mitchell", password: "second") != nil)
        }

        result = try sandbox.run(["operator", "remove", "MITCHELL"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "removed operator mitchell\n")
        result = try sandbox.run(["operator", "remove", "faqbot"])
        #expect(result.status == 0, "\(result.stderr)")

        result = try sandbox.run(["operator", "list"])
        #expect(result.stdout == "no operator accounts\n")
    }

    @Test func duplicateLogin() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        var result = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "pw\n")
        #expect(result.status == 0, "\(result.stderr)")
        result = try sandbox.run(["operator", "add", "ANNA", "--name", "Anna 2", "--password-stdin"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("'ANNA' already exists"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func unknownLanguage() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        let result = try sandbox.run(
            ["operator", "add", "anna", "--name", "Anna", "--lang", "en", "--lang", "xx", "--password-stdin"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown or disabled language 'xx'; enabled languages: en, fr, es, de"), "\(result.stderr)")
        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")
        // An empty code is a mistake too, not "the default language".
        for spelling in [["--lang", ""], ["--lang", "fr,"], ["--lang", "fr,,en"]] {
            let empty = try sandbox.run(["operator", "add", "anna", "--name", "Anna"] + spelling + ["--password-stdin"], stdin: "pw\n")
            #expect(empty.status != 0, "\(spelling)")
            #expect(empty.stderr.contains("empty language code in --lang"), "\(empty.stderr)")
        }
        // Spaces around a code are forgiven.
        #expect(try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--lang", " fr , en", "--password-stdin"],
                                stdin: "pw\n").status == 0)
        #expect(try sandbox.run(["operator", "list"]).stdout.contains("fr,en"))
    }

    @Test func serviceNameIsNotALogin() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        let result = try sandbox.run(["operator", "add", "livechat", "--name", "Impostor", "--password-stdin"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("'LiveChat' is the name of the live chat service"), "\(result.stderr)")
        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")
    }

    @Test func passwordInputProblems() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        var result = try sandbox.run(["operator", "add", "anna", "--name", "Anna"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("--password-stdin"), "\(result.stderr)")

        result = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("empty"), "\(result.stderr)")

        result = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "")
        #expect(result.status != 0)
        #expect(result.stderr.contains("no password"), "\(result.stderr)")

        result = try sandbox.run(["operator", "passwd", "anna"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("--password-stdin"), "\(result.stderr)")

        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")
    }

    /// Only the first line was used, silently: a file given by mistake, or a password
    /// with a line break in it, set a password nobody meant. A long bad value is quoted short.
    @Test func passwordOfSeveralLinesAndLongValuesAreRefusedClearly() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        let twoLines = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "first line\nsecond line\n")
        #expect(twoLines.status == 1)
        #expect(twoLines.stderr.contains("more than one line"), "\(twoLines.stderr)")
        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")
        let carriageReturn = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "abc\rdef\n")
        #expect(carriageReturn.status == 1 && carriageReturn.stderr.contains("line break"), "\(carriageReturn.stderr)")
        #expect(try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "only one\n\n").status == 0)
        let language = try sandbox.run(["operator", "add", "cleo", "--name", "Cleo", "--lang", String(repeating: "n", count: 5000), "--password-stdin"], stdin: "secret words\n")
        #expect(language.status == 1 && language.stderr.count < 400 && language.stderr.contains("5000 characters"), "\(language.stderr.prefix(300))")

        let huge = String(repeating: "N", count: 100_000)
        let long = try sandbox.run(["operator", "add", "bert", "--name", huge, "--password-stdin"], stdin: "secret words\n")
        #expect(long.status == 1)
        #expect(long.stderr.count < 400 && long.stderr.contains("100000 characters") && long.stderr.contains("at most 100"), "\(long.stderr.prefix(400))")
    }

    /// Decoding standard input with repair turned every invalid byte into U+FFFD,
    /// so that any 8 random bytes made the same weak password.
    @Test func passwordThatIsNotUTF8IsRefused() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        let notUTF8: [UInt8] = [0xFF, 0xFE, 0x80, 0xC3, 0x28, 0xA0, 0xA1, 0xF8, 0x0A]
        let refusal = "Error: the password read from standard input is not valid UTF-8; give it as UTF-8 text\n"
        let emptyPassword = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "\n")

        var result = try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdinBytes: notUTF8)
        #expect(result.status == 1 && result.status == emptyPassword.status, "\(result.stderr)")
        #expect(result.stderr == refusal)
        #expect(result.stdout.isEmpty)
        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")

        #expect(try sandbox.run(["operator", "add", "anna", "--name", "Anna", "--password-stdin"], stdin: "héllo wörld\n").status == 0)
        result = try sandbox.run(["operator", "passwd", "anna", "--password-stdin"], stdinBytes: notUTF8)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr == refusal)
        #expect(result.stdout.isEmpty)
        let database = try SwitchboardDatabase(path: sandbox.databasePath)
        defer { try? database.close() }
        #expect(try database.operators.verify(login: "anna", password: "héllo wörld") != nil)
    }

    @Test func invalidLoginAndUnknownAccounts() throws {
        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        var result = try sandbox.run(["operator", "add", "9lives", "--name", "Cat", "--password-stdin"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("invalid login '9lives'"), "\(result.stderr)")

        result = try sandbox.run(["operator", "remove", "ghost"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no operator account with login 'ghost'"), "\(result.stderr)")

        result = try sandbox.run(["operator", "passwd", "ghost", "--password-stdin"], stdin: "pw\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("no operator account with login 'ghost'"), "\(result.stderr)")
    }

    @Test func brokenConfig() throws {
        let sandbox = try CLISandbox(config: "inactivity_timeout = \"30 minutes\"\n")
        defer { sandbox.remove() }
        for arguments in [["operator", "list"], ["serve"], ["operator", "remove", "x"]] {
            let result = try sandbox.run(arguments)
            #expect(result.status != 0)
            #expect(
                result.stderr.contains(
                    "\(sandbox.configPath):6: livechat.inactivity_timeout: invalid duration \"30 minutes\" (use 45s, 30m, 2h)"),
                "\(result.stderr)")
            #expect(!result.stderr.contains("ConfigError("))
        }

        let missing = try SwitchboardBinary.run(["operator", "list", "--config", sandbox.folder + "/nope.toml"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nope.toml: no such file"), "\(missing.stderr)")

        let folder = try SwitchboardBinary.run(["operator", "list", "--config", sandbox.folder])
        #expect(folder.status != 0)
        #expect(folder.stderr.contains("this is a folder, not a configuration file"), "\(folder.stderr)")
    }

    /// Timers count in 64-bit nanoseconds: a duration beyond them once passed the
    /// config check and crashed the server after its listeners were up.
    @Test func tooLongDurationStopsServeBeforeAnythingStarts() throws {
        let sandbox = try CLISandbox(config: """
            [[listen]]
            address = "127.0.0.1:0"
            tls = false
            [web]
            address = "127.0.0.1:0"
            [limits]
            registration_timeout = "3000000h"
            """)
        defer { sandbox.remove() }
        let result = try sandbox.run(["serve"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(
            "\(sandbox.configPath):12: limits.registration_timeout: the duration \"3000000h\" is too long (at most 8760h = 365 days)"),
            "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
        #expect(!FileManager.default.fileExists(atPath: sandbox.databasePath), "the server started")
    }

    @Test func help() throws {
        let result = try SwitchboardBinary.run(["operator", "add", "--help"])
        #expect(result.status == 0)
        for option in ["--name", "--chat-name", "--lang", "--bot", "--admin", "--password-stdin", "--config"] {
            #expect(result.stdout.contains(option))
        }
    }

    /// The commands refuse to run without --password-stdin, so their usage must not
    /// show it as optional.
    @Test(arguments: [["operator", "add", "anna", "--name", "Anna"], ["operator", "passwd", "anna"]])
    func usageShowsPasswordStdinAsRequired(command: [String]) throws {
        let help = try SwitchboardBinary.run(Array(command.prefix(2)) + ["--help"])
        #expect(help.status == 0)
        let usage = try #require(help.stdout.split(separator: "\n").first { $0.hasPrefix("USAGE:") })
        #expect(usage.contains(" --password-stdin") && !usage.contains("[--password-stdin]"), "\(usage)")
        #expect(help.stdout.contains("Required: read the password from standard input"), "\(help.stdout)")

        let sandbox = try CLISandbox()
        defer { sandbox.remove() }
        let missing = try sandbox.run(command, stdin: "pw\n")
        #expect(missing.status == 64)
        #expect(missing.stderr.hasPrefix("Error: Missing expected argument '--password-stdin'"), "\(missing.stderr)")
        #expect(missing.stderr.contains("Usage: switchboard operator \(command[1]) <login>"), "\(missing.stderr)")
        #expect(try sandbox.run(["operator", "list"]).stdout == "no operator accounts\n")
    }
}
