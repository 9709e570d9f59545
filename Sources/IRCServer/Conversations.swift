import Foundation
import IRCProtocol
import LiveChat
import NIOCore
import NIOPosix
import Storage

/// Conversations on the IRC side: each one is a channel (`#website-17`) with the
/// visitor as a pseudo-user and the assigned operators as members. Everything
/// here runs on the server's loop; database writes go to the thread pool and
/// come back before anything is relayed, so what operators and visitors see has
/// been stored first.
extension ServerState {
    var conversationStore: ConversationStore { database.conversations }

    func liveChannel(of conversation: Conversation) -> IRCChannel? {
        channel(named: conversation.settings.irc)
    }

    /// Runs a database call on the thread pool and its continuation back on the loop.
    func storing<T: Sendable>(_ work: @escaping @Sendable (ConversationStore) throws -> T,
                              then: @escaping (ServerState, Result<T, any Error>) -> Void) {
        let store = conversationStore
        let bound = NIOLoopBound((self, then), eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) { try work(store) }.whenComplete { result in
            let (state, then) = bound.value
            then(state, result)
        }
    }

    /// Stores a message of the conversation once the ones before it are stored,
    /// then runs `then` on the loop. One write at a time per conversation: the
    /// database gives ids in the order the writes run, and concurrent writes
    /// (the visitor over HTTP, an operator on IRC) could otherwise come back in
    /// another order, and a WebSocket reading live events would see 1439 before
    /// 1438 and skip 1438 when it reconnects `after` its last id.
    func storingMessage(of conversation: Conversation,
                        _ work: @escaping @Sendable (ConversationStore) throws -> StoredMessage,
                        then: @escaping (ServerState, Result<StoredMessage, any Error>) -> Void) {
        conversation.messageWrites.append(.init(work: work, then: then))
        if conversation.messageWrites.count == 1 { storeNextMessage(of: conversation) }
    }

    private func storeNextMessage(of conversation: Conversation) {
        guard let write = conversation.messageWrites.first else { return }
        storing(write.work) { state, result in
            write.then(state, result)
            conversation.messageWrites.removeFirst()
            if conversation.messageWrites.isEmpty && conversation.visitorClosing {
                state.visitorClosed(conversation)
            } else {
                state.storeNextMessage(of: conversation)
            }
        }
    }

    /// Fire-and-forget bookkeeping writes (assignment, membership); failures are logged.
    func persist(_ what: String, _ work: @escaping @Sendable (ConversationStore) throws -> Void) {
        storing(work) { state, result in
            if case .failure(let error) = result {
                state.logger.error("could not store \(what)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stores a conversation's end, again and again while it fails (a full disk, a
    /// locked database): the end has been shown to everyone, and a conversation that is
    /// not stored as closed would be open again after a restart. Closed is final, so a
    /// late write cannot undo anything stored after it.
    func persistClosing(id: Int64, reason: String?, at: Date, languages: [String], attempt: Int = 0) {
        pendingClosings[id] = PendingClosing(reason: reason, at: at, languages: languages)
        storing({ try $0.close(id: id, reason: reason, at: at) }) { state, result in
            guard case .failure(let error) = result else {
                state.pendingClosings[id] = nil
                return
            }
            // At shutdown, `savePendingClosings` makes the last attempt.
            guard !state.isShuttingDown, !(error is NIOThreadPoolError.ThreadPoolInactive) else { return }
            let delay = min(60, 1 << min(attempt, 6))
            state.logger.error("could not store the closing of a conversation; trying again",
                               metadata: ["conversation": "\(id)", "error": "\(error)", "retry_in_seconds": "\(delay)"])
            let bound = NIOLoopBound(state, eventLoop: state.loop)
            state.loop.scheduleTask(in: .seconds(Int64(delay))) {
                bound.value.persistClosing(id: id, reason: reason, at: at, languages: languages, attempt: attempt + 1)
            }
        }
    }

    // MARK: Opening

    /// Creates the channel and the visitor pseudo-user of a conversation (a new
    /// one, or an open one found in the database at start-up).
    @discardableResult
    func openConversation(_ record: ConversationRecord, history: [StoredMessage], previousOperator: String?) -> Conversation? {
        guard let settings = config.liveChat.channels.first(where: { $0.slug == record.slug }) else {
            logger.warning("conversation of an unknown channel", metadata: ["id": "\(record.id)", "slug": "\(record.slug)"])
            return nil
        }
        let name = "\(settings.irc)-\(record.id)"
        let folded = casemapping.fold(name)
        // Created with the conversation, also when it is reopened after a restart.
        let channel = IRCChannel(name: name, folded: folded, createdAt: record.createdAt)
        channel.isPermanent = true
        channel.modes.inviteOnly = true
        let visitor = Client(id: nextClientID, context: nil, isTLS: false, isLoopback: false, isExempt: true, floodBurst: 0,
                             connectedAt: record.createdAt)
        nextClientID += 1
        visitor.nick = visitorNick(for: record)
        visitor.user = "visitor"
        visitor.host = "visitor.\(config.serverName)"
        visitor.isRegistered = true
        let languages = record.languages.compactMap(LanguageTag.init)
        let conversation = Conversation(record: record, settings: settings, channel: channel, visitor: visitor, languages: languages)
        conversation.previousOperator = previousOperator
        for message in history { conversation.remember(message) }
        // WHOIS idle: since the visitor last wrote (or started the conversation).
        visitor.lastActivityDate = history.last(where: { $0.authorKind == .visitor })?.at ?? record.createdAt
        visitor.realname = conversation.visitorLabel
        visitor.conversation = conversation
        channel.conversation = conversation
        channel.topic = conversation.topic
        channel.topicSetBy = config.serverName
        channel.topicSetAt = record.createdAt
        if record.visitorLeftAt == nil {
            channel.members[visitor] = []
            visitor.channels[folded] = channel
        }
        channels[folded] = channel
        nicks[casemapping.fold(visitor.nick)] = visitor
        conversations[record.id] = conversation
        for login in record.operators {
            operatorRecords[login.lowercased(), default: OperatorRecord()].conversations[record.id] =
                AssignedConversation(assignedAt: record.assignedAt ?? record.createdAt, lastMessageAt: record.lastMessageAt,
                                     ended: record.visitorLeftAt != nil)
        }
        // An assigned conversation whose operators are all gone (an older database) waits like a new one.
        if record.status == .assigned && record.operators.isEmpty && record.visitorLeftAt == nil {
            conversation.record.status = .waiting
        }
        if conversation.record.status == .waiting { enqueueWaiting(conversation) }
        return conversation
    }

    /// The shape of a visitor's nick, `Anna-17`: a letter, up to 15 more letters or digits,
    /// a dash and the conversation's number. Operators and bots may not take one.
    static func hasVisitorNickShape(_ nick: String) -> Bool {
        let parts = nick.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let base = parts[0].first, base.isASCII, base.isLetter, parts[0].count <= 16,
              parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return true
    }

    /// `Anna-17`, `Visitor-17`: ASCII, stable for the conversation, unique.
    private func visitorNick(for record: ConversationRecord) -> String {
        let folded = (record.visitorName ?? "").folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil)
        var base = String(folded.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
            .map(Character.init).prefix(16))
        if base.isEmpty || base.first!.isNumber { base = "Visitor" }
        var nick = "\(base)-\(record.id)"
        while nicks[casemapping.fold(nick)] != nil { nick += "_" }
        return nick
    }

    /// A new conversation from the web bridge: open it, then assign it or let it wait.
    func startConversation(_ record: ConversationRecord, welcome: StoredMessage, previousOperator: String?) -> (CreatedConversation.Status, String?) {
        guard let conversation = openConversation(record, history: [welcome], previousOperator: previousOperator),
              let live = liveChannel(of: conversation) else { return (.waiting, nil) }
        let decision = decideAssignment(in: live, visitorLanguages: conversation.languages,
                                        previousOperator: previousOperator, now: Date())
        // Chatbot first: the channel's bot takes the conversation while it is connected
        // (always, or only when no human is available).
        if let bot = connectedBot(of: conversation.settings) {
            let botFirst = conversation.settings.botWhen == .always || decision.login == nil
            if botFirst {
                assign(conversation, to: bot, reason: "the channel's bot", fresh: true)
                return (.assigned, operatorName(bot))
            }
        }
        switch decision {
        case .assigned(let login, let reason):
            assign(conversation, to: login, reason: reason.description, fresh: true)
            return (.assigned, operatorName(login))
        case .waiting(let reason):
            enqueueWaiting(conversation)
            announce(in: live, "New conversation \(conversation.channel.name) from \(conversation.visitorLabel) is waiting for an operator (\(reason))")
            return (.waiting, nil)
        }
    }

    /// The account of `login` as a connection of it has it, else as the last account check found it.
    func lastSeenAccount(_ login: String) -> OperatorAccount? {
        connections(ofAccount: login).first?.account ?? knownAccounts[login.lowercased()]
    }

    /// Whether `login` is a bot account: as last seen, or the conversation channel's bot.
    func isBot(_ login: String, of conversation: Conversation) -> Bool {
        if let account = lastSeenAccount(login) { return account.isBot }
        return conversation.settings.bot?.lowercased() == login.lowercased()
    }

    /// A channel's bot that connects answers the conversations of its channel that
    /// have waited since they started (as it would have, had it been connected then;
    /// with `no_operator` they wait only when no human is available). Conversations
    /// someone already had, forwarded ones included, keep waiting for a human.
    func assignWaiting(toBot login: String) {
        for conversation in waitingConversations where conversation.record.assignedAt == nil && !conversation.isClosed
            && conversation.record.status == .waiting && conversation.settings.bot?.lowercased() == login.lowercased() {
            guard let bot = connectedBot(of: conversation.settings) else { return }
            assign(conversation, to: bot, reason: "the channel's bot", fresh: false)
        }
    }

    /// The login of the channel's bot when that bot account is connected.
    func connectedBot(of settings: IRCServerConfiguration.LiveChatChannel) -> String? {
        guard let login = settings.bot, let connection = connections(ofAccount: login).first,
              connection.account?.isBot == true else { return nil }
        return connection.account?.login
    }

    func operatorName(_ login: String) -> String {
        connections(ofAccount: login).first?.account?.visibleName ?? login
    }

    func author(ofOperator login: String) -> ChatAuthor {
        let account = lastSeenAccount(login)
        return ChatAuthor(kind: account?.isBot == true ? .bot : .operator, name: account?.visibleName ?? login)
    }

    /// A NOTICE from LiveChat in a live chat channel.
    func announce(in channel: IRCChannel, _ text: String) {
        let notice = IRCMessage(
            tags: [IRCTag("time", ServerTime.format(Date())), IRCTag("msgid", messageIDs.next()), IRCTag("bot")],
            source: serviceHostmask, command: "NOTICE", params: [channel.name, text])
        deliver(notice, to: channel.members.keys)
    }

    // MARK: Assignment

    /// Gives the conversation to an operator account: its connections in the live
    /// chat channel (or all of them) get exactly one server-initiated JOIN, the
    /// topic, the names and what the visitor wrote so far.
    func assign(_ conversation: Conversation, to login: String, reason: String, fresh: Bool, byTake: Client? = nil) {
        let now = Date()
        waitingConversations.removeAll { $0 === conversation }
        conversation.record.status = .assigned
        conversation.record.assignedAt = now
        conversation.record.assignmentReason = reason
        // An operator already in it (a transfer to a colleague who was invited) is no news to the visitor.
        let alreadyOperator = conversation.record.operators.contains { $0.lowercased() == login.lowercased() }
        if !alreadyOperator { conversation.record.operators.append(login) }
        var record = operatorRecords[login.lowercased(), default: OperatorRecord()]
        record.lastAssignedAt = now
        record.conversations[conversation.id] = AssignedConversation(
            assignedAt: now, lastMessageAt: conversation.record.lastMessageAt, ended: conversation.visitorLeft)
        operatorRecords[login.lowercased()] = record
        let id = conversation.id
        persist("the assignment") { try $0.assign(id: id, to: login, reason: reason, at: now) }

        let live = liveChannel(of: conversation)
        for client in connectionsToJoin(conversation, login: login, byTake: byTake) { joinConversation(client, conversation, after: 0) }
        if !alreadyOperator { conversation.publish(.operatorJoined(author(ofOperator: login))) }
        if let live {
            let verb = fresh ? "New conversation \(conversation.channel.name) from \(conversation.visitorLabel) assigned to"
                             : "Conversation \(conversation.channel.name) from \(conversation.visitorLabel) assigned to"
            announce(in: live, "\(verb) \(login)")
        }
        logger.info("conversation assigned", metadata: ["conversation": "\(id)", "operator": "\(login)", "reason": "\(reason)"])
    }

    /// An open conversation read back at start-up, with what its operators had seen of it.
    func reopenConversation(_ recovered: RecoveredConversation) {
        guard let conversation = openConversation(recovered.record, history: recovered.history,
                                                  previousOperator: recovered.previousOperator) else { return }
        conversation.newestDropped = recovered.newestDropped
        for device in recovered.departed {
            operatorRecords[device.login.lowercased(), default: OperatorRecord()].departed[recovered.record.id, default: []].append(device)
        }
        for (login, messageID) in recovered.seen {
            operatorRecords[login.lowercased(), default: OperatorRecord()].seen[recovered.record.id] = messageID
        }
    }

    typealias SeenMark = (conversationID: Int64, login: String, messageID: Int64)

    /// How far `client`'s account has seen the conversations `client` is in: kept
    /// in the database when the connection ends and at shutdown, so that after a
    /// restart an operator is replayed only what they missed.
    func seenMarks(of client: Client) -> [SeenMark] {
        guard let login = client.account?.login else { return [] }
        let key = login.lowercased()
        return client.channels.values.compactMap { channel in
            guard let conversation = channel.conversation,
                  let messageID = operatorRecords[key]?.seen[conversation.id] else { return nil }
            return (conversation.id, login, messageID)
        }
    }

    /// The connections of `login` a conversation given to the account goes to: those in
    /// its live chat channel (and `byTake`, the one that took it), or all of them when
    /// none is there.
    func connectionsToJoin(_ conversation: Conversation, login: String, byTake: Client? = nil) -> [Client] {
        let all = connections(ofAccount: login)
        let live = liveChannel(of: conversation)
        var targets = all.filter { client in live?.members[client] != nil }
        if let byTake, !targets.contains(where: { $0 === byTake }) { targets.append(byTake) }
        return targets.isEmpty ? all : targets
    }

    /// A connection left (QUIT, a dropped link) while other connections of its account
    /// stay online: a conversation of the account that none of them is in goes to them,
    /// whole (they may never have seen it). The conversation is the account's: it must
    /// not stay with an account that is online and cannot see it, out of colleagues'
    /// reach since the account is not "not connected".
    func handOverConversations(_ left: [Conversation], of login: String) {
        let key = login.lowercased()
        guard !connections(ofAccount: login).isEmpty else { return }
        for conversation in left where !conversation.isClosed
            && conversation.record.operators.contains(where: { $0.lowercased() == key })
            && !conversation.channel.members.keys.contains(where: { $0.account?.login.lowercased() == key }) {
            for client in connectionsToJoin(conversation, login: login) { joinConversation(client, conversation, after: 0) }
        }
    }

    /// Puts one connection in the conversation's channel and replays what it missed.
    func joinConversation(_ client: Client, _ conversation: Conversation, after: Int64) {
        let channel = conversation.channel
        guard channel.members[client] == nil, !client.isVirtual else { return }
        channel.members[client] = []
        client.channels[channel.folded] = channel
        announceJoin(client, to: channel)
        sendTopic(client, channel: channel, quietWhenUnset: true)
        // What came until now is replayed; what comes from now on is relayed to the member.
        let through = conversation.history.last?.id ?? after
        whenReadMarkersReady(for: client) { state in
            guard client.channels[channel.folded] === channel else { return }
            state.sendReadMarker(client, channel)
            state.sendNames(client, channel: channel)
            state.replay(conversation, to: client, after: after, through: through)
        }
    }

    /// Earlier messages of the conversation, as they were, pushed to the client (irssi,
    /// WeeChat and HexChat fetch no history themselves): with server-time (and in a
    /// chathistory batch) for clients that negotiated it, else with a `[HH:MM]` prefix.
    func replay(_ conversation: Conversation, to client: Client, after: Int64, through: Int64 = .max) {
        let messages = conversation.history.filter { $0.id > after && $0.id <= through && $0.authorKind != .system }
        guard !messages.isEmpty else { return }
        if let dropped = conversation.newestDropped, dropped > after {
            // Say so rather than let the replay pass for all of it.
            noticeInConversation(client, conversation, "Only the last \(Conversation.historyLimit) messages of this conversation are replayed; "
                + "the earlier ones are in its history (CHATHISTORY, for clients that support it).")
        }
        let batch = client.has(.batch) ? messageIDs.batchReference() : nil
        if let batch {
            send(IRCMessage(source: config.serverName, command: "BATCH", params: ["+" + batch, "chathistory", conversation.channel.name]), to: client)
        }
        for message in messages {
            var tags = [IRCTag("time", ServerTime.format(message.at)), IRCTag("msgid", String(message.id))]
            if let batch { tags.insert(IRCTag("batch", batch), at: 0) }
            send(IRCMessage(tags: tags, source: hostmask(of: message, in: conversation), command: "PRIVMSG",
                            params: [conversation.channel.name, historyText(ircText(of: message), at: message.at, for: client)]), to: client)
        }
        if let batch {
            send(IRCMessage(source: config.serverName, command: "BATCH", params: ["-" + batch]), to: client)
        }
        if let login = client.account?.login.lowercased(), let last = messages.last {
            operatorRecords[login, default: OperatorRecord()].seen[conversation.id] = last.id
        }
    }

    /// A stored conversation message's text as IRC carries it: an operator's `/me`,
    /// stored as the visitor reads it, is an action again.
    func ircText(of message: StoredMessage) -> String {
        guard message.isAction, let action = OperatorText.action(in: message.text, by: message.authorName) else { return message.text }
        return "\u{1}ACTION \(action)\u{1}"
    }

    /// Clients without server-time see when a history line was written as a `[HH:MM]`
    /// prefix, inside a CTCP action so that it stays one. The prefix goes on the first
    /// line with text: blank lines before it are left out, as they are live.
    func historyText(_ text: String, at: Date, for client: Client) -> String {
        guard !client.has(.serverTime) else { return text }
        let stamp = "[\(ClockText.hourMinute(at))] "
        let action = "\u{1}ACTION "
        guard text.hasPrefix(action) else { return stamp + Self.droppingLeadingBlankLines(Substring(text)) }
        return action + stamp + Self.droppingLeadingBlankLines(text.dropFirst(action.count))
    }

    static func droppingLeadingBlankLines(_ text: Substring) -> Substring {
        // Line by line: the first with something to see (invisible characters alone are blank).
        var lineStart = text.startIndex
        while lineStart < text.endIndex {
            let lineEnd = text[lineStart...].firstIndex(where: \.isNewline) ?? text.endIndex
            if IRCText.hasVisibleCharacter(text[lineStart..<lineEnd]) { return text[lineStart...] }
            guard lineEnd < text.endIndex else { break }
            lineStart = text.index(after: lineEnd)
        }
        return text
    }

    func hostmask(of message: StoredMessage, in conversation: Conversation) -> String {
        switch message.authorKind {
        case .visitor: return conversation.visitor.hostmask
        case .system: return serviceHostmask
        case .operator, .bot:
            let login = message.authorLogin ?? message.authorName
            if let connection = connections(ofAccount: login).first { return connection.hostmask }
            return "\(login)!\(login)@\(config.serverName)"
        }
    }

    /// Queues a conversation for the next available operator, once (the queue
    /// is oldest first).
    func enqueueWaiting(_ conversation: Conversation) {
        guard !waitingConversations.contains(where: { $0 === conversation }) else { return }
        waitingConversations.append(conversation)
        waitingConversations.sort { $0.id < $1.id }
    }

    /// Assigns waiting conversations, oldest first, to whoever is available now.
    /// One that is no longer waiting when its turn comes (assigned meanwhile,
    /// by this loop or by anything it set off) is left alone.
    func assignWaiting() {
        guard !waitingConversations.isEmpty else { return }
        let now = Date()
        for conversation in waitingConversations {
            guard !conversation.isClosed, conversation.record.status == .waiting,
                  waitingConversations.contains(where: { $0 === conversation }),
                  let live = liveChannel(of: conversation) else { continue }
            let decision = decideAssignment(in: live, visitorLanguages: conversation.languages,
                                            previousOperator: conversation.previousOperator, now: now)
            if case .assigned(let login, let reason) = decision {
                assign(conversation, to: login, reason: reason.description, fresh: false)
            }
        }
    }

    /// When an operator connects, the conversations still assigned to the account are
    /// joined again, with what they missed, unless another of the account's connections
    /// has them from the live chat channel: a conversation goes to the connections in
    /// its live chat channel, and this one gets them when it joins the channel.
    func rejoinConversations(_ client: Client) {
        guard let login = client.account?.login else { return }
        let key = login.lowercased()
        for conversation in openConversations(ofAccount: key) {
            let live = liveChannel(of: conversation)
            let coveredFromChannel = conversation.channel.members.keys.contains { other in
                other !== client && other.account?.login.lowercased() == key && live?.members[other] != nil
            }
            if !coveredFromChannel { joinAccountConversation(client, conversation) }
        }
    }

    /// A connection joined a live chat channel: the account's conversations of that
    /// channel are joined on it too (a phone that joins `#website` while the laptop
    /// handles its conversations gets them, whole).
    func joinConversations(_ client: Client, of channel: IRCChannel) {
        guard let key = client.account?.login.lowercased() else { return }
        for conversation in openConversations(ofAccount: key) where liveChannel(of: conversation) === channel {
            joinAccountConversation(client, conversation)
        }
    }

    private func openConversations(ofAccount key: String) -> [Conversation] {
        conversations.values.sorted(by: { $0.id < $1.id }).filter { conversation in
            !conversation.isClosed && conversation.record.operators.contains { $0.lowercased() == key }
        }
    }

    /// Joins one of the account's conversations on `client`, with what it has not seen:
    /// - a connection that was in it and dropped out (within `departedDeviceMemory`)
    ///   counts as coming back: it gets what came since it left, even when another
    ///   connection of the account is inside;
    /// - otherwise, all of it when another connection of the account is inside (this one
    ///   saw none of it), or what the account has not seen.
    func joinAccountConversation(_ client: Client, _ conversation: Conversation) {
        guard let key = client.account?.login.lowercased(), conversation.channel.members[client] == nil else { return }
        let othersInside = conversation.channel.members.keys.contains { $0 !== client && $0.account?.login.lowercased() == key }
        let after: Int64
        if let replayFrom = takeDeparture(key, conversation.id, nick: client.nick, now: Date()) {
            after = replayFrom
        } else {
            after = othersInside ? 0 : operatorRecords[key]?.seen[conversation.id] ?? 0
        }
        joinConversation(client, conversation, after: after)
    }

    /// How long a connection that dropped out of a conversation counts as one that may
    /// come back; a connection after that is treated as a new device.
    static let departedDeviceMemory: TimeInterval = 3600

    /// A connection of the account coming back to the conversation: the message to
    /// replay from, or nil when none of its connections dropped out of it lately
    /// (those older than `departedDeviceMemory` are forgotten). The departure with the
    /// connection's nick is its own; without one, the connection could be any of them,
    /// so it is replayed from the earliest (a line twice rather than one missed) and
    /// the latest departure is the one counted as back (the earliest stays for the
    /// device it may be).
    private func takeDeparture(_ key: String, _ id: Int64, nick: String, now: Date) -> Int64? {
        guard var list = operatorRecords[key]?.departed[id] else { return nil }
        list.removeAll { now.timeIntervalSince($0.at) > Self.departedDeviceMemory }
        let replayFrom: Int64?
        let folded = casemapping.fold(nick)
        if let own = list.firstIndex(where: { casemapping.fold($0.nick) == folded }) {
            replayFrom = list.remove(at: own).lastMessageID
        } else if let latest = list.indices.max(by: { list[$0].lastMessageID < list[$1].lastMessageID }) {
            replayFrom = list.map(\.lastMessageID).min()
            list.remove(at: latest)
        } else {
            replayFrom = nil
        }
        operatorRecords[key]?.departed[id] = list.isEmpty ? nil : list
        return replayFrom
    }

    /// A registered connection of an operator is going while in conversations of its
    /// account: each remembers where it left, for when it comes back.
    func noteDeparture(of client: Client, from conversations: [Conversation], at now: Date) {
        for (id, device) in departures(of: client, from: conversations, at: now) {
            operatorRecords[device.login.lowercased(), default: OperatorRecord()].departed[id, default: []].append(device)
        }
    }

    /// Every departure still remembered, with the connections in conversations now
    /// (which the shutdown is about to drop), for the next start.
    func departuresToSave(at now: Date) -> [(conversationID: Int64, device: DepartedDevice)] {
        var result: [(conversationID: Int64, device: DepartedDevice)] = []
        for record in operatorRecords.values {
            for (id, devices) in record.departed {
                for device in devices where now.timeIntervalSince(device.at) <= Self.departedDeviceMemory {
                    result.append((id, device))
                }
            }
        }
        for client in clients.values where client.isRegistered {
            result += departures(of: client, from: client.channels.values.compactMap(\.conversation), at: now)
        }
        return result
    }

    /// Where `client` leaves each of its account's open conversations among `conversations`.
    private func departures(of client: Client, from conversations: [Conversation],
                            at now: Date) -> [(conversationID: Int64, device: DepartedDevice)] {
        guard let login = client.account?.login else { return [] }
        let key = login.lowercased()
        return conversations
            .filter { !$0.isClosed && $0.record.operators.contains { $0.lowercased() == key } }
            .map { ($0.id, DepartedDevice(login: login, nick: client.nick, lastMessageID: $0.history.last?.id ?? 0, at: now)) }
    }

    // MARK: Messages

    /// A visitor message, already committed: relayed to the operators with its id as msgid.
    func relayVisitorMessage(_ message: StoredMessage, in conversation: Conversation) {
        conversation.remember(message)
        conversation.visitor.lastActivityDate = message.at
        let event = IRCMessage(
            tags: [IRCTag("time", ServerTime.format(message.at)), IRCTag("msgid", String(message.id))],
            source: conversation.visitor.hostmask, command: "PRIVMSG", params: [conversation.channel.name, message.text])
        deliver(event, to: conversation.channel.members.keys)
        conversation.publish(.message(message.chatMessage))
        noteActivity(in: conversation, at: message.at, lastID: message.id)
    }

    /// An operator's PRIVMSG in a conversation channel: stored, then relayed to the
    /// other operators (and echoed) with the stored id as msgid, and to the visitor.
    func operatorMessage(_ client: Client, in conversation: Conversation, text: String, clientTags: [IRCTag]) {
        // A command, in bold or not: nothing that starts with `!` reaches the visitor. (A CTCP
        // action starting with `!` is a message.)
        let unformatted = OperatorText.plain(text)
        if text.first != "\u{1}", unformatted.hasPrefix("!") {
            // Clients with echo-message show what was typed only when it comes back: the
            // command does, to this connection alone (nobody else sees a command).
            if client.has(.echoMessage) {
                send(event(from: client, command: "PRIVMSG", params: [conversation.channel.name, text], clientTags: clientTags), to: client)
            }
            // The command gets what was typed after the `!` (formatting before it aside), as
            // LiveChat does: a canned response keeps its formatting, a stray control is refused.
            let afterBang = text.firstIndex(of: "!").map { text[text.index(after: $0)...] } ?? Substring(unformatted.dropFirst())
            handleConversationCommand(client, conversation: conversation, text: String(afterBang))
            return
        }
        guard !conversation.isClosed else {
            reply(client, .errCannotSendToChan, conversation.channel.name, "This conversation has ended; nothing was sent")
            return
        }
        guard !conversation.visitorLeft else {
            reply(client, .errCannotSendToChan, conversation.channel.name, "The visitor has left the conversation; nothing was sent")
            return
        }
        guard let account = client.account else { return }
        // The operators see what was sent; the visitor (and the stored message) gets plain text.
        var plain: String
        var isAction = false
        switch OperatorText.classify(text) {
        case .ctcp(let command):
            noticeInConversation(client, conversation, "CTCP \(command) is not sent to the visitor, whose web page cannot answer it: nothing was sent.")
            return
        case .action(let action):
            plain = action
            isAction = true
        case .text(let text):
            plain = text
        }
        var text = text
        var expanded = false
        switch expandCannedResponses(in: plain) {
        case .unchanged:
            break
        case .expanded(let result):
            // The operators see the expanded text too, as the message or action it was, with
            // its formatting and the canned responses' (unless codes split a shortcut).
            plain = result
            var body = Substring(text)
            if isAction {
                body = body.dropFirst("\u{1}ACTION ".count)
                if body.last == "\u{1}" { body = body.dropLast() }
            }
            var forOperators = result
            if case .expanded(let formatted) = expandCannedResponses(in: String(body), keepingFormatting: true) {
                forOperators = formatted
            }
            text = isAction ? "\u{1}ACTION \(forOperators)\u{1}" : forOperators
            expanded = true
        case .unknown(let names):
            let list = names.joined(separator: ", ")
            noticeInConversation(client, conversation, "Unknown canned response \(list): nothing was sent. /msg LiveChat CANNED LIST shows them.")
            sendFail(client, command: "LIVECHAT", code: "UNKNOWN_CANNED", context: names.map { String($0.dropFirst(2)) }, description: "Unknown canned response \(list); nothing was sent")
            return
        }
        let visible = isAction ? OperatorText.describe(action: plain, by: account.visibleName) : plain
        // A message is at most what a visitor may write: a line of shortcuts must not grow
        // into a transcript of its own.
        guard !expanded || visible.unicodeScalars.count <= VisitorLimits.text else {
            let why = "With its canned responses the message would be \(visible.unicodeScalars.count) characters, over the \(VisitorLimits.text) a message may have: nothing was sent."
            noticeInConversation(client, conversation, why)
            sendFail(client, command: "LIVECHAT", code: "TOO_LONG", description: why)
            return
        }
        guard isAction || OperatorText.hasVisibleText(plain) else {
            noticeInConversation(client, conversation, "Nothing in it would show to the visitor (only spaces, invisible characters or formatting codes): nothing was sent.")
            return
        }
        let kind: ChatAuthor.Kind = account.isBot ? .bot : .operator
        let name = account.visibleName
        let login = account.login
        let id = conversation.id
        let bound = NIOLoopBound(client, eventLoop: loop)
        let sent = visible
        let action = isAction
        // The echo (or the error) is the answer, with the command's label, once the message is stored.
        let label = deferAnswer(client)
        storingMessage(of: conversation, {
            try $0.append(conversationID: id, authorKind: kind, authorName: name, authorLogin: login, text: sent, isAction: action, at: Date())
        }) { state, result in
            let client = bound.value
            guard let conversation = state.conversations[id] else {
                state.answer(labeled: label, to: client) {}
                return
            }
            switch result {
            case .success(let message):
                conversation.remember(message)
                var tags = [IRCTag("time", ServerTime.format(message.at)), IRCTag("msgid", String(message.id)), IRCTag("account", login)]
                if client.bot { tags.append(IRCTag("bot")) }
                tags.append(contentsOf: clientTags)
                let event = IRCMessage(tags: tags, source: client.hostmask, command: "PRIVMSG", params: [conversation.channel.name, text])
                state.deliver(event, to: conversation.channel.members.keys.lazy.filter { $0 !== client })
                conversation.publish(.message(message.chatMessage))
                state.noteActivity(in: conversation, at: message.at, lastID: message.id)
                state.answer(labeled: label, to: client) {
                    if client.has(.echoMessage) {
                        state.send(event, to: client)
                    } else if expanded {
                        state.noticeInConversation(client, conversation, "Sent to the visitor: \(sent)")
                    }
                }
            case .failure(let error):
                state.answer(labeled: label, to: client) {
                    state.reply(client, .errCannotSendToChan, conversation.channel.name, "Your message could not be stored and was not sent (\(error))")
                }
            }
        }
    }

    /// Keeps "ongoing" (last message within 30 minutes) and what each operator has seen up to date.
    private func noteActivity(in conversation: Conversation, at: Date, lastID: Int64) {
        conversation.record.lastMessageAt = at
        for login in conversation.record.operators {
            let key = login.lowercased()
            operatorRecords[key]?.conversations[conversation.id]?.lastMessageAt = at
            if conversation.channel.members.keys.contains(where: { $0.account?.login.lowercased() == key }) {
                operatorRecords[key]?.seen[conversation.id] = lastID
            }
        }
    }

    /// `+typing` from an operator's client becomes a typing event for the visitor.
    func operatorTyping(_ client: Client, in conversation: Conversation, tags: [IRCTag]) {
        guard let value = tags.first(where: { $0.key == "+typing" })?.value, let account = client.account else { return }
        conversation.publish(.typing(ChatAuthor(kind: account.isBot ? .bot : .operator, name: account.visibleName), active: value == "active"))
    }

    /// The visitor typing becomes a `+typing` TAGMSG for operators with message-tags.
    func visitorTyping(in conversation: Conversation) {
        let now = Date()
        guard now.timeIntervalSince(conversation.lastVisitorTyping) >= 1 else { return }
        conversation.lastVisitorTyping = now
        let event = IRCMessage(tags: [IRCTag("time", ServerTime.format(now)), IRCTag("msgid", messageIDs.next()), IRCTag("+typing", "active")],
                               source: conversation.visitor.hostmask, command: "TAGMSG", params: [conversation.channel.name])
        deliver(event, to: conversation.channel.members.keys.lazy.filter { $0.has(.messageTags) })
    }

    func visitorPage(in conversation: Conversation, url: String) {
        conversation.record.currentPage = url
        conversation.visitor.realname = conversation.visitorLabel
        let channel = conversation.channel
        channel.topic = conversation.topic
        channel.topicSetBy = config.serverName
        channel.topicSetAt = Date()
        let change = serverEvent(command: "TOPIC", params: [channel.name, conversation.topic])
        deliver(change, to: channel.members.keys)
    }

    // MARK: Leaving and ending

    /// An operator's connection parted the conversation's channel. When no
    /// connection of that account is left in it, the account has left the
    /// conversation; when no operator is left, the conversation ends.
    func operatorParted(_ client: Client, from conversation: Conversation) {
        guard let login = client.account?.login else { return }
        let key = login.lowercased()
        let stillInside = conversation.channel.members.keys.contains { $0.account?.login.lowercased() == key }
        guard !stillInside, !conversation.isClosed else { return }
        conversation.record.operators.removeAll { $0.lowercased() == key }
        operatorRecords[key]?.conversations[conversation.id] = nil
        let id = conversation.id
        persist("an operator leaving") { try $0.removeOperator(id: id, login: login) }
        conversation.publish(.operatorLeft(author(ofOperator: login)))
        if conversation.record.operators.isEmpty && conversation.record.status != .waiting {
            endConversation(conversation, reason: conversation.visitorLeft ? Conversation.visitorClosedReason : "The operator left the conversation")
        }
        assignWaiting()
    }

    /// The visitor closed the conversation: once their pending messages and the close
    /// itself are stored, they leave the channel, the operators are told and may part
    /// when done (the last one ends it). `done` completes then, or fails when the close
    /// could not be stored, and nothing changed.
    func visitorClosed(_ conversation: Conversation, done: EventLoopPromise<Void>? = nil) {
        guard !conversation.visitorLeft, !conversation.isClosed else {
            done?.succeed()
            return
        }
        if let done { conversation.visitorCloseWaiters.append(done) }
        conversation.visitorClosing = true   // nothing new from the visitor meanwhile
        // After the messages being stored (each delivered and acknowledged before `closed`).
        guard conversation.messageWrites.isEmpty, !conversation.visitorCloseStoring else { return }
        conversation.visitorCloseStoring = true
        let now = Date()
        let id = conversation.id
        storing({ try $0.markVisitorLeft(id: id, at: now) }) { state, result in
            conversation.visitorCloseStoring = false
            conversation.visitorClosing = false
            let waiters = conversation.visitorCloseWaiters
            conversation.visitorCloseWaiters = []
            switch result {
            case .success:
                state.visitorLeft(conversation, at: now)
                for waiter in waiters { waiter.succeed() }
            case .failure(let error):
                state.logger.error("could not store the visitor leaving", metadata: ["conversation": "\(id)", "error": "\(error)"])
                for waiter in waiters { waiter.fail(error) }
            }
        }
    }

    /// The visitor's close, stored: they leave the channel, the operators are told.
    private func visitorLeft(_ conversation: Conversation, at now: Date) {
        guard !conversation.visitorLeft, !conversation.isClosed else { return }
        conversation.record.visitorLeftAt = now
        let id = conversation.id
        let channel = conversation.channel
        let visitor = conversation.visitor
        deliver(event(from: visitor, command: "PART", params: [channel.name, "Closed the conversation"]), to: channel.members.keys)
        channel.members[visitor] = nil
        visitor.channels[channel.folded] = nil
        conversation.publish(.closed(reason: Conversation.visitorClosedReason))
        conversation.finishStreams()
        // The visitor is gone: the conversation no longer counts as ongoing for its
        // operators' load and max_sessions, though it stays open until they part.
        for login in conversation.record.operators {
            operatorRecords[login.lowercased()]?.conversations[id]?.ended = true
        }
        if conversation.record.operators.isEmpty {
            endConversation(conversation, reason: Conversation.visitorClosedReason)
        } else {
            announce(inConversation: conversation,
                     "\(conversation.visitorName) closed the conversation. /part \(channel.name) when you are done.")
        }
    }

    /// Puts a conversation back to waiting: assigned at once when the rule finds
    /// someone, otherwise announced in the live chat channel, with the visitor
    /// asked to wait.
    func requeue(_ conversation: Conversation, because why: String) {
        conversation.record.status = .waiting
        enqueueWaiting(conversation)
        assignWaiting()
        guard conversation.record.status == .waiting, !conversation.isClosed else { return }
        let id = conversation.id
        persist("the waiting state") { try $0.setWaiting(id: id) }
        if let live = liveChannel(of: conversation) {
            announce(in: live, "Conversation \(conversation.channel.name) from \(conversation.visitorLabel) is waiting for an operator (\(why))")
        }
        systemMessage(conversation, "All our operators are busy right now. Please wait: the next one available will answer you here.")
    }

    /// An operator account was removed: its open conversations lose it as if it
    /// had left them (the visitor sees `operator_left`), and what the server
    /// remembered of it goes, so that a later account with the same login starts
    /// afresh. A conversation left without an operator waits again and goes to
    /// whoever the rule picks; one the visitor had already left ends.
    func forgetOperator(_ login: String) {
        let key = login.lowercased()
        for conversation in conversations.values.sorted(by: { $0.id < $1.id }) where !conversation.isClosed {
            guard let stored = conversation.record.operators.first(where: { $0.lowercased() == key }) else { continue }
            conversation.record.operators.removeAll { $0.lowercased() == key }
            let id = conversation.id
            persist("a removed operator leaving") { try $0.removeOperator(id: id, login: stored) }
            // The name the visitor knew: the one on the operator's messages, else the removed
            // account's Online Chat Name as last known (never the login, which visitors are not shown).
            let last = conversation.history.last { $0.authorLogin?.lowercased() == key }
            let name = last?.authorName ?? knownAccounts[key]?.visibleName ?? stored
            // A bot that never wrote is still a bot to the visitor.
            let kind: ChatAuthor.Kind = last?.authorKind ?? (isBot(stored, of: conversation) ? .bot : .operator)
            conversation.publish(.operatorLeft(ChatAuthor(kind: kind, name: name)))
            guard conversation.record.operators.isEmpty else { continue }
            if conversation.visitorLeft {
                endConversation(conversation, reason: Conversation.visitorClosedReason)
            } else {
                requeue(conversation, because: "the account of \(stored) was removed")
            }
        }
        operatorRecords[key] = nil
    }

    /// A NOTICE from LiveChat in the conversation's window of one operator only.
    func noticeInConversation(_ client: Client, _ conversation: Conversation, _ text: String) {
        send(IRCMessage(tags: [IRCTag("time", ServerTime.format(Date())), IRCTag("msgid", messageIDs.next()), IRCTag("bot")],
                        source: serviceHostmask, command: "NOTICE", params: [conversation.channel.name, text]), to: client)
    }

    /// A NOTICE from LiveChat inside a conversation channel: seen by the operators only.
    func announce(inConversation conversation: Conversation, _ text: String) {
        let notice = IRCMessage(
            tags: [IRCTag("time", ServerTime.format(Date())), IRCTag("msgid", messageIDs.next()), IRCTag("bot")],
            source: serviceHostmask, command: "NOTICE", params: [conversation.channel.name, text])
        deliver(notice, to: conversation.channel.members.keys)
    }

    /// Ends the conversation for everyone: stored as closed (unless `stored` says it
    /// already is), the visitor gets `closed`, everyone leaves the channel and it disappears.
    func endConversation(_ conversation: Conversation, reason: String?, stored: Bool = false) {
        guard !conversation.isClosed else { return }
        conversation.isClosed = true
        let now = Date()
        let id = conversation.id
        if !stored { persistClosing(id: id, reason: reason, at: now, languages: conversation.languages.map(\.description)) }
        conversation.publish(.closed(reason: reason))
        conversation.finishStreams()
        let channel = conversation.channel
        let partReason = reason.map { "Conversation ended: \($0)" } ?? "Conversation ended"
        if channel.members[conversation.visitor] != nil {
            deliver(event(from: conversation.visitor, command: "PART", params: [channel.name, partReason]), to: channel.members.keys)
            channel.members[conversation.visitor] = nil
        }
        for member in channel.members.keys.sorted(by: { $0.id < $1.id }) {
            deliver(event(from: member, command: "PART", params: [channel.name, partReason]), to: channel.members.keys)
            channel.members[member] = nil
            member.channels[channel.folded] = nil
        }
        for login in conversation.record.operators {
            operatorRecords[login.lowercased()]?.conversations[id] = nil
            operatorRecords[login.lowercased()]?.seen[id] = nil
        }
        for key in operatorRecords.keys where operatorRecords[key]?.departed[id] != nil {
            operatorRecords[key]?.departed[id] = nil
        }
        channels[channel.folded] = nil
        nicks[casemapping.fold(conversation.visitor.nick)] = nil
        conversations[id] = nil
        waitingConversations.removeAll { $0 === conversation }
        if let live = liveChannel(of: conversation) {
            announce(in: live, "Conversation \(channel.name) from \(conversation.visitorLabel) ended\(reason.map { ": \($0)" } ?? "")")
        }
        logger.info("conversation ended", metadata: ["conversation": "\(id)", "reason": "\(reason ?? "")"])
        assignWaiting()
    }

    func finishAllVisitorStreams() {
        for conversation in conversations.values { conversation.finishStreams() }
    }
}
