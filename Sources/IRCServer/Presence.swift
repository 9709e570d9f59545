import Foundation
import IRCProtocol

/// AWAY, SETNAME, MONITOR and the administrators' CHGHOST.
extension ServerState {
    // MARK: AWAY

    func handleAway(_ client: Client, _ message: IRCMessage) {
        let text = message.params.first.map { IRCText.truncated($0, bytes: ISupport.awayLength) } ?? ""
        let wasAway = client.awayMessage != nil
        if text.isEmpty {
            client.awayMessage = nil
            reply(client, .rplUnAway, "You are no longer marked as being away")
        } else {
            client.awayMessage = text
            reply(client, .rplNowAway, "You have been marked as being away")
        }
        guard wasAway || client.awayMessage != nil else { return }
        let params = client.awayMessage.map { [$0] } ?? []
        let notice = event(from: client, command: "AWAY", params: params)
        deliver(notice, to: commonChannelPeers(of: client).filter { $0.has(.awayNotify) })
        awayChanged(client)
    }

    /// Coming back from away may make an operator available for a waiting conversation.
    func awayChanged(_ client: Client) {
        if client.awayMessage == nil { assignWaiting() }
    }

    // MARK: SETNAME

    func handleSetname(_ client: Client, _ message: IRCMessage) {
        let realname = message.params[0]
        guard !realname.isEmpty, realname.utf8.count <= ISupport.realnameLength else {
            sendFail(client, command: "SETNAME", code: "INVALID_REALNAME",
                     description: "Realname must be 1 to \(ISupport.realnameLength) bytes", always: true)
            return
        }
        client.realname = realname
        let change = event(from: client, command: "SETNAME", params: [realname])
        // The spec: never sent to a client without the capability, the sender included.
        var recipients = commonChannelPeers(of: client).filter { $0.has(.setname) }
        if client.has(.setname) { recipients.append(client) }
        deliver(change, to: recipients)
    }

    // MARK: MONITOR

    func handleMonitor(_ client: Client, _ message: IRCMessage) {
        let subcommand = message.params[0]
        let targets = message.params.count > 1
            ? message.params[1].split(separator: ",").map(String.init).filter { !$0.isEmpty } : []
        if ["+", "-"].contains(subcommand), targets.isEmpty {
            reply(client, .errNeedMoreParams, "MONITOR", "Not enough parameters")
            return
        }
        switch subcommand {
        case "+":
            var online: [String] = []
            var offline: [String] = []
            var answered: Set<String> = []
            for (index, nick) in targets.enumerated() {
                guard IRCNames.isValidNick(nick, maxLength: ISupport.nickLength) else { continue }
                let folded = casemapping.fold(nick)
                // "bob,BOB" names one nick: one answer.
                guard answered.insert(folded).inserted else { continue }
                if !client.monitoring.contains(folded) {
                    guard client.monitoring.count < ISupport.monitorLimit else {
                        reply(client, .errMonListFull, String(ISupport.monitorLimit),
                              targets[index...].joined(separator: ","), "Monitor list is full.")
                        break
                    }
                    client.monitoring.insert(folded)
                    monitors[folded, default: []].insert(client)
                }
                if let hostmask = onlineHostmask(of: nick) { online.append(hostmask) } else { offline.append(nick) }
            }
            for line in pack(online, fixed: [client.nick], numeric: .rplMonOnline) {
                reply(client, .rplMonOnline, line.replacingOccurrences(of: " ", with: ","))
            }
            for line in pack(offline, fixed: [client.nick], numeric: .rplMonOffline) {
                reply(client, .rplMonOffline, line.replacingOccurrences(of: " ", with: ","))
            }
        case "-":
            for nick in targets {
                let folded = casemapping.fold(nick)
                client.monitoring.remove(folded)
                monitors[folded]?.remove(client)
                if monitors[folded]?.isEmpty == true { monitors[folded] = nil }
            }
        case "C", "c":
            for folded in client.monitoring {
                monitors[folded]?.remove(client)
                if monitors[folded]?.isEmpty == true { monitors[folded] = nil }
            }
            client.monitoring.removeAll()
        case "L", "l":
            let names = client.monitoring.sorted()
            for line in pack(names, fixed: [client.nick], numeric: .rplMonList) {
                reply(client, .rplMonList, line.replacingOccurrences(of: " ", with: ","))
            }
            reply(client, .rplEndOfMonList, "End of MONITOR list")
        case "S", "s":
            var online: [String] = []
            var offline: [String] = []
            for folded in client.monitoring.sorted() {
                if let hostmask = onlineHostmask(of: folded) { online.append(hostmask) } else { offline.append(folded) }
            }
            for line in pack(online, fixed: [client.nick], numeric: .rplMonOnline) {
                reply(client, .rplMonOnline, line.replacingOccurrences(of: " ", with: ","))
            }
            for line in pack(offline, fixed: [client.nick], numeric: .rplMonOffline) {
                reply(client, .rplMonOffline, line.replacingOccurrences(of: " ", with: ","))
            }
        default:
            reply(client, .errUnknownCommand, "MONITOR", "Unknown MONITOR subcommand")
        }
    }

    /// For MONITOR: the nick's hostmask when someone (or the LiveChat service) has it.
    private func onlineHostmask(of nick: String) -> String? {
        isService(nick) ? serviceHostmask : client(named: nick)?.hostmask
    }

    // MARK: CHGHOST

    /// Administrators (accounts added with --admin) may change a user's displayed
    /// user and host, e.g. to give a bot a recognisable host. Clients with chghost
    /// see a CHGHOST; the others see the user quit and rejoin, as the spec suggests.
    func handleChghost(_ client: Client, _ message: IRCMessage) {
        guard client.account?.isAdmin == true else {
            reply(client, .errNoPrivileges, "Permission Denied - only administrators may use CHGHOST")
            return
        }
        guard let target = self.client(named: message.params[0]) else {
            reply(client, .errNoSuchNick, message.params[0], "No such nick/channel")
            return
        }
        let newUser = message.params.count > 2 ? message.params[1] : (target.user ?? "*")
        let newHost = message.params.count > 2 ? message.params[2] : message.params[1]
        let validHost = !newHost.isEmpty && newHost.utf8.count <= ISupport.hostLength && !newHost.hasPrefix(":")
            && newHost.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-./:".contains($0)) }
        let validUser = IRCNames.isValidUser(newUser, maxLength: ISupport.userLength)
        guard validHost, validUser else {
            sendFail(client, command: "CHGHOST", code: "INVALID_HOST", context: [newHost],
                     description: "Invalid user or host", always: true)
            return
        }
        let change = event(from: target, command: "CHGHOST", params: [newUser, newHost])
        let peers = commonChannelPeers(of: target)
        let quit = event(from: target, command: "QUIT", params: ["Changing host"])
        deliver(change, to: ([target] + peers).filter { $0.has(.chghost) })
        deliver(quit, to: peers.filter { !$0.has(.chghost) })
        target.user = newUser
        target.host = newHost
        for channel in target.channels.values {
            let rejoining: (Client) -> Bool = { $0 !== target && !$0.has(.chghost) }
            announceJoin(target, to: channel, including: rejoining)
            // The rejoin lost the member's status in those clients: the server gives it back.
            let modes = channel.members[target] ?? []
            let letters = (modes.contains(.op) ? "o" : "") + (modes.contains(.voice) ? "v" : "")
            if !letters.isEmpty {
                let restore = serverEvent(command: "MODE", params: [channel.name, "+" + letters] + letters.map { _ in target.nick })
                deliver(restore, to: channel.members.keys.lazy.filter(rejoining))
            }
        }
        serverMessage(client, "NOTICE", [client.nick, "Changed the host of \(target.nick) to \(newUser)@\(newHost)"])
    }
}
