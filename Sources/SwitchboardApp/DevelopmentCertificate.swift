import Crypto
import Foundation
import Logging
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A self-signed certificate so that a fresh checkout can serve IRC over TLS
/// at once. Clients will not trust it: replace it with a real certificate
/// (for example from Let's Encrypt) before going live.
public enum DevelopmentCertificate {
    /// Makes sure a certificate and its key exist.
    ///
    /// - If both files exist, does nothing and returns `false`, unless they are
    ///   an expired development certificate and its key: then renews them
    ///   (see `renewIfExpired`) and returns `true`.
    /// - If neither exists, generates a self-signed P-256 certificate for
    ///   `localhost`, `hostnames`, 127.0.0.1 and ::1, valid for one year,
    ///   writes both as PEM (the key readable by its owner only), creating
    ///   the folders, logs a warning and returns `true`.
    /// - If only one of them exists, throws: something is wrong, and
    ///   overwriting either file could destroy a real certificate or key.
    @discardableResult
    public static func ensure(
        certificatePath: String,
        keyPath: String,
        hostnames: [String],
        logger: Logger,
        now: Date = Date()
    ) throws -> Bool {
        let fileManager = FileManager.default
        let hasCertificate = fileManager.fileExists(atPath: certificatePath)
        let hasKey = fileManager.fileExists(atPath: keyPath)
        switch (hasCertificate, hasKey) {
        case (true, true):
            return try renewIfExpired(certificatePath: certificatePath, keyPath: keyPath, hostnames: hostnames,
                                      logger: logger, now: now)
        case (true, false):
            throw DevelopmentCertificateError(
                "the TLS certificate \(certificatePath) exists but its key \(keyPath) does not; put the key there or remove the certificate to get a development certificate"
            )
        case (false, true):
            throw DevelopmentCertificateError(
                "the TLS key \(keyPath) exists but its certificate \(certificatePath) does not; put the certificate there or remove the key to get a development certificate"
            )
        case (false, false):
            break
        }

        let (certificatePEM, keyPEM) = try generate(hostnames: hostnames, now: now)
        try createParentFolder(of: certificatePath)
        try createParentFolder(of: keyPath)
        try write(keyPEM, to: keyPath, mode: 0o600)
        try write(certificatePEM, to: certificatePath, mode: 0o644)
        logger.warning(
            "generated a self-signed development certificate; replace it with a real one before going live",
            metadata: [
                "certificate": "\(certificatePath)",
                "key": "\(keyPath)",
                "names": "\(names(hostnames).joined(separator: ", "))",
            ])
        return true
    }

    /// The DNS names the certificate covers: `localhost` and the host names
    /// given, without duplicates and without IP addresses (those go in as IPs).
    static func names(_ hostnames: [String]) -> [String] {
        var names = ["localhost"]
        for name in hostnames {
            let name = name.lowercased()
            guard !name.isEmpty, !names.contains(name), !ConfigNetwork.isIPv4(name), !ConfigNetwork.isIPv6(name)
            else { continue }
            names.append(name)
        }
        return names
    }

    /// The organization in the subject of every development certificate: how the
    /// server tells one it generated from a real one.
    static let organization = "Switchboard development certificate"

    /// A new self-signed certificate and its private key, both as PEM.
    static func generate(hostnames: [String], now: Date = Date()) throws -> (certificate: String, key: String) {
        let privateKey = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(privateKey)
        let dnsNames = names(hostnames)
        let subject = try DistinguishedName {
            OrganizationName(organization)
            CommonName(dnsNames.count > 1 ? dnsNames[1] : "localhost")
        }

        var alternativeNames: [GeneralName] = dnsNames.map { .dnsName($0) }
        // IP addresses, in network byte order: 127.0.0.1, ::1, then any given as host names.
        // (`.init(contentBytes:)` is SwiftASN1's ASN1OctetString, reached through X509.)
        let loopbackV6 = [UInt8](repeating: 0, count: 15) + [1]
        for bytes in [[127, 0, 0, 1], loopbackV6] + hostnames.compactMap(ipBytes) {
            let entry = GeneralName.ipAddress(.init(contentBytes: ArraySlice(bytes)))
            if !alternativeNames.contains(entry) { alternativeNames.append(entry) }
        }

        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(alternativeNames)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: certificateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(365 * 24 * 3600),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: certificateKey
        )
        return (try certificate.serializeAsPEM().pemString + "\n", privateKey.pemRepresentation + "\n")
    }

    private static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    private static func createParentFolder(of path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        guard !folder.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// Writes a new file with `mode` from the start (no window where a key
    /// would be readable by others), refusing to replace an existing file.
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else {
            throw DevelopmentCertificateError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        } catch {
            throw DevelopmentCertificateError("cannot write \(path): \(error)")
        }
    }
}

/// Why a development certificate could not be set up.
public struct DevelopmentCertificateError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
