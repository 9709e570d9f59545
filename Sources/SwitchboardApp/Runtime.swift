import Foundation
import IRCServer
import LiveChat
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import Storage
import Synchronization
import UnixSignals
import WebBridge

/// Entry point of `switchboard serve`.
public enum SwitchboardRuntime {
    public static func serve(config: SwitchboardConfig, logger: Logger) async throws {
        // Trapped before anything starts: a signal that comes while the server is still
        // opening its database or binding its ports stops it cleanly once it is up,
        // instead of killing it half-started. A hang-up (the terminal closed) stops the
        // server as cleanly as SIGTERM.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        let server = try SwitchboardServer(config: config, logger: logger)
        try await server.run(until: signals)
    }
}

/// One whole Switchboard: database, IRC listeners and the web bridge, started and
/// stopped together. The CLI runs one; tests start one on port 0.
public final class SwitchboardServer: Sendable {
    public let config: SwitchboardConfig
    public let database: SwitchboardDatabase
    public let irc: IRCServer
    private let web: WebService
    private let logger: Logger
    private let webPortBox = PortBox()
    private let webReady = AsyncStream<Int>.makeStream()
    private let group = Mutex<ServiceGroup?>(nil)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    public init(config: SwitchboardConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        do {
            self.database = try SwitchboardDatabase(path: config.storagePath, asServer: true)
        } catch {
            throw CLIError("cannot open the database \(config.storagePath) (storage.path): \(error)")
        }
        var tls: TLSConfiguration?
        if config.listeners.contains(where: \.tls) {
            _ = try DevelopmentCertificate.ensure(
                certificatePath: config.tlsCertificate, keyPath: config.tlsKey,
                hostnames: [config.serverName], logger: logger)
            let configuration = try Self.tlsConfiguration(certificate: config.tlsCertificate, key: config.tlsKey)
            if case .certificate(let leaf)? = configuration.certificateChain.first {
                CertificateValidity.warn(leaf, path: config.tlsCertificate, logger: logger)
            }
            tls = configuration
        }
        let registry = PrometheusCollectorRegistry()
        let ircConfiguration = IRCServerConfiguration(
            serverName: config.serverName,
            network: config.network,
            motd: config.motd,
            contact: config.contact,
            listeners: config.listeners.map { .init(host: $0.host, port: $0.port, tls: $0.tls) },
            tls: tls,
            exempt: config.exempt.compactMap(AddressRange.init),
            connectionsPerIP: config.connectionsPerIP,
            loginFailuresPerIP: config.loginFailuresPerIP,
            loginFailureWindow: config.loginFailureWindow,
            registrationTimeout: config.registrationTimeout,
            pingInterval: config.pingInterval,
            pingTimeout: config.pingTimeout,
            sendQueue: config.sendQueue,
            floodBurst: config.floodBurst,
            floodRate: config.floodRate,
            liveChat: .init(
                languages: config.languages.compactMap(LanguageTag.init),
                inactivityTimeout: config.inactivityTimeout,
                maxSessions: config.maxSessions,
                channels: config.channels)
        )
        self.irc = IRCServer(configuration: ircConfiguration, database: database,
                             metrics: DescribedMetricsFactory(base: PrometheusMetricsFactory(registry: registry),
                                                              help: IRCServer.metricHelp),
                             logger: logger)
        let continuation = webReady.continuation
        let box = webPortBox
        let webExempt = config.exempt.compactMap(AddressRange.init)
        self.web = WebService(
            configuration: .init(
                host: config.webHost, port: config.webPort,
                allowedOrigins: config.allowedOrigins,
                maxBodyBytes: config.webMaxBodyBytes,
                conversationsPerMinute: config.webConversationsPerMinute,
                messagesPerMinute: config.webMessagesPerMinute,
                isExempt: { address in webExempt.contains { $0.contains(address) } }),
            gateway: irc.gateway, registry: registry, logger: logger,
            onRunning: { port in
                box.port.withLock { $0 = port }
                continuation.yield(port)
                continuation.finish()
            })
    }

    /// Binds everything and returns once the IRC listeners and the HTTP server accept connections.
    public func start() async throws {
        let group = try await startIRC()
        self.group.withLock { $0 = group }
        let runTask = Task { try await group.run() }
        task.withLock { $0 = runTask }
        for await _ in webReady.stream { break }
    }

    /// Runs until one of `signals` arrives (or a service fails), then shuts down
    /// cleanly; a signal that came before is acted on as soon as the server is up.
    public func run(until signals: UnixSignalsSequence) async throws {
        let group = try await startIRC()
        defer { closeDatabase() }
        let logger = self.logger
        let watcher = Task {
            for await signal in signals {
                logger.info("shutting down", metadata: ["signal": "\(signal)"])
                await group.triggerGracefulShutdown()
            }
        }
        defer { watcher.cancel() }
        try await group.run()
        logger.info("Switchboard stopped")
    }

    /// Binds the IRC listeners (so that a port in use fails here, before anything
    /// runs) and returns the group that runs the IRC server and the web bridge.
    private func startIRC() async throws -> ServiceGroup {
        try await irc.start()
        return ServiceGroup(configuration: .init(services: [.init(service: irc), .init(service: web)], logger: logger))
    }

    public func stop() async {
        let group = self.group.withLock { $0 }
        await group?.triggerGracefulShutdown()
        let runTask = task.withLock { $0 }
        _ = try? await runTask?.value
        closeDatabase()
    }

    private func closeDatabase() {
        do {
            try database.close()
        } catch {
            logger.error("could not close the database cleanly", metadata: ["error": "\(error)"])
        }
    }

    /// The server's TLS settings from the PEM files, or an error that names the file
    /// and says what is wrong with it (NIOSSL's own errors name neither).
    static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        func problem(_ path: String, _ what: String) -> String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "\(path) does not exist" }
            if isDirectory.boolValue { return "\(path) is a folder, not a PEM file" }
            guard FileManager.default.isReadableFile(atPath: path) else { return "\(path) cannot be read" }
            return "\(path) is not a PEM \(what)"
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw CLIError("tls.certificate: cannot load the certificate: \(problem(certificate, "certificate"))")
        }
        guard !chain.isEmpty else { throw CLIError("tls.certificate: \(certificate) holds no certificate") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw CLIError("tls.key: cannot load the private key: \(problem(key, "private key"))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        // TLS 1.0 and 1.1 are deprecated (RFC 8996): every IRC client still
        // maintained speaks TLS 1.2.
        configuration.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw CLIError("tls.key: the private key \(key) does not belong to the certificate \(certificate)")
        }
        return configuration
    }

    public var ircAddresses: [SocketAddress] { irc.boundAddresses }
    public var webPort: Int? { webPortBox.port.withLock { $0 } }
}

/// Where the HTTP server ended up listening (port 0 in tests becomes a real port).
private final class PortBox: Sendable {
    let port = Mutex<Int?>(nil)
}
