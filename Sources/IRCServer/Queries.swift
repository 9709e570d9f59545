import Foundation
import IRCProtocol

/// WHO (with WHOX), WHOIS, WHOWAS, ISON, USERHOST, VERSION, TIME, MOTD.
extension ServerState {
    // MARK: WHO

    func handleWho(_ client: Client, _ message: IRCMessage) {
        let mask = message.params.first ?? "*"
        // The second parameter is flags, then WHOX fields after a '%': "o", "%tnf,42", "o%nf".
        let options = message.params.count > 1 ? message.params[1] : ""
        let flags = options.prefix { $0 != "%" }
        var whox: (fields: Set<Character>, token: String?)?
        if let percent = options.firstIndex(of: "%") {
            let spec = options[options.index(after: percent)...]
            let parts = spec.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            whox = (Set(parts.first ?? ""), parts.count > 1 ? String(parts[1].prefix(3)) : nil)
        }
        if flags.contains("o") {
            // Only IRC operators, and this server has none (LUSERS says 0): nobody is listed.
        } else if IRCNames.isChannelTarget(mask) {
            if let channel = channel(named: mask) {
                let isMember = channel.members[client] != nil
                if isMember || !channel.modes.secret {
                    for (member, modes) in channel.members.sorted(by: { $0.key.nick < $1.key.nick })
                    where isMember || !member.invisible {
                        sendWhoEntry(client, member: member, channel: channel, modes: modes, whox: whox)
                    }
                }
            }
        } else {
            // A full mask matches nick!user@host; anything else is a glob on the nick,
            // the host or the real name.
            let fullMask = mask.contains("!") || mask.contains("@") ? IRCMask(mask, casemapping: casemapping) : nil
            let glob = IRCGlob(mask, casemapping: casemapping)
            // An exact nick finds its user even when invisible, as WHOIS does; +i hides
            // users from searches, not from someone who already knows the nick.
            let exactNick = fullMask == nil ? nicks[casemapping.fold(mask)] : nil
            for member in nicks.values.sorted(by: { $0.nick < $1.nick }) {
                let visible = member === client || member === exactNick || !member.invisible || sharesChannel(client, member)
                guard visible else { continue }
                let matches = mask == "*" || mask == "0"
                    || (fullMask.map { $0.matches(member.hostmask) }
                        ?? (glob.matches(member.nick) || glob.matches(member.host) || glob.matches(member.realname)))
                guard matches else { continue }
                let shared = member.channels.values.first { $0.members[client] != nil }
                sendWhoEntry(client, member: member, channel: shared, modes: shared?.members[member], whox: whox)
            }
            if fullMask == nil, isService(mask) {
                // The LiveChat service is found by its nick, as WHOIS, ISON and MONITOR find it.
                sendWhoEntry(client, WhoSubject(nick: LiveChatService.nick, user: LiveChatService.user, host: config.serverName,
                                                realname: LiveChatService.realname, flags: "HB", ipAddress: "255.255.255.255",
                                                idleSeconds: 0, account: nil),
                             channelName: "*", whox: whox)
            }
        }
        reply(client, .rplEndOfWho, mask, "End of WHO list")
    }

    /// What a WHO reply says of a user: a client, or the LiveChat service.
    private struct WhoSubject {
        var nick: String
        var user: String
        var host: String
        var realname: String
        var flags: String
        var ipAddress: String
        var idleSeconds: Int
        var account: String?
    }

    private func sharesChannel(_ a: Client, _ b: Client) -> Bool {
        a.channels.values.contains { $0.members[b] != nil }
    }

    private func sendWhoEntry(_ client: Client, member: Client, channel: IRCChannel?, modes: MemberModes?,
                              whox: (fields: Set<Character>, token: String?)?) {
        var flags = member.awayMessage == nil ? "H" : "G"
        if member.bot { flags += "B" }
        if let modes { flags += modes.prefixes(all: client.has(.multiPrefix)) }
        let subject = WhoSubject(nick: member.nick, user: member.user ?? "*", host: member.host, realname: member.realname,
                                 flags: flags, ipAddress: member === client ? member.ipAddress : "255.255.255.255",
                                 idleSeconds: Int(Date().timeIntervalSince(member.lastActivityDate)), account: member.accountName)
        sendWhoEntry(client, subject, channelName: channel?.name ?? "*", whox: whox)
    }

    private func sendWhoEntry(_ client: Client, _ member: WhoSubject, channelName: String,
                              whox: (fields: Set<Character>, token: String?)?) {
        guard let whox else {
            reply(client, .rplWhoReply, channelName, member.user, member.host, config.serverName,
                  member.nick, member.flags, "0 \(member.realname)")
            return
        }
        // WHOX fields always come back in this order, whatever order they were asked in.
        var params: [String] = []
        for field in "tcuihsnfdlaor" where whox.fields.contains(field) {
            switch field {
            case "t": params.append(whox.token ?? "0")
            case "c": params.append(channelName)
            case "u": params.append(member.user)
            case "i": params.append(member.ipAddress)
            case "h": params.append(member.host)
            case "s": params.append(config.serverName)
            case "n": params.append(member.nick)
            case "f": params.append(member.flags)
            case "d": params.append("0")
            case "l": params.append(String(member.idleSeconds))
            case "a": params.append(member.account ?? "0")
            case "o": params.append("n/a")
            case "r": params.append(member.realname)
            default: break
            }
        }
        reply(client, .rplWhoSpcRpl, parameters: params)
    }

    // MARK: WHOIS

    func handleWhois(_ client: Client, _ message: IRCMessage) {
        // WHOIS [server] nick: the server may also be given as the nick itself ("WHOIS bob bob").
        if message.params.count > 1, !isThisServer(message.params[0], orNickOnIt: true) {
            replyNoSuchServer(client, message.params[0])
            return
        }
        let nick = message.params.count > 1 ? message.params[1] : message.params[0]
        let targets = nick.split(separator: ",").map(String.init)
        guard !targets.isEmpty else {
            reply(client, .errNoNicknameGiven, "No nickname given")
            return
        }
        guard targets.count <= ISupport.whoisTargets else {
            reply(client, .errTooManyTargets, nick, "Too many targets")
            return
        }
        // Each nick gets its own replies, ending with its own 318.
        for target in targets { whois(client, target) }
    }

    private func whois(_ client: Client, _ target: String) {
        if isService(target) {
            reply(client, .rplWhoisUser, LiveChatService.nick, LiveChatService.user, config.serverName, "*", LiveChatService.realname)
            reply(client, .rplWhoisServer, LiveChatService.nick, config.serverName, config.network)
            reply(client, .rplWhoisBot, LiveChatService.nick, "is a network service: /msg LiveChat HELP")
            reply(client, .rplEndOfWhois, LiveChatService.nick, "End of /WHOIS list")
            return
        }
        guard let member = self.client(named: target) else {
            reply(client, .errNoSuchNick, target, "No such nick/channel")
            reply(client, .rplEndOfWhois, target, "End of /WHOIS list")
            return
        }
        reply(client, .rplWhoisUser, member.nick, member.user ?? "*", member.host, "*", member.realname)
        let visibleChannels = member.channels.values
            .filter { !$0.modes.secret || $0.members[client] != nil }
            .sorted { $0.folded < $1.folded }
            .map { channel in (channel.members[member]?.prefixes(all: client.has(.multiPrefix)) ?? "") + channel.name }
        for line in pack(visibleChannels, fixed: [client.nick, member.nick], numeric: .rplWhoisChannels) {
            reply(client, .rplWhoisChannels, member.nick, line)
        }
        reply(client, .rplWhoisServer, member.nick, config.serverName, config.network)
        if let conversation = member.conversation {
            // A visitor: who they are, as the web bridge knows them.
            let record = conversation.record
            let details = [
                "is a website visitor in \(conversation.channel.name) (live chat channel \(conversation.settings.irc), \(conversation.settings.name))",
                "name: \(conversation.visitorName)",
                "languages: \(record.languages.isEmpty ? "none given" : record.languages.joined(separator: ", "))",
                "page: \(record.currentPage ?? "unknown")",
                "user agent: \(record.userAgent ?? "unknown")",
            ]
            for line in details { reply(client, .rplWhoisSpecial, member.nick, IRCText.truncated(line, bytes: 400)) }
        }
        if let away = member.awayMessage { reply(client, .rplAway, member.nick, away) }
        if member.isTLS { reply(client, .rplWhoisSecure, member.nick, "is using a secure connection") }
        if member.bot { reply(client, .rplWhoisBot, member.nick, "is a bot on \(config.network)") }
        if let account = member.accountName { reply(client, .rplWhoisAccount, member.nick, account, "is logged in as") }
        if member === client {
            reply(client, .rplWhoisHost, member.nick, "is connecting from *@\(member.host) \(member.ipAddress)")
        }
        let idle = Int(Date().timeIntervalSince(member.lastActivityDate))
        reply(client, .rplWhoisIdle, member.nick, String(idle), String(Int(member.connectedAt.timeIntervalSince1970)),
              "seconds idle, signon time")
        reply(client, .rplEndOfWhois, member.nick, "End of /WHOIS list")
    }

    // MARK: WHOWAS

    func handleWhowas(_ client: Client, _ message: IRCMessage) {
        let nick = message.params[0]
        let requested = message.params.count > 1 ? Int(message.params[1]) ?? 0 : 0
        let entries = whowas.lookup(nick, casemapping: casemapping, limit: requested > 0 ? requested : 10)
        if entries.isEmpty {
            reply(client, .errWasNoSuchNick, nick, "There was no such nickname")
        }
        for entry in entries {
            reply(client, .rplWhowasUser, entry.nick, entry.user, entry.host, "*", entry.realname)
            reply(client, .rplWhoisServer, entry.nick, config.serverName, entry.leftAt.formatted(.iso8601))
        }
        reply(client, .rplEndOfWhowas, nick, "End of WHOWAS")
    }

    // MARK: ISON / USERHOST

    func handleIson(_ client: Client, _ message: IRCMessage) {
        let requested = message.params.flatMap { $0.split(separator: " ").map(String.init) }
        let online = requested.compactMap { isService($0) ? LiveChatService.nick : self.client(named: $0)?.nick }
        reply(client, .rplIsOn, online.joined(separator: " "))
    }

    func handleUserhost(_ client: Client, _ message: IRCMessage) {
        let requested = message.params.flatMap { $0.split(separator: " ").map(String.init) }.prefix(5)
        let entries = requested.compactMap { nick -> String? in
            if isService(nick) { return "\(LiveChatService.nick)=+\(LiveChatService.user)@\(config.serverName)" }
            guard let member = self.client(named: nick) else { return nil }
            return "\(member.nick)=\(member.awayMessage == nil ? "+" : "-")\(member.user ?? "*")@\(member.host)"
        }
        reply(client, .rplUserHost, entries.joined(separator: " "))
    }

    // MARK: Server targets

    /// Whether `target` (of VERSION, TIME, MOTD or WHOIS) names this server: its name, a mask matching it,
    /// or, where the command allows it, the nick of someone connected here.
    private func isThisServer(_ target: String, orNickOnIt: Bool = false) -> Bool {
        IRCGlob(target, casemapping: casemapping).matches(config.serverName)
            || orNickOnIt && (isService(target) || client(named: target) != nil)
    }

    private func replyNoSuchServer(_ client: Client, _ target: String) {
        reply(client, .errNoSuchServer, target, "No such server")
    }

    /// Refuses a command whose first parameter names another server (402); true when it may go on.
    private func isForThisServer(_ client: Client, _ message: IRCMessage) -> Bool {
        guard let target = message.params.first, !isThisServer(target) else { return true }
        replyNoSuchServer(client, target)
        return false
    }

    // MARK: VERSION / TIME / MOTD

    func handleVersion(_ client: Client, _ message: IRCMessage) {
        guard isForThisServer(client, message) else { return }
        reply(client, .rplVersion, Self.version, config.serverName, "Switchboard live-chat IRC server")
        var tokens = isupport[...]
        while !tokens.isEmpty {
            reply(client, .rplISupport, parameters: Array(tokens.prefix(13)) + ["are supported by this server"])
            tokens = tokens.dropFirst(13)
        }
    }

    func handleTime(_ client: Client, _ message: IRCMessage) {
        guard isForThisServer(client, message) else { return }
        reply(client, .rplTime, config.serverName, Date().formatted(.iso8601))
    }

    func handleMotd(_ client: Client, _ message: IRCMessage) {
        guard isForThisServer(client, message) else { return }
        sendMotd(client)
    }

    // MARK: LINKS

    /// `LINKS [[server] mask]`: one server, this one, when the mask matches it.
    func handleLinks(_ client: Client, _ message: IRCMessage) {
        if message.params.count > 1, !isThisServer(message.params[0]) {
            replyNoSuchServer(client, message.params[0])
            return
        }
        let mask = message.params.last ?? "*"
        if isThisServer(mask) {
            reply(client, .rplLinks, mask, config.serverName, "0 Switchboard live-chat IRC server")
        }
        reply(client, .rplEndOfLinks, mask, "End of /LINKS list")
    }

    // MARK: ADMIN / INFO

    func handleAdmin(_ client: Client, _ message: IRCMessage) {
        guard isForThisServer(client, message) else { return }
        reply(client, .rplAdminMe, config.serverName, "Administrative info")
        reply(client, .rplAdminLoc1, "\(config.network) live chat")
        reply(client, .rplAdminLoc2, "Switchboard live-chat IRC server")
        reply(client, .rplAdminEmail, config.contact.isEmpty ? "No administrative contact is set" : config.contact)
    }

    func handleInfo(_ client: Client, _ message: IRCMessage) {
        guard isForThisServer(client, message) else { return }
        for line in [
            "\(Self.version): a live-chat server on IRC.",
            "Website visitors chat through the web bridge; operators answer from their IRC client.",
            "Type /msg LiveChat HELP for the live chat commands.",
            "On-line since \(startedAt.formatted(.iso8601)).",
        ] {
            reply(client, .rplInfo, line)
        }
        reply(client, .rplEndOfInfo, "End of INFO list")
    }
}
