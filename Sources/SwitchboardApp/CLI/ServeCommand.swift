import ArgumentParser
import Logging

/// `switchboard serve [--config PATH] [--log-level LEVEL]`: runs the server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server (the default when no subcommand is given)."
    )

    @OptionGroup var config: ConfigOptions

    @Option(name: .customLong("log-level"), help: "The least severe messages to log.")
    var logLevel: LogLevel = .info

    enum LogLevel: String, ExpressibleByArgument, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        var level: Logger.Level {
            switch self {
            case .trace: .trace
            case .debug: .debug
            case .info: .info
            case .notice: .notice
            case .warning: .warning
            case .error: .error
            case .critical: .critical
            }
        }
    }

    func run() async throws {
        let configuration = try config.load()
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "switchboard")
        logger.logLevel = level
        logger.info("starting", metadata: ["config": "\(config.path)"])
        try await SwitchboardRuntime.serve(config: configuration, logger: logger)
    }
}
