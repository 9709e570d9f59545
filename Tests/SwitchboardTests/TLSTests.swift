import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
@testable import SwitchboardApp
import Testing
import X509

/// The TLS listeners as a client sees them, and what the server says at start-up
/// about the certificate it serves.
@Suite("TLS listeners")
struct TLSTests {
    @Test("refuse clients that speak only TLS 1.0 or 1.1, and speak TLS 1.2 and 1.3")
    func deprecatedVersionsAreRefused() async throws {
        try await withServer(operators: []) { server in
            for version in [TLSVersion.tlsv1, .tlsv11] {
                let error = await #expect(throws: (any Error).self) {
                    try await TLSProbe.negotiatedVersion(port: server.tlsPort, minimum: .tlsv1, maximum: version)
                }
                #expect("\(error.map { "\($0)" } ?? "")".contains("PROTOCOL_VERSION"), "\(version): \(String(describing: error))")
            }
            let tls12 = try await TLSProbe.negotiatedVersion(port: server.tlsPort, minimum: .tlsv1, maximum: .tlsv12)
            #expect(tls12 == .tlsv12)
            let tls13 = try await TLSProbe.negotiatedVersion(port: server.tlsPort, minimum: .tlsv12, maximum: .tlsv13)
            #expect(tls13 == .tlsv13)
        }
    }

    /// How long from now a test certificate starts and ends being valid, and what
    /// the server must log about it (nil: nothing).
    struct ValidityCase: Sendable, CustomTestStringConvertible {
        let name: String
        let notBefore: TimeInterval
        let notAfter: TimeInterval
        let warning: (@Sendable (_ path: String, _ notBefore: String, _ notAfter: String) -> String)?
        var testDescription: String { name }
    }

    static let day: TimeInterval = 24 * 3600

    @Test("warn at start-up about a certificate that has expired, expires within 30 days or is not valid yet", arguments: [
        ValidityCase(name: "expired", notBefore: -400 * day, notAfter: -2 * day) { path, _, notAfter in
            "tls.certificate: the certificate \(path) expired on \(notAfter): TLS clients refuse it; renew it"
        },
        ValidityCase(name: "expires in 10 days", notBefore: -300 * day, notAfter: 10 * day + 3600) { path, _, notAfter in
            "tls.certificate: the certificate \(path) expires on \(notAfter), in 10 days: renew it before then"
        },
        ValidityCase(name: "not valid yet", notBefore: day, notAfter: 90 * day) { path, notBefore, _ in
            "tls.certificate: the certificate \(path) is not valid before \(notBefore): TLS clients refuse it until then (is the clock right?)"
        },
        ValidityCase(name: "valid for 31 more days", notBefore: -day, notAfter: 31 * day, warning: nil),
    ])
    func certificateDatesAreChecked(validity: ValidityCase) async throws {
        let folder = try TestCertificate.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let (notBefore, notAfter) = (now + validity.notBefore, now + validity.notAfter)
        let files = try TestCertificate.write(in: folder, organization: "Example Ltd", notBefore: notBefore, notAfter: notAfter)
        let written = try Data(contentsOf: URL(fileURLWithPath: files.certificate))
        let warnings = try await warningsServing(files)
        if let warning = validity.warning {
            let iso = ISO8601DateFormatter()
            #expect(warnings == [warning(files.certificate, iso.string(from: notBefore), iso.string(from: notAfter))])
        } else {
            #expect(warnings.isEmpty)
        }
        // A certificate the server did not generate is never replaced.
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.certificate)) == written)
    }

    @Test("an expired development certificate is replaced by a new one, with a warning")
    func expiredDevelopmentCertificateIsRenewed() async throws {
        let folder = try TestCertificate.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let expiry = now - 3 * Self.day
        let files = try TestCertificate.write(in: folder, organization: DevelopmentCertificate.organization,
                                              notBefore: now - 368 * Self.day, notAfter: expiry)
        let warnings = try await warningsServing(files)
        let renewed = try Certificate(pemEncoded: String(contentsOfFile: files.certificate, encoding: .utf8))
        #expect(renewed.notValidAfter > now + 364 * Self.day)
        let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: files.key, encoding: .utf8))
        #expect(renewed.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(try FileManager.default.attributesOfItem(atPath: files.key)[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: files.certificate + ".new"))
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix(
            "the development certificate \(files.certificate) expired on \(ISO8601DateFormatter().string(from: expiry)); generated a new one")
            == true, "\(warnings)")
    }

    /// Starts a server with the certificate and key in `files`, checks that a TLS
    /// client gets through (a warning is for whoever runs the server; clients are
    /// served all the same), and returns what the server logged as warnings or worse.
    private func warningsServing(_ files: (certificate: String, key: String)) async throws -> [String] {
        let logs = CapturedLogs()
        try await withServer(operators: [], logs: logs, configure: {
            $0.tlsCertificate = files.certificate
            $0.tlsKey = files.key
        }) { server in
            let version = try await TLSProbe.negotiatedVersion(port: server.tlsPort, minimum: .tlsv12, maximum: .tlsv13)
            #expect(version != nil)
        }
        return logs.entries(atLeast: .warning).map(\.message)
    }

    @Test("an expired development certificate without its own key beside it is left alone")
    func developmentCertificateWithAnotherKeyIsNotRenewed() throws {
        let folder = try TestCertificate.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let now = Date()
        let files = try TestCertificate.write(in: folder, organization: DevelopmentCertificate.organization,
                                              notBefore: now - 400 * Self.day, notAfter: now - Self.day)
        let otherKey = P256.Signing.PrivateKey().pemRepresentation + "\n"
        try otherKey.write(toFile: files.key, atomically: true, encoding: .utf8)
        let certificate = try Data(contentsOf: URL(fileURLWithPath: files.certificate))
        let renewed = try DevelopmentCertificate.ensure(
            certificatePath: files.certificate, keyPath: files.key, hostnames: [], logger: Logger(label: "test"))
        #expect(!renewed)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.certificate)) == certificate)
        #expect(try String(contentsOfFile: files.key, encoding: .utf8) == otherKey)
    }
}

/// Self-signed certificates with chosen dates, written as PEM files.
enum TestCertificate {
    static func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "switchboard-tls-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Writes `server.crt` (for localhost and 127.0.0.1) and `server.key` into `folder`.
    static func write(in folder: String, organization: String, notBefore: Date, notAfter: Date) throws
        -> (certificate: String, key: String)
    {
        let key = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            OrganizationName(organization)
            CommonName("localhost")
        }
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(.init(contentBytes: [127, 0, 0, 1]))])
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: certificateKey.publicKey,
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: certificateKey)
        let paths = (certificate: folder + "/server.crt", key: folder + "/server.key")
        try (certificate.serializeAsPEM().pemString + "\n").write(toFile: paths.certificate, atomically: true, encoding: .utf8)
        try (key.pemRepresentation + "\n").write(toFile: paths.key, atomically: true, encoding: .utf8)
        return paths
    }
}

/// A TLS client that goes as far as the handshake.
enum TLSProbe {
    /// Connects offering only the versions from `minimum` to `maximum`; returns
    /// the version the server chose, or throws why the handshake failed.
    static func negotiatedVersion(port: Int, minimum: TLSVersion, maximum: TLSVersion) async throws -> TLSVersion? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.minimumTLSVersion = minimum
        configuration.maximumTLSVersion = maximum
        let context = try NIOSSLContext(configuration: configuration)
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.any().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(handshake: handshake))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        try await handshake.futureResult.get()
        return try await channel.nioSSL_tlsVersion().get()
    }

    /// Completes `handshake` when the TLS handshake ends, either way.
    private final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let handshake: EventLoopPromise<Void>

        init(handshake: EventLoopPromise<Void>) { self.handshake = handshake }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event { handshake.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            handshake.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            handshake.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }
}
