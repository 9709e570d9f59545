import Foundation
import IRCProtocol
import NIOCore
import Storage

/// Connection registration: CAP negotiation, PASS/NICK/USER, the welcome burst.
/// No connection registers without an operator account (SASL or PASS).
extension ServerState {
    static let version = "switchboard-0.1.0"

    /// SASL and PASS travel in clear text on a plain listener: accepted only from loopback.
    func acceptsCredentials(_ client: Client) -> Bool {
        client.isTLS || client.isLoopback
    }

    // MARK: CAP

    func handleCap(_ client: Client, _ message: IRCMessage) {
        let subcommand = message.params[0].uppercased()
        let target = client.isRegistered ? client.nick : "*"
        switch subcommand {
        case "LS":
            if !client.isRegistered { client.capNegotiating = true }
            let version = message.params.count > 1 ? Int(message.params[1]) ?? 0 : 0
            client.capVersion = max(client.capVersion, version)
            if client.capVersion >= 302 {
                // Clients that speak 302 get cap-notify implicitly.
                client.caps.insert(.capNotify)
            }
            sendCapList(client, target: target, subcommand: "LS", entries: offeredCaps(for: client, withValues: client.capVersion >= 302))
        case "LIST":
            sendCapList(client, target: target, subcommand: "LIST", entries: client.caps.names)
        case "REQ":
            if !client.isRegistered { client.capNegotiating = true }
            let requested = message.params.count > 1 ? message.params[1] : ""
            var updated = client.caps
            var valid = !requested.trimmingCharacters(in: .whitespaces).isEmpty
            for item in requested.split(separator: " ") {
                let disable = item.hasPrefix("-")
                let name = disable ? String(item.dropFirst()) : String(item)
                guard let capability = Capability.byName[name], isOffered(capability, to: client) else {
                    valid = false
                    break
                }
                if disable { updated.remove(capability) } else { updated.insert(capability) }
            }
            if valid {
                client.caps = updated
                client.tagShape = TagShape(updated)
                serverMessage(client, "CAP", [target, "ACK", requested])
            } else {
                serverMessage(client, "CAP", [target, "NAK", requested])
            }
        case "END":
            guard !client.isRegistered else { return }
            client.capNegotiating = false
            tryCompleteRegistration(client)
        default:
            send(IRCMessage(source: config.serverName, command: "410", params: [target, message.params[0], "Invalid CAP command"]), to: client)
        }
    }

    private func isOffered(_ capability: Capability, to client: Client) -> Bool {
        capability != .sasl || acceptsCredentials(client)
    }

    private func offeredCaps(for client: Client, withValues: Bool) -> [String] {
        Capability.allCases.filter { isOffered($0, to: client) }.map { capability in
            if capability == .sasl && withValues { return "sasl=PLAIN" }
            return capability.name
        }
    }

    /// CAP replies split over several lines when long, with the `*` continuation of CAP 302.
    private func sendCapList(_ client: Client, target: String, subcommand: String, entries: [String]) {
        var lines: [String] = []
        var current = ""
        for entry in entries {
            if !current.isEmpty, current.utf8.count + entry.utf8.count + 1 > 400 {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? entry : " " + entry
        }
        lines.append(current)
        for (index, line) in lines.enumerated() {
            let more = index < lines.count - 1 && client.capVersion >= 302
            serverMessage(client, "CAP", more ? [target, subcommand, "*", line] : [target, subcommand, line])
        }
    }

    // MARK: PASS / NICK / USER

    func handlePass(_ client: Client, _ message: IRCMessage) {
        guard !client.isRegistered else {
            reply(client, .errAlreadyRegistered, "You may not reregister")
            return
        }
        guard acceptsCredentials(client) else {
            reply(client, .errPasswdMismatch, "Passwords are only accepted over TLS (or from this machine)")
            disconnect(client, reason: "Credentials sent over plaintext")
            return
        }
        // Passwords may contain spaces; clients that do not quote them send several params.
        let text = message.params.joined(separator: " ")
        if let colon = text.firstIndex(of: ":") {
            client.pendingPass = (String(text[..<colon]), String(text[text.index(after: colon)...]))
        } else {
            // "PASS secret": the login is the USER name (or the nick), as bouncers do.
            client.pendingPass = ("", text)
        }
    }

    func handleNick(_ client: Client, _ message: IRCMessage) {
        guard let requested = message.params.first, !requested.isEmpty else {
            reply(client, .errNoNicknameGiven, "No nickname given")
            return
        }
        guard IRCNames.isValidNick(requested, maxLength: ISupport.nickLength) else {
            reply(client, .errErroneusNickname, requested, "Erroneous nickname")
            return
        }
        let folded = casemapping.fold(requested)
        // A kept nick is 433 during registration, where clients try another nick on it
        // (irssi ends the connection on 432 there), and 432 afterwards, where clients
        // show the reason.
        let kept: Numeric = client.isRegistered ? .errErroneusNickname : .errNicknameInUse
        if reservedNicks.contains(folded) {
            reply(client, kept, requested, "Nickname is reserved for a service")
            return
        }
        // Visitors' nicks are unique only if nobody else can take one first.
        if Self.hasVisitorNickShape(requested) {
            reply(client, kept, requested, "Nicknames like Anna-17 (a name, a dash, a number) are kept for website visitors")
            return
        }
        if let holder = nicks[folded], holder !== client {
            reply(client, .errNicknameInUse, requested, "Nickname is already in use")
            return
        }
        guard client.isRegistered else {
            client.nick = requested
            tryCompleteRegistration(client)
            return
        }
        changeNick(client, to: requested)
    }

    func changeNick(_ client: Client, to newNick: String) {
        let old = client.nick
        guard old != newNick else { return }
        let oldFolded = casemapping.fold(old)
        let newFolded = casemapping.fold(newNick)
        let message = event(from: client, command: "NICK", params: [newNick])
        deliver(message, to: [client] + commonChannelPeers(of: client))
        if oldFolded != newFolded {
            whowas.record(client)
            nicks[oldFolded] = nil
            notifyMonitors(nick: old, online: false, client: client)
        }
        client.nick = newNick
        nicks[newFolded] = client
        if oldFolded != newFolded {
            notifyMonitors(nick: newNick, online: true, client: client)
            for channel in client.channels.values { channel.invited.remove(newFolded) }
        }
    }

    func handleUser(_ client: Client, _ message: IRCMessage) {
        guard !client.isRegistered else {
            reply(client, .errAlreadyRegistered, "You may not reregister")
            return
        }
        guard !message.params[3].isEmpty else {
            // An empty real name is a missing one, as for SETNAME.
            reply(client, .errNeedMoreParams, "USER", "Not enough parameters")
            return
        }
        var user = String(message.params[0].filter { $0.isASCII && !$0.isWhitespace && $0 != "@" && $0 != "!" }
            .prefix(ISupport.userLength))
        if user.isEmpty { user = "user" }
        client.user = user
        client.realname = String(message.params[3].prefix(ISupport.realnameLength))
        tryCompleteRegistration(client)
    }

    // MARK: Completing registration

    func tryCompleteRegistration(_ client: Client) {
        guard !client.isRegistered, !client.isClosing, client.nick != "*", let user = client.user,
              !client.capNegotiating, !client.authenticating else { return }
        guard let account = client.account else {
            guard let pass = client.pendingPass else {
                reply(client, .errPasswdMismatch, "An operator account is required: log in with SASL PLAIN or PASS login:password")
                disconnect(client, reason: "No credentials")
                return
            }
            client.pendingPass = nil
            if let refusal = loginRefusal(for: client) {
                reply(client, .errPasswdMismatch, refusal)
                disconnect(client, reason: "Too many failed logins")
                return
            }
            let login = pass.login.isEmpty ? user : pass.login
            client.authenticating = true
            holdInput(client)
            let bound = NIOLoopBound((self, client), eventLoop: loop)
            authenticator.verify(login: login, password: pass.password, on: loop).whenComplete { result in
                let (state, client) = bound.value
                client.authenticating = false
                guard !client.isClosing else { return }
                if case .success(let account?) = result {
                    client.account = state.shared(account)
                    state.tryCompleteRegistration(client)
                    state.resumeInput(client)
                } else {
                    if case .success(nil) = result { state.recordLoginFailure(of: client) }
                    state.reply(client, .errPasswdMismatch, "Invalid login or password")
                    state.disconnect(client, reason: "Invalid credentials")
                }
            }
            return
        }
        let folded = casemapping.fold(client.nick)
        if let holder = nicks[folded], holder !== client {
            reply(client, .errNicknameInUse, client.nick, "Nickname is already in use")
            client.nick = "*"
            return
        }
        nicks[folded] = client
        accountConnections[account.login.lowercased(), default: []].append(client)
        client.isRegistered = true
        client.releaseHandshake()
        client.bot = account.isBot
        maxRegistered = max(maxRegistered, nicks.count)
        sendWelcome(client)
        notifyMonitors(nick: client.nick, online: true, client: client)
        rejoinConversations(client)
        if account.isBot { client.pendingBotAssignment = 2 }
        logger.info("operator connected", metadata: ["account": "\(account.login)", "nick": "\(client.nick)", "address": "\(client.ipAddress)"])
    }

    private func sendWelcome(_ client: Client) {
        if !client.loggedInSent, let account = client.account {
            sendLoggedIn(client, account: account.login)
        }
        reply(client, .rplWelcome, "Welcome to the \(config.network) IRC Network \(client.hostmask)")
        reply(client, .rplYourHost, "Your host is \(config.serverName), running version \(Self.version)")
        reply(client, .rplCreated, "This server was created \(startedAt.formatted(.iso8601))")
        reply(client, .rplMyInfo, config.serverName, Self.version, "iB", "biklmnostv", "bklov")
        var tokens = isupport[...]
        while !tokens.isEmpty {
            let chunk = Array(tokens.prefix(13))
            tokens = tokens.dropFirst(13)
            reply(client, .rplISupport, parameters: chunk + ["are supported by this server"])
        }
        sendLusers(client)
        sendMotd(client)
        var modes = ""
        if client.invisible { modes += "i" }
        if client.bot { modes += "B" }
        if !modes.isEmpty {
            send(IRCMessage(source: client.nick, command: "MODE", params: [client.nick, "+" + modes]), to: client)
        }
    }

    func sendLoggedIn(_ client: Client, account: String) {
        client.loggedInSent = true
        reply(client, .rplLoggedIn, client.hostmask, account, "You are now logged in as \(account)")
    }

    func sendLusers(_ client: Client) {
        let users = nicks.count
        let invisible = nicks.values.filter(\.invisible).count
        let unknown = clients.count - users
        reply(client, .rplLUserClient, "There are \(users - invisible) users and \(invisible) invisible on 1 servers")
        reply(client, .rplLUserOp, "0", "operator(s) online")
        if unknown > 0 { reply(client, .rplLUserUnknown, String(unknown), "unknown connection(s)") }
        reply(client, .rplLUserChannels, String(channels.count), "channels formed")
        reply(client, .rplLUserMe, "I have \(users) clients and 0 servers")
        reply(client, .rplLocalUsers, String(users), String(maxRegistered), "Current local users \(users), max \(maxRegistered)")
        reply(client, .rplGlobalUsers, String(users), String(maxRegistered), "Current global users \(users), max \(maxRegistered)")
    }

    func sendMotd(_ client: Client) {
        guard !config.motd.isEmpty else {
            reply(client, .errNoMotd, "MOTD File is missing")
            return
        }
        reply(client, .rplMotdStart, "- \(config.serverName) Message of the day - ")
        for line in config.motd { reply(client, .rplMotd, "- " + line) }
        reply(client, .rplEndOfMotd, "End of /MOTD command.")
    }

    // MARK: PING / PONG / QUIT

    func handlePing(_ client: Client, _ message: IRCMessage) {
        guard let token = message.params.first else {
            reply(client, .errNoOrigin, "No origin specified")
            return
        }
        serverMessage(client, "PONG", [config.serverName, token])
    }

    func handlePong(_ client: Client, _ message: IRCMessage) {
        // The PING was answered when the line arrived (`received`: any line shows the client
        // is alive); a PONG without a token is still an error to report.
        if message.params.first?.isEmpty ?? true {
            reply(client, .errNoOrigin, "No origin specified")
        }
    }

    func handleQuit(_ client: Client, _ message: IRCMessage) {
        let text = message.params.first.map { "Quit: " + $0 } ?? "Quit"
        disconnect(client, reason: text)
    }
}
