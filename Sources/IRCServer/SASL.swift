import Foundation
import IRCProtocol
import NIOCore

/// SASL PLAIN (IRCv3 sasl 3.1 and 3.2). The exchange can run before the client
/// has a nick: replies then address `*`, as irssi expects.
extension ServerState {
    static let saslChunk = 400
    static let saslMaximum = 1200
    static let saslMaximumFailures = 3

    func handleAuthenticate(_ client: Client, _ message: IRCMessage) {
        let argument = message.params[0]
        if argument == "*" {
            if case .idle = client.sasl {
                reply(client, .errSaslAborted, "SASL authentication aborted")
                return
            }
            client.sasl = .idle
            reply(client, .errSaslAborted, "SASL authentication aborted")
            return
        }
        guard client.account == nil else {
            reply(client, .errSaslAlready, "You have already authenticated using SASL")
            return
        }
        guard acceptsCredentials(client) else {
            reply(client, .errSaslFail, "SASL is only available over TLS (or from this machine)")
            return
        }
        switch client.sasl {
        case .verifying:
            return
        case .idle:
            guard argument.uppercased() == "PLAIN" else {
                reply(client, .rplSaslMechs, "PLAIN", "are available SASL mechanisms")
                reply(client, .errSaslFail, "SASL authentication failed")
                return
            }
            client.sasl = .awaitingData(buffer: "")
            serverMessage(client, "AUTHENTICATE", ["+"])
        case .awaitingData(let buffer):
            var data = buffer
            if argument != "+" { data += argument }
            if data.utf8.count > Self.saslMaximum {
                client.sasl = .idle
                reply(client, .errSaslTooLong, "SASL message too long")
                return
            }
            if argument.utf8.count == Self.saslChunk {
                client.sasl = .awaitingData(buffer: data)
                return
            }
            verifyPlain(client, payload: data)
        }
    }

    private func verifyPlain(_ client: Client, payload: String) {
        guard let decoded = Data(base64Encoded: payload),
              let text = String(data: decoded, encoding: .utf8) else {
            saslFailed(client)
            return
        }
        let parts = text.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[1].isEmpty,
              parts[0].isEmpty || parts[0].lowercased() == parts[1].lowercased() else {
            saslFailed(client)
            return
        }
        if let refusal = loginRefusal(for: client) {
            saslFailed(client, reason: refusal)
            return
        }
        client.sasl = .verifying
        client.authenticating = true
        holdInput(client)
        let bound = NIOLoopBound((self, client), eventLoop: loop)
        authenticator.verify(login: parts[1], password: parts[2], on: loop).whenComplete { result in
            let (state, client) = bound.value
            client.authenticating = false
            client.sasl = .idle
            guard !client.isClosing else { return }
            if case .success(let account?) = result {
                client.account = state.shared(account)
                state.sendLoggedIn(client, account: account.login)
                state.reply(client, .rplSaslSuccess, "SASL authentication successful")
                state.tryCompleteRegistration(client)
            } else {
                if case .success(nil) = result { state.recordLoginFailure(of: client) }
                state.saslFailed(client)
                // CAP END, NICK and USER may have come while the password was checked:
                // registration waited for the answer, and without an account it is refused now.
                state.tryCompleteRegistration(client)
            }
            state.resumeInput(client)
        }
    }

    private func saslFailed(_ client: Client, reason: String = "SASL authentication failed") {
        client.sasl = .idle
        client.saslFailures += 1
        reply(client, .errSaslFail, reason)
        if client.saslFailures >= Self.saslMaximumFailures {
            disconnect(client, reason: "Too many failed login attempts")
        }
    }
}
