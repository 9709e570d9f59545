import Foundation
import Logging
import NIOSSL

/// The dates of the TLS certificate, checked at start-up. Clients refuse a
/// certificate that has expired or is not valid yet, and nothing renews a real
/// certificate by itself: the log is where whoever runs the server learns of
/// it, ideally while there is still time to renew.
struct CertificateValidity {
    /// How long before its expiry a certificate is worth a warning.
    static let warningPeriod: TimeInterval = 30 * 24 * 3600

    var notValidBefore: Date
    var notValidAfter: Date

    init(notValidBefore: Date, notValidAfter: Date) {
        self.notValidBefore = notValidBefore
        self.notValidAfter = notValidAfter
    }

    init(_ certificate: NIOSSLCertificate) {
        self.init(notValidBefore: Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore)),
                  notValidAfter: Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter)))
    }

    /// What is wrong with the certificate at `path` at `now`, as a log line that
    /// names the key, the file and the date; nil when nothing is.
    func problem(path: String, now: Date) -> String? {
        let subject = "tls.certificate: the certificate \(path)"
        if now < notValidBefore {
            return "\(subject) is not valid before \(Self.text(notValidBefore)): TLS clients refuse it until then (is the clock right?)"
        }
        if now > notValidAfter {
            return "\(subject) expired on \(Self.text(notValidAfter)): TLS clients refuse it; renew it"
        }
        if notValidAfter.timeIntervalSince(now) <= Self.warningPeriod {
            let days = Int((notValidAfter.timeIntervalSince(now) / 86_400).rounded())
            let when = days == 0 ? "in less than a day" : days == 1 ? "in 1 day" : "in \(days) days"
            return "\(subject) expires on \(Self.text(notValidAfter)), \(when): renew it before then"
        }
        return nil
    }

    /// Logs a warning when the certificate at `path` has a problem at `now`.
    static func warn(_ certificate: NIOSSLCertificate, path: String, logger: Logger, now: Date = Date()) {
        if let problem = CertificateValidity(certificate).problem(path: path, now: now) {
            logger.warning("\(problem)")
        }
    }

    /// `2026-03-01T12:00:00Z`: unambiguous whatever the reader's time zone.
    static func text(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
