import Foundation
import IRCProtocol

/// JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE.
extension ServerState {
    // MARK: JOIN

    func handleJoin(_ client: Client, _ message: IRCMessage) {
        if !readMarkersLoaded(for: client) {
            // A joined channel's MARKREAD comes before its NAMES, and the account's
            // markers are still in the database: the whole JOIN runs once they are read.
            let label = deferAnswer(client)
            whenReadMarkersReady(for: client) { state in
                guard !client.isClosing else { return }
                state.answer(labeled: label, to: client) { state.handleJoin(client, message) }
            }
            return
        }
        let names = message.params[0]
        if names == "0" {
            for channel in Array(client.channels.values) {
                part(client, from: channel, reason: nil)
            }
            return
        }
        let keys = message.params.count > 1 ? message.params[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
        for (index, name) in names.split(separator: ",").map(String.init).enumerated() {
            join(client, channelName: name, key: index < keys.count ? keys[index] : nil)
        }
    }

    func join(_ client: Client, channelName name: String, key: String?) {
        guard IRCNames.isValidChannel(name, maxLength: ISupport.channelLength) else {
            reply(client, .errNoSuchChannel, name, "No such channel")
            return
        }
        let folded = casemapping.fold(name)
        if client.channels[folded] != nil { return }
        // Conversations are the server's to join (an operator may hold any number): the
        // limit is on the channels one joins oneself.
        if client.channels.values.lazy.filter({ $0.conversation == nil }).count >= ISupport.channelLimit,
           channels[folded]?.conversation == nil {
            reply(client, .errTooManyChannels, name, "You have joined too many channels")
            return
        }
        let channel: IRCChannel
        if let existing = channels[folded] {
            if let conversation = existing.conversation, let login = client.account?.login.lowercased(),
               conversation.record.operators.contains(where: { $0.lowercased() == login }) {
                // The account's own conversation (+i to everyone else): any of its connections
                // may be in it, a second device with all of it (a returning one with what it missed).
                joinAccountConversation(client, conversation)
                return
            }
            channel = existing
            if let refusal = liveChatJoinRefusal(client, channel: channel) {
                reply(client, .errNeedReggedNick, channel.name, refusal)
                return
            }
            let invited = channel.invited.contains(casemapping.fold(client.nick))
            if channel.isBanned(client), !invited {
                reply(client, .errBannedFromChan, channel.name, "Cannot join channel (+b)")
                return
            }
            if channel.modes.inviteOnly, !invited {
                reply(client, .errInviteOnlyChan, channel.name, "Cannot join channel (+i)")
                return
            }
            if let required = channel.modes.key, required != key, !invited {
                reply(client, .errBadChannelKey, channel.name, "Cannot join channel (+k)")
                return
            }
            if let limit = channel.modes.limit, channel.members.count >= limit, !invited {
                reply(client, .errChannelIsFull, channel.name, "Cannot join channel (+l)")
                return
            }
            channel.invited.remove(casemapping.fold(client.nick))
            channel.members[client] = channel.members.isEmpty && !channel.isPermanent ? .op : []
        } else {
            guard !isConversationName(folded) else {
                // An ordinary channel by that name would clash with the conversation that gets it.
                reply(client, .errNoSuchChannel, name, "No such channel: the names of live chat channels followed by -<number> are kept for conversations")
                return
            }
            channel = IRCChannel(name: name, folded: folded)
            channels[folded] = channel
            channel.members[client] = .op
        }
        client.channels[folded] = channel
        announceJoin(client, to: channel)
        sendTopic(client, channel: channel, quietWhenUnset: true)
        sendReadMarker(client, channel)   // loaded: handleJoin waited for them
        sendNames(client, channel: channel)
        joinedLiveChat(client, channel: channel)
    }

    /// One JOIN per member (those `including` accepts): extended-join clients get the
    /// account and realname.
    func announceJoin(_ client: Client, to channel: IRCChannel, including: (Client) -> Bool = { _ in true }) {
        let plain = event(from: client, command: "JOIN", params: [channel.name])
        var extended = plain
        extended.params = [channel.name, client.accountName ?? "*", client.realname]
        var plainRecipients: [Client] = []
        var extendedRecipients: [Client] = []
        for member in channel.members.keys where including(member) {
            if member.has(.extendedJoin) { extendedRecipients.append(member) } else { plainRecipients.append(member) }
        }
        deliver(plain, to: plainRecipients)
        deliver(extended, to: extendedRecipients)
        if let away = client.awayMessage {
            let awayEvent = event(from: client, command: "AWAY", params: [away])
            deliver(awayEvent, to: (plainRecipients + extendedRecipients).lazy.filter { $0 !== client && $0.has(.awayNotify) })
        }
    }

    // MARK: PART

    func handlePart(_ client: Client, _ message: IRCMessage) {
        let reason = message.params.count > 1 ? message.params[1] : nil
        for name in message.params[0].split(separator: ",").map(String.init) {
            guard let channel = joinedChannel(name, of: client) else { continue }
            part(client, from: channel, reason: reason)
        }
    }

    /// The channel called `name`, or nil after telling the client there is none (403).
    func existingChannel(_ name: String, for client: Client) -> IRCChannel? {
        guard let channel = channel(named: name) else {
            reply(client, .errNoSuchChannel, name, "No such channel")
            return nil
        }
        return channel
    }

    /// The channel called `name` when the client is in it; otherwise nil after
    /// the matching error (403 no such channel, 442 not on that channel).
    func joinedChannel(_ name: String, of client: Client) -> IRCChannel? {
        guard let channel = existingChannel(name, for: client) else { return nil }
        guard channel.members[client] != nil else {
            replyNotOnChannel(client, channel)
            return nil
        }
        return channel
    }

    func replyNotOnChannel(_ client: Client, _ channel: IRCChannel) {
        reply(client, .errNotOnChannel, channel.name, "You're not on that channel")
    }

    func part(_ client: Client, from channel: IRCChannel, reason: String?) {
        let params = reason.map { [channel.name, $0] } ?? [channel.name]
        deliver(event(from: client, command: "PART", params: params), to: channel.members.keys)
        channel.members[client] = nil
        client.channels[channel.folded] = nil
        if let conversation = channel.conversation {
            operatorParted(client, from: conversation)
        }
        removeIfEmpty(channel)
    }

    // MARK: TOPIC

    func handleTopic(_ client: Client, _ message: IRCMessage) {
        guard let channel = existingChannel(message.params[0], for: client) else { return }
        let isMember = channel.members[client] != nil
        guard message.params.count > 1 else {
            if channel.modes.secret, !isMember {
                replyNotOnChannel(client, channel)
            } else {
                sendTopic(client, channel: channel, quietWhenUnset: false)
            }
            return
        }
        guard isMember else {
            replyNotOnChannel(client, channel)
            return
        }
        if channel.modes.topicLocked, !channel.isOp(client) {
            reply(client, .errChanOPrivsNeeded, channel.name, "You're not a channel operator")
            return
        }
        let text = IRCText.truncated(message.params[1], bytes: ISupport.topicLength)
        channel.topic = text.isEmpty ? nil : text
        channel.topicSetBy = client.hostmask
        channel.topicSetAt = Date()
        deliver(event(from: client, command: "TOPIC", params: [channel.name, text]), to: channel.members.keys)
    }

    func sendTopic(_ client: Client, channel: IRCChannel, quietWhenUnset: Bool) {
        guard let topic = channel.topic else {
            if !quietWhenUnset { reply(client, .rplNoTopic, channel.name, "No topic is set") }
            return
        }
        reply(client, .rplTopic, channel.name, topic)
        if let setBy = channel.topicSetBy, let at = channel.topicSetAt {
            reply(client, .rplTopicWhoTime, channel.name, setBy, String(Int(at.timeIntervalSince1970)))
        }
    }

    // MARK: NAMES

    func handleNames(_ client: Client, _ message: IRCMessage) {
        guard let names = message.params.first, !names.isEmpty else {
            reply(client, .rplEndOfNames, "*", "End of /NAMES list")
            return
        }
        for name in names.split(separator: ",").map(String.init) {
            if let channel = channel(named: name), !channel.modes.secret || channel.members[client] != nil {
                sendNames(client, channel: channel)
            } else {
                reply(client, .rplEndOfNames, name, "End of /NAMES list")
            }
        }
    }

    func sendNames(_ client: Client, channel: IRCChannel) {
        let isMember = channel.members[client] != nil
        let allPrefixes = client.has(.multiPrefix)
        let fullHost = client.has(.userhostInNames)
        var entries: [String] = []
        entries.reserveCapacity(channel.members.count)
        for (member, modes) in channel.members where isMember || !member.invisible {
            let prefix = modes.prefixes(all: allPrefixes)
            entries.append(prefix + (fullHost ? member.hostmask : member.nick))
        }
        entries.sort()
        let symbol = channel.modes.secret ? "@" : "="
        for line in pack(entries, fixed: [client.nick, symbol, channel.name], numeric: .rplNamReply) {
            reply(client, .rplNamReply, symbol, channel.name, line)
        }
        reply(client, .rplEndOfNames, channel.name, "End of /NAMES list")
    }

    /// Joins items with spaces into trailing parameters that keep each reply line
    /// within 512 bytes.
    func pack(_ items: [String], fixed: [String], numeric: Numeric) -> [String] {
        let overhead = 1 + config.serverName.utf8.count + 1 + numeric.rawValue.utf8.count
            + fixed.reduce(0) { $0 + $1.utf8.count + 1 } + 2 + 2
        let budget = max(64, IRCLimits.maxLineBytes - overhead)
        var lines: [String] = []
        var current = ""
        for item in items {
            if !current.isEmpty, current.utf8.count + 1 + item.utf8.count > budget {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? item : " " + item
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    // MARK: LIST

    func handleList(_ client: Client, _ message: IRCMessage) {
        let filter = ListFilter(message.params.first ?? "", casemapping: casemapping)
        reply(client, .rplListStart, "Channel", "Users  Name")
        for channel in channels.values.sorted(by: { $0.folded < $1.folded })
        where !channel.modes.secret || channel.members[client] != nil {
            // Every member counts, +i or not (as on other servers): +i hides who, not how many,
            // and a `>N` filter must not depend on someone else's user mode.
            let users = channel.members.count
            guard filter.accepts(channel, users: users) else { continue }
            let (modes, _) = channel.modes.modeString(showParameters: false)
            reply(client, .rplList, channel.name, String(users), "[\(modes)] \(channel.topic ?? "")")
        }
        reply(client, .rplListEnd, "End of /LIST")
    }

    // MARK: KICK

    /// `KICK <channel>{,<channel>} <nick>{,<nick>} [reason]` (RFC 2812): one channel
    /// and several nicks, one nick and several channels, or as many channels as nicks,
    /// taken in pairs.
    func handleKick(_ client: Client, _ message: IRCMessage) {
        let channelNames = message.params[0].split(separator: ",").map(String.init)
        let nicks = message.params[1].split(separator: ",").map(String.init)
        guard !channelNames.isEmpty, !nicks.isEmpty,
              channelNames.count == 1 || nicks.count == 1 || channelNames.count == nicks.count else {
            reply(client, .errNeedMoreParams, "KICK", "Not enough parameters")
            return
        }
        let reason = IRCText.truncated(message.params.count > 2 ? message.params[2] : client.nick, bytes: ISupport.kickLength)
        if channelNames.count == 1 {
            kick(nicks, from: channelNames[0], by: client, reason: reason)
        } else {
            for (index, name) in channelNames.enumerated() {
                kick([nicks.count == 1 ? nicks[0] : nicks[index]], from: name, by: client, reason: reason)
            }
        }
    }

    private func kick(_ nicks: [String], from name: String, by client: Client, reason: String) {
        guard let channel = joinedChannel(name, of: client) else { return }
        guard channel.isOp(client) else {
            reply(client, .errChanOPrivsNeeded, channel.name, "You're not a channel operator")
            return
        }
        for nick in nicks {
            guard let target = self.client(named: nick), channel.members[target] != nil else {
                reply(client, .errUserNotInChannel, nick, channel.name, "They aren't on that channel")
                continue
            }
            deliver(event(from: client, command: "KICK", params: [channel.name, target.nick, reason]), to: channel.members.keys)
            channel.members[target] = nil
            target.channels[channel.folded] = nil
        }
        removeIfEmpty(channel)
    }

    // MARK: INVITE

    func handleInvite(_ client: Client, _ message: IRCMessage) {
        guard message.params.count >= 2 else {
            if message.params.isEmpty {
                // INVITE alone lists the channels the client is invited to.
                for channel in channels.values.sorted(by: { $0.folded < $1.folded })
                where channel.invited.contains(casemapping.fold(client.nick)) {
                    reply(client, .rplInviteList, channel.name)
                }
                reply(client, .rplEndOfInviteList, "End of /INVITE list")
            } else {
                reply(client, .errNeedMoreParams, "INVITE", "Not enough parameters")
            }
            return
        }
        let nick = message.params[0]
        let name = message.params[1]
        if isService(nick) {
            sendFail(client, command: "INVITE", code: "CANNOT_INVITE", context: [LiveChatService.nick, name],
                     description: "\(LiveChatService.nick) is the live chat service and joins no channel; /msg \(LiveChatService.nick) HELP says what it does",
                     always: true)
            return
        }
        guard let target = self.client(named: nick) else {
            reply(client, .errNoSuchNick, nick, "No such nick/channel")
            return
        }
        guard let channel = joinedChannel(name, of: client) else { return }
        guard channel.members[target] == nil else {
            reply(client, .errUserOnChannel, target.nick, channel.name, "is already on channel")
            return
        }
        // A website visitor is only ever in their own conversation; an invitation could not reach them.
        if let own = target.conversation {
            sendFail(client, command: "INVITE", code: "CANNOT_INVITE", context: [target.nick, channel.name],
                     description: "\(target.nick) is a website visitor, who takes part only in \(own.channel.name)", always: true)
            return
        }
        if let conversation = channel.conversation {
            inviteToConversation(client, target: target, conversation: conversation)
            return
        }
        if channel.modes.inviteOnly, !channel.isOp(client) {
            reply(client, .errChanOPrivsNeeded, channel.name, "You're not a channel operator")
            return
        }
        // Only a channel operator's invitation lets the invitee past +i, +k, +l and bans: a
        // plain member's (on a channel without +i) is only an invitation, or any member could
        // let in someone the operators banned.
        if channel.isOp(client) { channel.invited.insert(casemapping.fold(target.nick)) }
        reply(client, .rplInviting, target.nick, channel.name)
        let invite = event(from: client, command: "INVITE", params: [target.nick, channel.name])
        deliver(invite, to: [target])
        deliver(invite, to: channel.members.keys.lazy.filter { $0 !== client && $0.has(.inviteNotify) })
        if let away = target.awayMessage { reply(client, .rplAway, target.nick, away) }
    }
}
