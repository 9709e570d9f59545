import Crypto
import Foundation
import Logging
import SwitchboardApp
import Testing
import X509

@Suite struct DevelopmentCertificateTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "switchboard-cert-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test func generatesOnceAndParsesBack() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let certificatePath = folder + "/certs/server.crt"
        let keyPath = folder + "/certs/private/server.key"

        let generated = try DevelopmentCertificate.ensure(
            certificatePath: certificatePath, keyPath: keyPath, hostnames: ["chat.example.test", "192.0.2.7"],
            logger: logger)
        #expect(generated)

        let certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
        let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(certificate.issuer == certificate.subject)

        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains(.dnsName("chat.example.test")))
        #expect(names.contains(.ipAddress(.init(contentBytes: [127, 0, 0, 1]))))
        #expect(names.contains(.ipAddress(.init(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1])))))
        #expect(names.contains(.ipAddress(.init(contentBytes: [192, 0, 2, 7]))))
        #expect(!names.contains(.dnsName("192.0.2.7")))

        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try certificate.extensions.keyUsage?.digitalSignature == true)
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.serverAuth) == true)

        let now = Date()
        #expect(certificate.notValidBefore < now)
        #expect(certificate.notValidBefore > now.addingTimeInterval(-2 * 3600))
        #expect(certificate.notValidAfter > now.addingTimeInterval(364 * 24 * 3600))
        #expect(certificate.notValidAfter < now.addingTimeInterval(366 * 24 * 3600))

        let permissions = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(permissions == 0o600)

        // Both files exist now: nothing happens, nothing changes.
        let before = try Data(contentsOf: URL(fileURLWithPath: certificatePath))
        #expect(try !DevelopmentCertificate.ensure(
            certificatePath: certificatePath, keyPath: keyPath, hostnames: [], logger: logger))
        #expect(try Data(contentsOf: URL(fileURLWithPath: certificatePath)) == before)
    }

    @Test func onlyOneFileIsAnError() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let certificatePath = folder + "/server.crt"
        let keyPath = folder + "/server.key"
        try "not a real certificate".write(toFile: certificatePath, atomically: true, encoding: .utf8)

        #expect {
            try DevelopmentCertificate.ensure(certificatePath: certificatePath, keyPath: keyPath, hostnames: [], logger: logger)
        } throws: { error in
            "\(error)".contains(keyPath)
        }
        // The existing file is left alone and no key is made.
        #expect(try String(contentsOfFile: certificatePath, encoding: .utf8) == "not a real certificate")
        #expect(!FileManager.default.fileExists(atPath: keyPath))

        try FileManager.default.removeItem(atPath: certificatePath)
        try "key".write(toFile: keyPath, atomically: true, encoding: .utf8)
        #expect(throws: DevelopmentCertificateError.self) {
            try DevelopmentCertificate.ensure(certificatePath: certificatePath, keyPath: keyPath, hostnames: [], logger: logger)
        }
    }
}
