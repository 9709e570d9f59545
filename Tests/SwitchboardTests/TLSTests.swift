import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing

/// The TLS listeners as a client sees them.
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
