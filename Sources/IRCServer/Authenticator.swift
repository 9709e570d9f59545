import NIOCore
import NIOPosix
import Storage

/// Checks operator credentials off the event loop: bcrypt is deliberately slow,
/// and the loop serves every other client meanwhile.
struct Authenticator: Sendable {
    let operators: OperatorStore
    let pool: NIOThreadPool

    func verify(login: String, password: String, on loop: any EventLoop) -> EventLoopFuture<OperatorAccount?> {
        let operators = self.operators
        return pool.runIfActive(eventLoop: loop) {
            try operators.verify(login: login, password: password)
        }
    }
}
