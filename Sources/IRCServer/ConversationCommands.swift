import Foundation
import IRCProtocol
import LiveChat
import NIOCore
import Storage

/// The conversation commands of the LiveChat service (TAKE, CLOSE, HISTORY,
/// INFO) and their `!command` forms inside a conversation channel, where the
/// conversation is implied and nothing reaches the visitor.
extension ServerState {
    /// `#website-17` or `17`.
    func findConversation(_ reference: String) -> Conversation? {
        if IRCNames.isChannelTarget(reference) { return channel(named: reference)?.conversation }
        return Int64(reference).flatMap { conversations[$0] }
    }

    /// Resolves the `<conv>` argument, or explains the problem to the operator.
    private func conversationArgument(_ client: Client, _ arguments: [String], command: String) -> Conversation? {
        guard let reference = arguments.first else {
            serviceFail(client, code: "NEED_MORE_PARAMS", "\(command) needs a conversation: \(command) #website-17 (or its number).")
            return nil
        }
        guard let conversation = findConversation(reference), !conversation.isClosed else {
            serviceFail(client, code: "NO_SUCH_CONVERSATION", "There is no open conversation \(reference).")
            return nil
        }
        return conversation
    }

    // MARK: `!command` in a conversation channel

    /// `!command` inside a conversation: every LiveChat command, those that take a
    /// `<conv>` with this conversation, plus `!leave`.
    func handleConversationCommand(_ client: Client, conversation: Conversation, text: String) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // The command word in bold is still the command (its formatting goes); the arguments keep theirs.
        guard let first = words.first, !OperatorText.plain(first).isEmpty else {
            serviceFail(client, code: "UNKNOWN_COMMAND", "No command after the !: !help lists the commands; nothing was sent to the visitor.")
            return
        }
        let name = OperatorText.plain(first).uppercased()
        var rest = Array(words.dropFirst())
        // `!help !close` asks about `!close`.
        if name == "HELP", let topic = rest.first, topic.hasPrefix("!") { rest[0] = String(topic.dropFirst()) }
        switch name {
        case "HELP" where rest.first?.uppercased() == "LEAVE":
            serviceSay(client, "!leave [reason] — leave this conversation, as /part does; when you are its last operator it ends.")
        case "HELP" where rest.isEmpty:
            let others = LiveChatService.commands.filter { !$0.takesConversation && $0.name != "HELP" }
                .map { "!" + $0.name.lowercased() }.joined(separator: ", ")
            serviceSay(client, "In a conversation: !history, !info, !transfer <operator|#channel>, !close [reason], !take, !leave, !forward "
                + "— the LiveChat commands with this conversation implied — and \(others), as to LiveChat. "
                + "!help <command> explains one. Nothing starting with ! reaches the visitor.")
        case "LEAVE":
            if conversation.channel.members[client] != nil {
                part(client, from: conversation.channel, reason: rest.isEmpty ? nil : rest.joined(separator: " "))
            }
        default:
            guard let command = LiveChatService.byName[name] else {
                serviceFail(client, code: "UNKNOWN_COMMAND", "Unknown command !\(first.lowercased()). !help lists the commands; nothing was sent to the visitor.")
                return
            }
            command.run(self, client, command.takesConversation ? [conversation.channel.name] + rest : rest)
        }
    }

    // MARK: INVITE

    /// `/invite bob #website-17` adds a colleague at once: bob's connections join
    /// the conversation (with its history) and the visitor sees them arrive.
    func inviteToConversation(_ client: Client, target: Client, conversation: Conversation) {
        guard let login = target.account?.login, !target.isVirtual else {
            reply(client, .errNoSuchNick, target.nick, "No such nick/channel")
            return
        }
        reply(client, .rplInviting, target.nick, conversation.channel.name)
        let alreadyOperator = conversation.record.operators.contains { $0.lowercased() == login.lowercased() }
        if !alreadyOperator {
            conversation.record.operators.append(login)
            operatorRecords[login.lowercased(), default: OperatorRecord()].conversations[conversation.id] =
                AssignedConversation(assignedAt: Date(), lastMessageAt: conversation.record.lastMessageAt,
                                     ended: conversation.visitorLeft)
            let id = conversation.id
            persist("an invited operator") { try $0.addOperator(id: id, login: login) }
        }
        for connection in connectionsToJoin(conversation, login: login) {
            joinConversation(connection, conversation, after: 0)
        }
        if !alreadyOperator { conversation.publish(.operatorJoined(author(ofOperator: login))) }
    }

    // MARK: TAKE

    func serviceTake(_ client: Client, _ arguments: [String]) {
        guard let account = client.account, let conversation = conversationArgument(client, arguments, command: "TAKE") else { return }
        if account.isBot {
            serviceFail(client, code: "NOT_OPERATOR", "Bots do not take conversations.")
            return
        }
        if conversation.record.operators.contains(where: { $0.lowercased() == account.login.lowercased() }) {
            // This connection may not be in it yet (the account's other one is): it joins now.
            joinConversation(client, conversation, after: 0)
            serviceOK(client, code: "ALREADY_YOURS", context: [conversation.channel.name],
                      "\(conversation.channel.name) is already yours; you are in it.")
            return
        }
        // A conversation whose operators are all disconnected (a bot that went down, an
        // operator whose connection dropped) would leave its visitor unanswered: anyone may take it.
        let owners = conversation.record.operators
        let stranded = !owners.isEmpty && owners.allSatisfy { connections(ofAccount: $0).isEmpty }
        guard conversation.record.status == .waiting || owners.isEmpty || stranded else {
            serviceFail(client, code: "ALREADY_ASSIGNED", "\(conversation.channel.name) is already with \(owners.joined(separator: ", ")); ask them to /invite you.")
            return
        }
        assign(conversation, to: account.login, reason: "taken by \(account.login)", fresh: false, byTake: client)
        if stranded {
            // A bot's part is over once a human has it; a disconnected human finds it shared on return.
            for login in owners where isBot(login, of: conversation) {
                leaveConversation(login, conversation, reason: "Taken over by \(account.login)")
            }
        }
        serviceOK(client, code: "TAKEN", context: [conversation.channel.name], "You took \(conversation.channel.name) from \(conversation.visitorLabel).")
    }

    // MARK: CLOSE

    func serviceClose(_ client: Client, _ arguments: [String]) {
        guard let account = client.account, let conversation = conversationArgument(client, arguments, command: "CLOSE") else { return }
        let isInside = conversation.record.operators.contains { $0.lowercased() == account.login.lowercased() }
        guard isInside || account.isAdmin else {
            serviceFail(client, code: "NOT_IN_CONVERSATION", "You are not in \(conversation.channel.name); only its operators close it.")
            return
        }
        // The visitor reads the reason: plain text, or the default when nothing of it would show.
        let reason = arguments.count > 1 ? OperatorText.plain(arguments.dropFirst().joined(separator: " ")) : nil
        let name = conversation.channel.name
        // A visitor who closed was told so: the stored reason stays theirs.
        let shownReason = conversation.visitorLeft ? Conversation.visitorClosedReason
            : reason.flatMap { OperatorText.hasVisibleText($0) ? $0 : nil } ?? "Closed by \(account.visibleName)"
        guard !conversation.closing else {
            serviceFail(client, code: "NO_SUCH_CONVERSATION", "\(name) is being closed.")
            return
        }
        // Stored first: CLOSED is only said once a restart cannot bring the conversation back.
        conversation.closing = true
        let id = conversation.id
        let bound = NIOLoopBoundClient(client: client, loop: loop)
        let label = deferAnswer(client)
        storing({ try $0.close(id: id, reason: shownReason, at: Date()) }) { state, result in
            let client = bound.client
            conversation.closing = false
            state.answer(labeled: label, to: client) {
                switch result {
                case .success:
                    state.endConversation(conversation, reason: shownReason, stored: true)
                    state.serviceOK(client, code: "CLOSED", context: [name], "Closed \(name).")
                case .failure(let error):
                    state.logger.error("could not store the closing", metadata: ["conversation": "\(id)", "error": "\(error)"])
                    state.serviceFail(client, code: "INTERNAL_ERROR", "Could not store the closing of \(name); it stays open. Try again.")
                }
            }
        }
    }

    // MARK: HISTORY and INFO

    func serviceHistory(_ client: Client, _ arguments: [String]) {
        guard let conversation = conversationArgument(client, arguments, command: "HISTORY") else { return }
        let id = conversation.id
        let label = conversation.visitorLabel
        let name = conversation.channel.name
        let bound = NIOLoopBoundClient(client: client, loop: loop)
        let replyLabel = deferAnswer(client)
        storing({ try $0.pages(id: id) }) { state, result in
            let client = bound.client
            state.answer(labeled: replyLabel, to: client) {
            switch result {
            case .success(let pages) where pages.isEmpty:
                // Bots always get START and END; people get the one sentence.
                state.serviceOK(client, code: "HISTORY_START", context: [name, "0"], "\(label) in \(name) has not reported any page.")
                state.sendNote(client, command: "LIVECHAT", code: "HISTORY_END", context: [name, "0"], description: "End of the pages.")
            case .success(let pages):
                state.serviceOK(client, code: "HISTORY_START", context: [name, String(pages.count)], "Pages visited by \(label) in \(name), oldest first:")
                for page in pages {
                    let title = page.title.map { " — \($0)" } ?? ""
                    state.serviceOK(client, code: "PAGE", context: [name, page.url], "\(ClockText.hourMinute(page.at)) \(page.url)\(title)")
                }
                state.serviceOK(client, code: "HISTORY_END", context: [name, String(pages.count)], "End of the pages.")
            case .failure(let error):
                state.serviceFail(client, code: "INTERNAL_ERROR", "Could not read the history: \(error)")
            }
            }
        }
    }

    func serviceInfo(_ client: Client, _ arguments: [String]) {
        guard let conversation = conversationArgument(client, arguments, command: "INFO") else { return }
        let record = conversation.record
        let now = Date()
        let age = DurationText.wholeMinutes(now.timeIntervalSince(record.createdAt)).map { $0 + " ago" } ?? "just now"
        let state: String
        if conversation.visitorLeft {
            state = "the visitor left"
        } else if record.status == .waiting {
            state = "waiting for an operator"
        } else {
            state = "with " + record.operators.joined(separator: ", ")
        }
        serviceSay(client, "\(conversation.channel.name) (\(conversation.settings.name)): \(conversation.visitorName), \(state); started \(ClockText.hourMinute(record.createdAt)) UTC (\(age)).")
        let languages = record.languages.isEmpty ? "none given" : record.languages.joined(separator: ", ")
        serviceSay(client, "Languages: \(languages). Page: \(record.currentPage ?? "unknown"). Browser: \(record.userAgent ?? "unknown").")
        if let reason = record.assignmentReason, let at = record.assignedAt {
            // A conversation back in the queue keeps its last decision, as history.
            let when = record.status == .waiting ? "Last assigned (before it waited again)" : "Assigned"
            serviceSay(client, "\(when) at \(ClockText.hourMinute(at)) UTC because: \(reason).")
        }
        // Why it waits is a decision too: the one the assignment rule would make now.
        if record.status == .waiting, !conversation.visitorLeft, let live = liveChannel(of: conversation),
           case .waiting(let reason) = decideAssignment(in: live, visitorLanguages: conversation.languages,
                                                         previousOperator: conversation.previousOperator, now: now) {
            serviceSay(client, "Waiting because: \(reason).")
        }
        let written = conversation.history.filter { $0.authorKind != .system }
        if let last = written.last {
            serviceSay(client, "Messages: \(written.count), last at \(ClockText.hourMinute(last.at)) UTC.")
        } else {
            serviceSay(client, "Messages: none yet.")
        }
    }
}

/// Carries a client into a thread-pool callback that comes back to the loop.
struct NIOLoopBoundClient: @unchecked Sendable {
    private let bound: Client
    private let loop: any EventLoop
    init(client: Client, loop: any EventLoop) {
        self.bound = client
        self.loop = loop
    }
    var client: Client {
        loop.preconditionInEventLoop()
        return bound
    }
}

// MARK: LIST, TRANSFER, FORWARD

extension ServerState {
    func serviceList(_ client: Client, _ arguments: [String]) {
        guard let account = client.account else { return }
        let mine = liveChatChannels.filter { channel in connections(ofAccount: account.login).contains { channel.members[$0] != nil } }
        let channels = mine.isEmpty ? liveChatChannels : mine
        let names = Set(channels.map(\.folded))
        let now = Date()
        let open = conversations.values
            .filter { !$0.isClosed && names.contains(casemapping.fold($0.settings.irc)) }
            .sorted { $0.id < $1.id }
        let where_ = channels.map(\.name).joined(separator: ", ")
        guard !open.isEmpty else {
            serviceOK(client, code: "LIST_START", context: ["0"], "No open conversations in \(where_).")
            sendNote(client, command: "LIVECHAT", code: "LIST_END", context: ["0"], description: "End of the list.")
            return
        }
        serviceOK(client, code: "LIST_START", context: [String(open.count)], "Open conversations in \(where_):")
        for conversation in open {
            let record = conversation.record
            let state: String
            if conversation.visitorLeft {
                state = "visitor left"
            } else if record.status == .waiting || record.operators.isEmpty {
                state = "waiting"
            } else {
                // Say who is not connected: a conversation only they have is one to TAKE.
                state = "with " + record.operators.map { connections(ofAccount: $0).isEmpty ? "\($0) (not connected)" : $0 }
                    .joined(separator: ", ")
            }
            let ageSeconds = Int(now.timeIntervalSince(record.createdAt))
            let age = DurationText.wholeMinutes(Double(ageSeconds)) ?? "just now"
            var last = ""
            if let message = conversation.history.last(where: { $0.authorKind != .system }) {
                let text = TextChecks.oneLine(message.text)
                let excerpt = text.count > 60 ? String(text.prefix(57)) + "..." : text
                last = " — last \(ClockText.hourMinute(message.at)) \(message.authorName): \(excerpt)"
            }
            serviceOK(client, code: "CONVERSATION",
                      context: [conversation.channel.name, record.status == .waiting ? "waiting" : "assigned",
                                record.operators.isEmpty ? "*" : record.operators.joined(separator: ","), String(ageSeconds)],
                      "\(conversation.channel.name) \(conversation.visitorLabel) — \(state) — \(age)\(last)")
        }
        serviceOK(client, code: "LIST_END", context: [String(open.count)], "End of the list.")
    }

    /// The account's connections leave the conversation's channel (after a transfer or a forward).
    private func leaveConversation(_ login: String, _ conversation: Conversation, reason: String) {
        let key = login.lowercased()
        for member in conversation.channel.members.keys.filter({ $0.account?.login.lowercased() == key }).sorted(by: { $0.id < $1.id }) {
            part(member, from: conversation.channel, reason: reason)
        }
        if conversation.record.operators.contains(where: { $0.lowercased() == key }) {
            // Not connected right now: drop the assignment all the same.
            conversation.record.operators.removeAll { $0.lowercased() == key }
            operatorRecords[key]?.conversations[conversation.id] = nil
            let id = conversation.id
            persist("an operator leaving") { try $0.removeOperator(id: id, login: login) }
            conversation.publish(.operatorLeft(author(ofOperator: login)))
        }
    }

    func serviceTransfer(_ client: Client, _ arguments: [String]) {
        guard let account = client.account, let conversation = conversationArgument(client, arguments, command: "TRANSFER") else { return }
        guard arguments.count >= 2 else {
            serviceFail(client, code: "NEED_MORE_PARAMS", "Usage: TRANSFER <conv> <operator|#channel>")
            return
        }
        let me = account.login
        guard conversation.record.operators.contains(where: { $0.lowercased() == me.lowercased() }) || account.isAdmin else {
            serviceFail(client, code: "NOT_IN_CONVERSATION", "You are not in \(conversation.channel.name); only its operators transfer it.")
            return
        }
        let target = arguments[1]
        let name = conversation.channel.name
        if IRCNames.isChannelTarget(target) {
            guard let live = channel(named: target), let settings = live.liveChat else {
                serviceFail(client, code: "NO_SUCH_CHANNEL", "\(target) is not a live chat channel.")
                return
            }
            let excluded = Set(conversation.record.operators)
            let decision = decideAssignment(in: live, visitorLanguages: conversation.languages, previousOperator: nil,
                                            excluding: excluded, now: Date())
            guard case .assigned(let login, let reason) = decision else {
                serviceFail(client, code: "NOBODY_AVAILABLE", "Nobody is available in \(live.name) right now (\(decision)); \(name) stays with you.")
                return
            }
            conversation.settings = settings
            assign(conversation, to: login, reason: "transferred by \(me) to \(live.name): \(reason)", fresh: false)
            announce(inConversation: conversation, "\(me) transferred this conversation to \(login) (\(live.name)).")
            leaveConversation(me, conversation, reason: "Transferred to \(login)")
            serviceOK(client, code: "TRANSFERRED", context: [name, login], "Transferred \(name) to \(login) (\(live.name)).")
            return
        }
        let login = self.client(named: target)?.account?.login ?? connections(ofAccount: target).first?.account?.login
        guard let login, let targetAccount = connections(ofAccount: login).first?.account else {
            serviceFail(client, code: "NO_SUCH_OPERATOR", "\(target) is not a connected operator.")
            return
        }
        guard login.lowercased() != me.lowercased() else {
            serviceFail(client, code: "INVALID_TARGET", "You cannot transfer a conversation to yourself.")
            return
        }
        guard !targetAccount.isBot else {
            serviceFail(client, code: "INVALID_TARGET", "\(login) is a bot; transfer to a human operator or a channel.")
            return
        }
        assign(conversation, to: login, reason: "transferred by \(me)", fresh: false)
        announce(inConversation: conversation, "\(me) transferred this conversation to \(login).")
        leaveConversation(me, conversation, reason: "Transferred to \(login)")
        serviceOK(client, code: "TRANSFERRED", context: [name, login], "Transferred \(name) to \(login).")
    }

    func serviceForward(_ client: Client, _ arguments: [String]) {
        guard let account = client.account, let conversation = conversationArgument(client, arguments, command: "FORWARD") else { return }
        guard account.isBot else {
            // A human's own conversation would come straight back to them: they hand it over with TRANSFER.
            serviceFail(client, code: "NOT_BOT", "FORWARD is for bots handing a conversation to a human. "
                + "To hand \(conversation.channel.name) to a colleague: TRANSFER \(conversation.channel.name) <operator|#channel>.")
            return
        }
        let me = account.login
        guard conversation.record.operators.contains(where: { $0.lowercased() == me.lowercased() }) else {
            serviceFail(client, code: "NOT_IN_CONVERSATION", "You are not in \(conversation.channel.name).")
            return
        }
        let name = conversation.channel.name
        // A human already in it (invited by the bot, say) keeps it: the bot only leaves.
        if let human = conversation.record.operators.first(where: { $0.lowercased() != me.lowercased() && !isBot($0, of: conversation) }) {
            serviceOK(client, code: "FORWARDED", context: [name, human], "Forwarded \(name) to \(human), who is already in it.")
            leaveConversation(me, conversation, reason: "Forwarded to \(human)")
            return
        }
        // The visitor has gone: a human would get a dead conversation. The bot, its last
        // operator, leaves, which ends it.
        if conversation.visitorLeft, conversation.record.operators.allSatisfy({ $0.lowercased() == me.lowercased() }) {
            serviceOK(client, code: "CLOSED", context: [name], "The visitor has left \(name): it ends instead of going to an operator.")
            leaveConversation(me, conversation, reason: "The visitor left")
            if !conversation.isClosed { endConversation(conversation, reason: Conversation.visitorClosedReason) }
            return
        }
        guard let live = liveChannel(of: conversation) else { return }
        let decision = decideAssignment(in: live, visitorLanguages: conversation.languages,
                                        previousOperator: conversation.previousOperator,
                                        excluding: [me], now: Date())
        if case .assigned(let login, let reason) = decision {
            assign(conversation, to: login, reason: "forwarded by \(me): \(reason)", fresh: false)
            serviceOK(client, code: "FORWARDED", context: [name, login], "Forwarded \(name) to \(login).")
            leaveConversation(me, conversation, reason: "Forwarded to \(login)")
            return
        }
        // Nobody is free: the conversation waits for the next available human, and the visitor is told.
        serviceOK(client, code: "FORWARD_WAITING", context: [name], "Nobody is available; \(name) waits for the next operator.")
        requeue(conversation, because: "forwarded by \(me)")
        leaveConversation(me, conversation, reason: "Forwarded: waiting for an operator")
    }

    /// A message from the service to the visitor (stored, shown to the operators as a notice).
    func systemMessage(_ conversation: Conversation, _ text: String) {
        let id = conversation.id
        let name = conversation.settings.name
        storingMessage(of: conversation, { try $0.append(conversationID: id, authorKind: .system, authorName: name, authorLogin: nil, text: text, at: Date()) }) { state, result in
            guard case .success(let message) = result, let conversation = state.conversations[id] else { return }
            conversation.remember(message)
            conversation.publish(.message(message.chatMessage))
            state.announce(inConversation: conversation, "Told the visitor: \(text)")
        }
    }
}
