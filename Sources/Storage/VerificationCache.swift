import Crypto
import Foundation
import Synchronization

/// Remembers successful password verifications, so that thousands of logins
/// with the same account do not each pay for a bcrypt verification.
///
/// An entry holds, for one login, an HMAC-SHA256 of the password that
/// verified (under a random key that never leaves this process, so the cache
/// holds nothing that could be checked offline) and the stored hash it was
/// verified against. It is used only while the stored hash is unchanged, so a
/// `passwd` or `remove` made by another process takes effect at the next login.
final class VerificationCache: Sendable {
    private struct Entry {
        var passwordMAC: [UInt8]
        var storedHash: String
    }

    private let key = SymmetricKey(size: .bits256)
    private let entries = Mutex<[String: Entry]>([:])

    func mac(of password: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(password.utf8), using: key))
    }

    /// Whether `passwordMAC` was verified against `storedHash` for `login` before.
    func contains(login: String, passwordMAC: [UInt8], storedHash: String) -> Bool {
        let cacheKey = login.lowercased()
        return entries.withLock { entries in
            guard let entry = entries[cacheKey] else { return false }
            if entry.storedHash != storedHash {
                // The password changed since: this entry can never match again.
                entries[cacheKey] = nil
                return false
            }
            return entry.passwordMAC == passwordMAC
        }
    }

    func insert(login: String, passwordMAC: [UInt8], storedHash: String) {
        let cacheKey = login.lowercased()
        entries.withLock { $0[cacheKey] = Entry(passwordMAC: passwordMAC, storedHash: storedHash) }
    }

    func remove(login: String) {
        let cacheKey = login.lowercased()
        _ = entries.withLock { $0.removeValue(forKey: cacheKey) }
    }
}
