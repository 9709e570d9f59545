import NIOCore
import Synchronization

/// A value left for a later step of the same HTTP connection (the upgrade
/// check leaves something for the code that runs once the upgrade is done),
/// keyed by the connection and forgotten when it closes.
final class PerConnection<Value: Sendable>: Sendable {
    private let values = Mutex<[ObjectIdentifier: Value]>([:])

    func put(_ value: Value, on channel: any Channel) {
        let key = ObjectIdentifier(channel)
        values.withLock { $0[key] = value }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.values.withLock { $0.removeValue(forKey: key) }
        }
    }

    func take(for channel: any Channel) -> Value? {
        values.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}
