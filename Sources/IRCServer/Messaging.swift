import IRCProtocol

/// PRIVMSG, NOTICE and TAGMSG to channels and users. One event, one msgid, for
/// every recipient; client-only tags (`+typing`, `+draft/react`...) are relayed to
/// clients that negotiated message-tags, and TAGMSG reaches only those.
extension ServerState {
    func handleMessage(_ client: Client, _ message: IRCMessage) {
        let command = message.command
        let isNotice = command == "NOTICE"
        let isTagmsg = command == "TAGMSG"
        guard let targetList = message.params.first, !targetList.isEmpty else {
            if !isNotice { reply(client, .errNoRecipient, "No recipient given (\(command))") }
            return
        }
        var text: String?
        if !isTagmsg {
            guard message.params.count >= 2, !message.params[1].isEmpty else {
                if !isNotice { reply(client, .errNoTextToSend, "No text to send") }
                return
            }
            text = message.params[1]
        }
        let clientTags = client.has(.messageTags) && !message.tags.isEmpty ? message.tags.filter { $0.key.hasPrefix("+") } : []
        // A TAGMSG is its tags: without any (or from a client that did not negotiate
        // message-tags) it would reach others as an empty line.
        if isTagmsg && clientTags.isEmpty { return }
        if !Self.containsComma(targetList) {
            // One target, the usual case: the parameters as received go on as they are.
            relayedMessages += 1
            let params = message.params.count == (isTagmsg ? 1 : 2) ? message.params : text.map { [targetList, $0] } ?? [targetList]
            relay(client, command: command, target: targetList, params: params, clientTags: clientTags, quiet: isNotice)
            return
        }
        var targets: [String] = []
        var seen: Set<String> = []
        for target in targetList.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
        where seen.insert(casemapping.fold(target)).inserted {
            targets.append(target)   // a target named twice gets the message once
        }
        if targets.count > ISupport.maxTargets {
            if !isNotice { reply(client, .errTooManyTargets, targetList, "Too many targets") }
            return
        }
        relayedMessages += targets.count
        for target in targets {
            let params = text.map { [target, $0] } ?? [target]
            relay(client, command: command, target: target, params: params, clientTags: clientTags, quiet: isNotice)
        }
    }

    /// Whether a target list names several targets (a byte scan, not a character one).
    static func containsComma(_ list: String) -> Bool {
        if let found = list.utf8.withContiguousStorageIfAvailable({ $0.firstIndex(of: UInt8(ascii: ",")) != nil }) {
            return found
        }
        return list.utf8.contains(UInt8(ascii: ","))
    }

    private func relay(_ client: Client, command: String, target: String, params: [String], clientTags: [IRCTag], quiet: Bool) {
        if IRCNames.isChannelTarget(target) {
            messageChannel(client, command: command, target: target, params: params, clientTags: clientTags, quiet: quiet)
        } else {
            messageUser(client, command: command, target: target, params: params, clientTags: clientTags, quiet: quiet)
        }
    }

    private func messageChannel(_ client: Client, command: String, target: String, params: [String], clientTags: [IRCTag], quiet: Bool) {
        // Most messages go to a channel the sender is in, named as the server folds it:
        // found among the sender's channels without folding the name first (a key
        // there is folded, so a target equal to it folds to it).
        guard let channel = client.channels[target] ?? channel(named: target) else {
            if !quiet { reply(client, .errNoSuchChannel, target, "No such channel") }
            return
        }
        if let reason = cannotSend(client, to: channel) {
            if !quiet { reply(client, .errCannotSendToChan, channel.name, reason) }
            return
        }
        if let conversation = channel.conversation {
            if command == "PRIVMSG", let text = params.last {
                operatorMessage(client, in: conversation, text: text, clientTags: clientTags)
                return
            }
            if command == "TAGMSG" { operatorTyping(client, in: conversation, tags: clientTags) }
            // A NOTICE stays among the operators: a private note the visitor never sees.
        }
        var outgoing = params
        if outgoing[0] != channel.name { outgoing[0] = channel.name }
        let event = event(from: client, command: command, params: outgoing, clientTags: clientTags)
        let tagsOnly = command == "TAGMSG"
        if !tagsOnly { archiveChannelMessage(event, in: channel) }
        let echo = client.has(.echoMessage)
        deliver(event, to: channel.members.keys.lazy.filter { member in
            (member !== client || echo) && (!tagsOnly || member.has(.messageTags))
        })
        // A sender outside the channel (-n) gets its echo too.
        if echo, channel.members[client] == nil { send(event, to: client) }
    }

    /// Why `client` may not speak in `channel`, or nil when it may.
    func cannotSend(_ client: Client, to channel: IRCChannel) -> String? {
        let modes = channel.modes(of: client)
        if modes == nil, channel.modes.noExternal {
            return "Cannot send to channel (no external messages)"
        }
        let privileged = modes.map { !$0.isEmpty } ?? false
        if channel.modes.moderated, !privileged {
            return "Cannot send to channel (+m)"
        }
        if !privileged, channel.isBanned(client) {
            return "Cannot send to channel (you are banned)"
        }
        return nil
    }

    private func messageUser(_ client: Client, command: String, target: String, params: [String], clientTags: [IRCTag], quiet: Bool) {
        if isService(target) {
            guard command == "PRIVMSG", let text = params.last else { return }
            if client.has(.echoMessage) {
                var echoed = params
                echoed[0] = LiveChatService.nick
                send(event(from: client, command: command, params: echoed, clientTags: clientTags), to: client)
            }
            handleServiceMessage(client, text: text)
            return
        }
        guard let recipient = self.client(named: target) else {
            if !quiet { reply(client, .errNoSuchNick, target, "No such nick/channel") }
            return
        }
        if let conversation = recipient.conversation {
            if !quiet {
                reply(client, .errCannotSendToChan, recipient.nick,
                      "\(recipient.nick) is a website visitor: write in \(conversation.channel.name)")
            }
            return
        }
        var outgoing = params
        if outgoing[0] != recipient.nick { outgoing[0] = recipient.nick }
        let event = event(from: client, command: command, params: outgoing, clientTags: clientTags)
        var recipients: [Client] = []
        if command != "TAGMSG" || recipient.has(.messageTags) { recipients.append(recipient) }
        if client.has(.echoMessage), recipient !== client { recipients.append(client) }
        if recipient === client, client.has(.echoMessage), !recipients.isEmpty {
            // To oneself with echo-message: the message as received, outside any labeled
            // response, then the echo below, which carries the label (IRCv3 labeled-response).
            let captured = client.capturedReplies
            client.capturedReplies = nil
            deliver(event, to: recipients)
            client.capturedReplies = captured
        }
        deliver(event, to: recipients)
        if command == "PRIVMSG", let away = recipient.awayMessage {
            reply(client, .rplAway, recipient.nick, away)
        }
    }
}
