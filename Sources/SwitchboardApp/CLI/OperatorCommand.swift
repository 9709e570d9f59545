import ArgumentParser
import Foundation
import Storage

/// `switchboard operator add|list|remove|passwd`: operator accounts.
struct OperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Manage operator accounts (works whether or not the server runs).",
        subcommands: [Add.self, List.self, Remove.self, Passwd.self]
    )

    static func openDatabase(_ config: SwitchboardConfig) throws -> SwitchboardDatabase {
        do {
            return try SwitchboardDatabase(path: config.storagePath)
        } catch {
            throw CLIError("cannot open the database \(config.storagePath): \(error)")
        }
    }

    /// Runs `body` with the database, closing it afterwards.
    static func withDatabase<T>(_ config: SwitchboardConfig, _ body: (SwitchboardDatabase) throws -> T) throws -> T {
        let database = try openDatabase(config)
        defer { try? database.close() }
        return try body(database)
    }

    // MARK: add

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an operator account; the password is read from standard input.",
            discussion: """
                Example:
                  printf '%s\\n' "$PASSWORD" | switchboard operator add mitchell --name "Mitchell Admin" --lang en --lang fr --password-stdin
                """
        )

        @Argument(help: ArgumentHelp("The login: letters, digits, '-', '_', '.' (at most 32).", valueName: "login"))
        var login: String

        @Option(name: .customLong("name"), help: ArgumentHelp("The operator's full name.", valueName: "full name"))
        var name: String

        @Option(
            name: .customLong("chat-name"),
            help: ArgumentHelp("The Online Chat Name visitors see (default: the full name).", valueName: "name"))
        var chatName: String?

        @Option(
            name: .customLong("lang"),
            help: ArgumentHelp(
                "A language the operator chats in, among the config's [livechat] languages; repeat it, main language first (default: the server's first language).",
                valueName: "code"))
        var languages: [String] = []

        @Flag(help: "The account is a bot.")
        var bot = false

        @Flag(help: "The account is an administrator.")
        var admin = false

        @Flag var passwordSource: PasswordSource

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let configuration = try config.load()
            let languages = try enabledLanguages(languages, config: configuration)
            try OperatorStore.validate(login: login)
            try withDatabase(configuration) { database in
                if try database.operators.find(login: login) != nil {
                    throw StorageError.duplicateLogin(login)
                }
                let password = try PasswordInput.read()
                let account = try database.operators.add(
                    login: login, displayName: name, chatName: chatName, languages: languages,
                    isBot: bot, isAdmin: admin, password: password)
                print("added operator \(account.login)")
            }
        }
    }

    // MARK: list

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the operator accounts.")

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let configuration = try config.load()
            let accounts = try withDatabase(configuration) { try $0.operators.all() }
            print(OperatorTable.render(accounts), terminator: "")
        }
    }

    // MARK: remove

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an operator account.")

        @Argument(help: ArgumentHelp("The login (case-insensitive).", valueName: "login"))
        var login: String

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let configuration = try config.load()
            let removed = try withDatabase(configuration) { database in
                guard let account = try database.operators.find(login: login) else {
                    throw StorageError.unknownLogin(login)
                }
                try database.operators.remove(login: account.login)
                return account
            }
            print("removed operator \(removed.login)")
        }
    }

    // MARK: passwd

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an operator's password; the new password is read from standard input.")

        @Argument(help: ArgumentHelp("The login (case-insensitive).", valueName: "login"))
        var login: String

        @Flag var passwordSource: PasswordSource

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let configuration = try config.load()
            try withDatabase(configuration) { database in
                guard let account = try database.operators.find(login: login) else {
                    throw StorageError.unknownLogin(login)
                }
                let password = try PasswordInput.read()
                try database.operators.setPassword(login: account.login, password: password)
                print("changed the password of operator \(account.login)")
            }
        }
    }
}

/// Checks `--lang` codes against the languages enabled in the config,
/// returning them in the config's spelling, without duplicates. `--lang fr,en`
/// is accepted as well as `--lang fr --lang en`. No code means the server's
/// first language.
func enabledLanguages(_ codes: [String], config: SwitchboardConfig) throws -> [String] {
    var result: [String] = []
    let requested = codes.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        .map { $0.trimmingCharacters(in: .whitespaces) }
    for code in requested {
        guard !code.isEmpty else {
            throw CLIError("empty language code in --lang; enabled languages: \(config.languages.joined(separator: ", "))")
        }
        guard let enabled = config.enabledLanguage(code) else {
            throw CLIError(
                "unknown or disabled language '\(StorageError.shown(code))'; enabled languages: \(config.languages.joined(separator: ", "))")
        }
        if !result.contains(enabled) { result.append(enabled) }
    }
    if result.isEmpty, let first = config.languages.first { result = [first] }
    return result
}

/// The `operator list` table.
enum OperatorTable {
    static func render(_ accounts: [OperatorAccount]) -> String {
        guard !accounts.isEmpty else { return "no operator accounts\n" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"

        let header = ["LOGIN", "NAME", "CHAT NAME", "LANGUAGES", "FLAGS", "CREATED"]
        let rows = accounts.map { account -> [String] in
            var flags: [String] = []
            if account.isBot { flags.append("bot") }
            if account.isAdmin { flags.append("admin") }
            return [
                account.login,
                account.displayName,
                account.chatName ?? "-",
                account.languages.isEmpty ? "-" : account.languages.joined(separator: ","),
                flags.isEmpty ? "-" : flags.joined(separator: ","),
                formatter.string(from: account.createdAt),
            ]
        }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var output = ""
        for row in [header] + rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            output += cells.joined(separator: "  ") + "\n"
        }
        return output
    }
}
