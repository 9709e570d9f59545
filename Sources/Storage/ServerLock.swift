import Foundation
import Synchronization

/// Keeps a second server off a database that a running server uses.
///
/// Two servers on one database would both hand out the same waiting
/// conversations and each keep its own idea of who is online, so a server
/// holds an exclusive `flock` on `<database>.lock` while it runs. The
/// `switchboard operator` commands do not take it: they are meant to run next
/// to the server. The kernel drops the lock when the process ends, even after
/// a crash, so a stale lock file never blocks a restart.
final class ServerLock: Sendable {
    private let descriptor: Mutex<Int32>

    /// Takes the lock for the database at `databasePath`, whose folder exists.
    init(databasePath: String) throws {
        let lockPath = databasePath + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StorageError.unusableLockFile(lockPath, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            Foundation.close(descriptor)
            if failure == EWOULDBLOCK { throw StorageError.databaseInUse(databasePath) }
            throw StorageError.unusableLockFile(lockPath, reason: String(cString: strerror(failure)))
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Lets another server use the database; the lock file stays, unlocked.
    func release() {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            // Unlocked explicitly: a process being spawned at this moment holds a copy of
            // the descriptor until its exec closes it, and the lock would last as long.
            flock(descriptor, LOCK_UN)
            Foundation.close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }
}
