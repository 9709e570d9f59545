import ArgumentParser

/// The `switchboard` command line: `serve` (the default) runs the server,
/// `operator add|list|remove|passwd` manages operator accounts in the same
/// database, whether or not the server runs.
public struct SwitchboardCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A live chat server that speaks IRC.",
        discussion: """
            Website visitors chat through the web bridge; support operators answer
            from their IRC client. Without a subcommand, runs the server (serve).
            """,
        subcommands: [ServeCommand.self, OperatorCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}

    /// Parses the command line and runs the chosen subcommand, from an
    /// asynchronous context.
    ///
    /// `main.swift` calls `run(arguments:)` instead: from its top-level code,
    /// Swift resolves `main()` to ArgumentParser's synchronous
    /// `ParsableCommand.main()`, which refuses to run an asynchronous root
    /// command.
    public static func main() async {
        await run(arguments: nil)
    }

    /// Parses `arguments` (the process's arguments when `nil`) and runs the
    /// chosen subcommand; exits the process on error.
    public static func run(arguments: [String]?) async {
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `--config PATH`, shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp("The configuration file.", valueName: "path"))
    var path: String = SwitchboardConfig.defaultPath

    func load() throws -> SwitchboardConfig {
        try SwitchboardConfig.load(path: path)
    }
}

/// A failure to report as it is: `Error: <message>` on stderr, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
