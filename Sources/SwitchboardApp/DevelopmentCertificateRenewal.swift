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

extension DevelopmentCertificate {
    /// Replaces an expired development certificate and its key with new ones,
    /// logs a warning and returns `true`; leaves anything else alone and returns
    /// `false`.
    ///
    /// A development certificate lasts a year, and a checkout that serves for
    /// longer would then serve it expired. Clients are told not to verify it
    /// anyway, so a new one costs nothing, unless a client pinned the old one,
    /// which the warning says. Only a file that is exactly one certificate this
    /// server generated (self-signed, `organization` in its subject), with its
    /// own P-256 key beside it, counts: a real certificate is never touched.
    static func renewIfExpired(
        certificatePath: String, keyPath: String, hostnames: [String], logger: Logger, now: Date
    ) throws -> Bool {
        guard let expiry = expiredDevelopmentCertificate(certificatePath: certificatePath, keyPath: keyPath, now: now)
        else { return false }
        let (certificatePEM, keyPEM) = try generate(hostnames: hostnames, now: now)
        try replace(keyPath, with: keyPEM, mode: 0o600)
        try replace(certificatePath, with: certificatePEM, mode: 0o644)
        logger.warning(
            "the development certificate \(certificatePath) expired on \(CertificateValidity.text(expiry)); generated a new one (a client that pinned the old one must accept the new one)",
            metadata: ["certificate": "\(certificatePath)", "key": "\(keyPath)"])
        return true
    }

    /// The expiry date of the certificate at `certificatePath` when it is an
    /// expired development certificate whose key is at `keyPath`; nil otherwise.
    private static func expiredDevelopmentCertificate(certificatePath: String, keyPath: String, now: Date) -> Date? {
        guard let certificateText = try? String(contentsOfFile: certificatePath, encoding: .utf8),
              let certificate = try? Certificate(pemEncoded: certificateText),
              certificate.notValidAfter < now,
              certificate.issuer == certificate.subject,
              certificate.subject.contains(where: { name in
                  name.contains { $0.type == .RDNAttributeType.organizationName && String($0.value) == organization }
              }),
              let keyText = try? String(contentsOfFile: keyPath, encoding: .utf8),
              let key = try? P256.Signing.PrivateKey(pemRepresentation: keyText),
              certificate.publicKey == Certificate.PublicKey(key.publicKey)
        else { return nil }
        return certificate.notValidAfter
    }

    /// Writes a new file beside `path`, then renames it over `path`, so that the
    /// file is at every moment either the old one or the whole new one.
    private static func replace(_ path: String, with text: String, mode: mode_t) throws {
        let next = path + ".new"
        unlink(next)  // left behind by an interrupted renewal
        try write(text, to: next, mode: mode)
        guard rename(next, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(next)
            throw DevelopmentCertificateError("cannot replace \(path): \(reason)")
        }
    }
}
