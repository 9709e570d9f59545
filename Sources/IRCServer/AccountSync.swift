import NIOCore
import Storage

/// Keeps connected clients in step with the operator table, which the CLI may
/// change from another process: a removed account is logged out and
/// disconnected at once (peers with account-notify see `ACCOUNT *`), its
/// conversations lose it, and edited settings reach the live connections.
/// An account removed and created again between two checks is a different
/// account (its creation time differs): it is handled as a removal.
extension ServerState {
    static let accountCheckInterval = TimeAmount.seconds(2)

    func checkAccountsIfDue(now: NIODeadline) {
        guard !accountCheckRunning, now - lastAccountCheck >= Self.accountCheckInterval else { return }
        // Someone to check: a logged-in connection, or an operator of an open conversation
        // (who may be offline when the account goes).
        guard clients.values.contains(where: { $0.account != nil })
            || conversations.values.contains(where: { !$0.record.operators.isEmpty }) else { return }
        accountCheckRunning = true
        lastAccountCheck = now
        let operators = authenticator.operators
        let bound = NIOLoopBound(self, eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) { try operators.all() }.whenComplete { result in
            let state = bound.value
            state.accountCheckRunning = false
            if case .success(let accounts) = result { state.apply(accounts: accounts) }
        }
    }

    func apply(accounts: [OperatorAccount]) {
        var byLogin: [String: OperatorAccount] = [:]
        for account in accounts { byLogin[account.login.lowercased()] = account }
        // Logins whose account was created anew since the last check, or since a connection logged in to it.
        var recreated = Set(byLogin.filter { key, account in
            knownAccounts[key].map { $0.createdAt != account.createdAt } ?? false
        }.keys)
        for client in Array(clients.values) where !client.isClosing {
            guard let account = client.account else { continue }
            let key = account.login.lowercased()
            if let current = byLogin[key] {
                if current.createdAt == account.createdAt {
                    if current != account { client.account = current }
                    continue
                }
                recreated.insert(key)
            }
            // Known until the conversations have let it go (they tell the visitor its name).
            if knownAccounts[key] == nil { knownAccounts[key] = account }
            if client.isRegistered {
                let logout = event(from: client, command: "ACCOUNT", params: ["*"])
                deliver(logout, to: ([client] + commonChannelPeers(of: client)).filter { $0.has(.accountNotify) })
            }
            // No longer the account's connection: nothing of it counts for the rule any more.
            accountConnections[key]?.removeAll { $0 === client }
            if accountConnections[key]?.isEmpty == true { accountConnections[key] = nil }
            client.account = nil
            disconnect(client, reason: "Operator account removed")
        }
        let known = conversations.values.flatMap(\.record.operators).map { $0.lowercased() } + operatorRecords.keys
        let gone = Set(known).filter { byLogin[$0] == nil || recreated.contains($0) }
        for login in gone.sorted() { forgetOperator(login) }
        knownAccounts = byLogin
    }
}
