import Foundation
import IRCProtocol
import Logging
import NIOCore
import Storage

/// All mutable IRC state: clients, nicks, channels. One instance per server,
/// owned by a single event loop, so nothing here needs a lock.
final class ServerState {
    let config: IRCServerConfiguration
    let loop: any EventLoop
    let logger: Logger
    let authenticator: Authenticator
    let database: SwitchboardDatabase
    let casemapping = Casemapping.ascii
    let startedAt = Date()
    let isupport: [String]
    let messageIDs = MessageIDGenerator()
    let serverTime = ServerTimeCache()
    /// Unwritten channel history and loaded read markers (ChatHistory.swift, ReadMarker.swift).
    let chatHistory = ChatHistoryState()
    let metrics: ServerMetrics
    /// Published to `metrics` by the once-a-second sweep.
    var relayedMessages = 0
    var deliveredMessages = 0

    var clients: [Int: Client] = [:]
    var nicks: [String: Client] = [:]                // folded nick -> registered client
    var accountConnections: [String: [Client]] = [:] // lowercased login -> registered connections
    var operatorRecords: [String: OperatorRecord] = [:]  // lowercased login
    /// Set by `shutdown`: connections are closing because the server stops.
    var isShuttingDown = false
    var conversations: [Int64: Conversation] = [:]
    var waitingConversations: [Conversation] = []        // oldest first
    var cannedResponses: [String: CannedResponse] = [:]  // by shortcut
    var channels: [String: IRCChannel] = [:]         // folded name -> channel
    var connectionsByIP: [String: Int] = [:]
    var loginThrottle: LoginThrottle
    var monitors: [String: Set<Client>] = [:]       // folded nick -> watchers
    var whowas = WhowasHistory(capacity: 1000)
    var nextClientID = 1
    var accountCheckRunning = false
    var lastAccountCheck = NIODeadline.now()
    /// The accounts as the last check found them (lowercased login): to tell a
    /// re-created account by its creation time, and a removed one's name.
    var knownAccounts: [String: OperatorAccount] = [:]
    /// Ended conversations whose end the database has not taken yet (see `persistClosing`):
    /// they are closed to the visitor meanwhile, and written once more at shutdown.
    var pendingClosings: [Int64: PendingClosing] = [:]
    var maxRegistered = 0

    /// Reserved for the server's own pseudo-users.
    var reservedNicks: Set<String> = []

    /// When the input being handled arrived (`startInput`).
    var inputTime = NIODeadline.now()
    var inputDate = Date()

    var pendingFlush: [Client] = []
    var flushScheduled = false
    /// Reused by every fan-out to serialise the message once.
    var fanoutScratch = ByteBufferAllocator().buffer(capacity: 1024)
    private var sweepTask: RepeatedTask?
    private var handlers: [String: CommandHandler] = [:]
    private var lastHandler: (command: String, handler: CommandHandler)?

    init(config: IRCServerConfiguration, loop: any EventLoop, authenticator: Authenticator, database: SwitchboardDatabase,
         metrics: ServerMetrics, logger: Logger) {
        self.config = config
        self.database = database
        self.metrics = metrics
        self.loop = loop
        self.authenticator = authenticator
        self.logger = logger
        self.loginThrottle = LoginThrottle(
            limit: config.loginFailuresPerIP, window: .nanoseconds(Int64(config.loginFailureWindow * 1e9)))
        self.isupport = ISupport.tokens(config: config)
        self.handlers = CommandTable.build()
        self.reservedNicks = [casemapping.fold(LiveChatService.nick)]
        createLiveChatChannels()
    }

    // MARK: Lifecycle

    func startTimers() {
        let bound = NIOLoopBound(self, eventLoop: loop)
        sweepTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            bound.value.sweep()
        }
    }

    func stopTimers() {
        sweepTask?.cancel()
        sweepTask = nil
    }

    /// Tells every client the server is going away and closes the connections.
    func shutdown() -> EventLoopFuture<Void> {
        stopTimers()
        isShuttingDown = true
        var closing: [EventLoopFuture<Void>] = [saveSeenMarks(), savePendingClosings(), saveDepartures()]
        for client in clients.values {
            guard let connection = client.connection else { continue }
            write(raw: "ERROR :Server shutting down", to: client)
            client.isClosing = true
            flushNow(connection)
            // Closed after the ERROR: both go to the connection's loop in this order.
            let closed = loop.makePromise(of: Void.self)
            connection.close(promise: closed)
            closing.append(closed.futureResult)
        }
        finishAllVisitorStreams()
        closing.append(flushChannelHistory())
        return EventLoopFuture.andAllComplete(closing, on: loop)
    }

    /// The connections in conversations now, and those that dropped out lately: after
    /// the restart, each that comes back gets only what it missed.
    private func saveDepartures() -> EventLoopFuture<Void> {
        let departures = departuresToSave(at: Date())
        let store = conversationStore
        let logger = self.logger
        return authenticator.pool.runIfActive(eventLoop: loop) { try store.replaceDepartedDevices(departures) }
            .recover { error in
                logger.warning("could not store which connections were in conversations; after the restart a second device gets them whole",
                               metadata: ["error": "\(error)"])
            }
    }

    /// A last try for the ends still waiting to be stored: one that fails now will be an
    /// open conversation after the restart, which the log says.
    private func savePendingClosings() -> EventLoopFuture<Void> {
        let pending = pendingClosings
        guard !pending.isEmpty else { return loop.makeSucceededVoidFuture() }
        let store = conversationStore
        let logger = self.logger
        return authenticator.pool.runIfActive(eventLoop: loop) {
            for (id, closing) in pending.sorted(by: { $0.key < $1.key }) {
                _ = try store.close(id: id, reason: closing.reason, at: closing.at)
            }
        }.recover { error in
            logger.error("could not store the end of conversations; they will be open after the restart",
                         metadata: ["conversations": "\(pending.keys.sorted())", "error": "\(error)"])
        }
    }

    /// Every connected operator's marks, in one write (see `seenMarks`). Queued
    /// even when there is nothing to write: once it has run, every write queued
    /// before it (a mark of a connection that ended just before) has started,
    /// and the pool's shutdown, which drops what is still queued, waits for it.
    private func saveSeenMarks() -> EventLoopFuture<Void> {
        let marks = clients.values.flatMap { seenMarks(of: $0) }
        let store = conversationStore
        let logger = self.logger
        return authenticator.pool.runIfActive(eventLoop: loop) { try store.markSeen(marks) }
            .recover { error in logger.error("could not store what operators have seen", metadata: ["error": "\(error)"]) }
    }

    // MARK: Connections

    func connectionOpened(_ connection: IRCConnection) -> Client? {
        let address = connection.remoteAddress
        let isExempt = address.map { a in config.exempt.contains { $0.contains(a) } } ?? false
        let isLoopback = address.map { a in AddressRange.loopback.contains { $0.contains(a) } } ?? false
        let client = Client(
            id: nextClientID, context: connection, isTLS: connection.isTLS, isLoopback: isLoopback,
            isExempt: isExempt, floodBurst: config.floodBurst)
        nextClientID += 1
        if !isExempt {
            let count = connectionsByIP[client.ipAddress, default: 0]
            if count >= config.connectionsPerIP {
                connection.refuse(with: encodeRaw("ERROR :Closing link: too many connections from your address"))
                return nil
            }
        }
        connectionsByIP[client.ipAddress, default: 0] += 1
        clients[client.id] = client
        return client
    }

    /// The socket is gone; a client that did not QUIT leaves with `reason`.
    func connectionClosed(_ client: Client, reason: String) {
        guard clients[client.id] != nil else { return }
        if client.isRegistered, client.pendingInput > 0, client.closedWithInput == nil {
            // A client that sent its lines and left (a script that pastes and quits, a bot
            // whose lines wait behind a database step): they still run, at its pace, and
            // it goes once they have. Its queue is bounded, so this lasts at most
            // ping_interval + ping_timeout for a paced client, and until the step has
            // answered for an exempt one.
            client.closedWithInput = reason
            return
        }
        removeClient(client, quitMessage: reason)
        // What is still running for it (a password check, a history read) must find it
        // gone: a check that succeeds later would otherwise register a client with no
        // connection, holding its nick for good.
        client.isClosing = true
    }

    /// Sends an ERROR, closes the connection and tells the client's channels.
    func disconnect(_ client: Client, reason: String, sendError: Bool = true) {
        guard !client.isClosing else { return }
        if sendError {
            write(raw: "ERROR :Closing link: (\(client.user ?? "*")@\(client.host)) [\(reason)]", to: client)
        }
        removeClient(client, quitMessage: reason)
        client.isClosing = true
        if let connection = client.connection {
            // The close reaches the connection's loop after its pending output.
            flushNow(connection)
            connection.close(promise: nil)
        }
    }

    private func removeClient(_ client: Client, quitMessage: String) {
        guard clients.removeValue(forKey: client.id) != nil else { return }
        if let count = connectionsByIP[client.ipAddress] {
            connectionsByIP[client.ipAddress] = count > 1 ? count - 1 : nil
        }
        for folded in client.monitoring {
            monitors[folded]?.remove(client)
            if monitors[folded]?.isEmpty == true { monitors[folded] = nil }
        }
        guard client.isRegistered else { return }
        if !isShuttingDown {
            let marks = seenMarks(of: client)
            if !marks.isEmpty { persist("what an operator has seen") { try $0.markSeen(marks) } }
        }
        let quit = event(from: client, command: "QUIT", params: [quitMessage])
        deliver(quit, to: commonChannelPeers(of: client))
        let conversationsLeft = client.channels.values.compactMap(\.conversation)
        if !isShuttingDown { noteDeparture(of: client, from: conversationsLeft, at: Date()) }
        for channel in client.channels.values {
            channel.members[client] = nil
            removeIfEmpty(channel)
        }
        client.channels.removeAll()
        whowas.record(client)
        nicks[casemapping.fold(client.nick)] = nil
        if let login = client.account?.login.lowercased() {
            accountConnections[login]?.removeAll { $0 === client }
            if accountConnections[login]?.isEmpty == true { accountConnections[login] = nil }
        }
        if !isShuttingDown, !conversationsLeft.isEmpty, let login = client.account?.login {
            handOverConversations(conversationsLeft, of: login)
        }
        notifyMonitors(nick: client.nick, online: false, client: client)
        client.isRegistered = false
    }

    func removeIfEmpty(_ channel: IRCChannel) {
        if channel.members.isEmpty, !channel.isPermanent {
            channels[channel.folded] = nil
        }
    }

    // MARK: Input

    /// Reads the clocks once for a batch of input: every line of it counts as
    /// received (ping timeout) and as activity (idle time, inactivity) at this
    /// time, and what it relays carries this time (server-time, archive).
    func startInput() {
        inputTime = .now()
        inputDate = Date(timeIntervalSince1970: Double(serverTime.pin()) / 1000)
    }

    /// The end of a batch of input: later messages read the clock again.
    func endInput() {
        serverTime.unpin()
    }

    func received(_ line: InboundLine, from client: Client) {
        guard !client.isClosing else { return }
        client.lastReceived = inputTime
        // Any line shows the client is alive, also a PONG still waiting behind paced lines.
        client.pingSentAt = nil
        switch line {
        case .tooLong:
            reply(client, .errInputTooLong, "Input line was too long")
        case .line(let buffer):
            if client.isExempt, client.inbox.isEmpty, !client.inputHeld {
                // Not paced and nothing waiting: no queue to go through.
                handle(line: buffer, from: client)
            } else {
                client.inbox.append(buffer)
                processInbox(of: client)
            }
        }
    }

    /// Lines a paced client may have waiting: what its flood budget lets through within
    /// `ping_interval + ping_timeout`, the time a silent client is given.
    var maximumPacedBacklog: Int {
        max(64, Int(config.floodRate * (config.pingInterval + config.pingTimeout)))
    }

    /// Runs queued lines as fast as the client's flood budget allows; the rest wait
    /// (fake lag). Past a backlog, an exempt client's socket stops being read, and a
    /// paced client is disconnected (Excess Flood).
    func processInbox(of client: Client) {
        while client.inboxHead < client.inbox.count, !client.isClosing, !client.inputHeld {
            if !client.isExempt {
                refillTokens(client)
                if client.tokens < 1 {
                    scheduleWakeup(client)
                    break
                }
                client.tokens -= 1
            }
            let line = client.inbox[client.inboxHead]
            client.inboxHead += 1
            handle(line: line, from: client)
        }
        if client.inboxHead == client.inbox.count {
            client.inbox.removeAll(keepingCapacity: client.inbox.capacity <= 64)
            client.inboxHead = 0
        } else if client.inboxHead > 256 {
            client.inbox.removeFirst(client.inboxHead)
            client.inboxHead = 0
        }
        let backlog = client.pendingInput
        if backlog == 0, let reason = client.closedWithInput, !client.inputHeld {
            connectionClosed(client, reason: reason)
            return
        }
        if !client.isExempt {
            // Paced: the socket is always read, so a client that sent a burst and went away is
            // seen to go (a paused socket hid its end behind the queue, and the connection,
            // its nick and its availability stayed for as long as the queue took). The queue
            // holds at most what drains within ping_interval + ping_timeout.
            if backlog > maximumPacedBacklog {
                disconnect(client, reason: "Excess Flood")
            }
            return
        }
        if backlog > 64, !client.readingPaused {
            client.readingPaused = true
            client.connection?.setReading(false)
        } else if backlog < 16, client.readingPaused {
            client.readingPaused = false
            client.connection?.setReading(true)
        }
    }

    /// Stops running `client`'s lines until `resumeInput`: IRC clients expect answers
    /// in the order of their commands, and pipeline them (a bot sends its login and
    /// its JOINs in one write), so a command that answers after an asynchronous step
    /// keeps the lines after it waiting.
    func holdInput(_ client: Client) {
        client.inputHeld = true
    }

    /// The held command has answered: the lines that came meanwhile run now, in
    /// their own batch of input.
    func resumeInput(_ client: Client) {
        guard client.inputHeld else { return }
        client.inputHeld = false
        guard client.pendingInput > 0 else { return }
        let bound = NIOLoopBound((self, client), eventLoop: loop)
        loop.execute {
            let (state, client) = bound.value
            guard !client.isClosing else { return }
            state.startInput()
            state.processInbox(of: client)
            state.endInput()
        }
    }

    /// Called while a batch of input is handled (or a paced client's wake-up,
    /// which starts one): `inputTime` is now.
    private func refillTokens(_ client: Client) {
        let now = inputTime
        let elapsed = Double((now - client.lastRefill).nanoseconds) / 1e9
        client.lastRefill = now
        client.tokens = min(Double(config.floodBurst), client.tokens + elapsed * config.floodRate)
    }

    private func scheduleWakeup(_ client: Client) {
        guard !client.wakeupScheduled else { return }
        client.wakeupScheduled = true
        let wait = max(0.001, (1 - client.tokens) / max(config.floodRate, 0.001))
        let bound = NIOLoopBound((self, client), eventLoop: loop)
        loop.scheduleTask(in: .nanoseconds(Int64(wait * 1e9))) {
            let (state, client) = bound.value
            client.wakeupScheduled = false
            state.startInput()
            state.processInbox(of: client)
            state.endInput()
        }
    }

    func handle(line: ByteBuffer, from client: Client) {
        if relayTextLine(line, from: client) { return }
        let message: IRCMessage
        do {
            message = try IRCMessage.parse(line.readableBytesView)
        } catch {
            if case .empty = error { return }
            // The refusal still answers the line's label, when its tags can be read.
            let label = client.has(.labeledResponse)
                ? IRCMessage.tags(ofRefusedLine: line.readableBytesView).first { $0.key == "label" }?.value : nil
            answering(client, label: label) {
                switch error {
                case .empty:
                    break
                case .invalidUTF8:
                    sendFail(client, command: "*", code: "INVALID_UTF8",
                             description: "Message rejected: this server only accepts UTF-8", always: true)
                case .tagsTooLong, .lineTooLong:
                    reply(client, .errInputTooLong, "Input line was too long")
                case .malformed(let reason):
                    reply(client, .errUnknownError, "*", "Malformed message: \(reason)")
                }
            }
            flushSoon(client)
            return
        }
        let command = message.command
        if command != "PING" && command != "PONG" && command != "CAP" {
            client.lastActivityDate = inputDate
        }
        let label = client.has(.labeledResponse) ? message.tag("label") : nil
        let botWaits = client.pendingBotAssignment > 0   // set by this line's registration: not yet
        answering(client, label: label) { dispatch(message, from: client) }
        if botWaits { givePendingConversations(to: client) }
    }

    /// The conversations that waited for a bot, once its connection's rejoins are over.
    private func givePendingConversations(to client: Client) {
        client.pendingBotAssignment = 0
        guard !client.isClosing, let login = client.account?.login else { return }
        assignWaiting(toBot: login)
    }

    /// Runs the command's handler, or answers why it cannot run.
    private func dispatch(_ message: IRCMessage, from client: Client) {
        let command = message.command
        guard let handler = handler(for: command) else {
            if client.isRegistered {
                reply(client, .errUnknownCommand, command, "Unknown command")
            } else {
                reply(client, .errNotRegistered, "You have not registered")
            }
            return
        }
        if handler.requiresRegistration, !client.isRegistered {
            reply(client, .errNotRegistered, "You have not registered")
            return
        }
        if message.params.count < handler.minimumParameters {
            reply(client, .errNeedMoreParams, command, "Not enough parameters")
            return
        }
        handler.run(self, client, message)
    }

    /// Runs `body`, which answers a line of the client; with a label (labeled-response),
    /// what it sends the client is the labeled response.
    private func answering(_ client: Client, label: String?, _ body: () -> Void) {
        guard let label else {
            body()
            return
        }
        client.capturedReplies = []
        client.currentLabel = label
        body()
        client.currentLabel = nil
        if client.labelDeferred {
            // The command answers later (after a database write): what it said so far
            // (an echo, say) goes with that answer, under the label.
            client.labelDeferred = false
            client.deferredReplies = (client.deferredReplies ?? []) + (client.capturedReplies ?? [])
            client.capturedReplies = nil
        } else {
            finishLabeledResponse(client, label: label)
        }
    }

    /// The handler of a command. Busy clients send the same command again and
    /// again (PRIVMSG): the last one found is kept, and comparing a short string
    /// is cheaper than hashing it.
    private func handler(for command: String) -> CommandHandler? {
        if let last = lastHandler, last.command == command { return last.handler }
        guard let handler = handlers[command] else { return nil }
        lastHandler = (command, handler)
        return handler
    }

    /// For commands that answer after an asynchronous step: holds the client's next
    /// lines until the answer, and takes over the current command's label. The
    /// answer must go through `answer(labeled:to:)`.
    func deferAnswer(_ client: Client) -> String? {
        holdInput(client)
        client.deferredAnswers += 1
        guard let label = client.currentLabel else { return nil }
        client.labelDeferred = true
        return label
    }

    /// Sends the replies `body` produces as the answer of a deferred command (its
    /// labeled response, with a label), then lets the client's next lines run. A
    /// command that deferred more than once (a PRIVMSG to two conversations) answers
    /// with its last part: the replies of the earlier ones wait for it, in one response.
    func answer(labeled label: String?, to client: Client, _ body: () -> Void) {
        guard let label, !client.isClosing else {
            body()
            if endDeferredAnswer(client) { resumeInput(client) }
            return
        }
        client.capturedReplies = client.deferredReplies ?? []
        client.deferredReplies = nil
        body()
        if endDeferredAnswer(client) {
            finishLabeledResponse(client, label: label)
            resumeInput(client)
        } else {
            client.deferredReplies = client.capturedReplies
            client.capturedReplies = nil
        }
    }

    /// One deferred part of the command has answered; true when it was the last.
    /// Replies still kept from it (a label lost on the way) are sent as they are.
    func endDeferredAnswer(_ client: Client) -> Bool {
        if client.deferredAnswers > 0 { client.deferredAnswers -= 1 }
        guard client.deferredAnswers == 0 else { return false }
        if let kept = client.deferredReplies {
            client.deferredReplies = nil
            for reply in kept { send(reply, to: client) }
        }
        return true
    }

    // MARK: Timers

    private func sweep() {
        publishMetrics()
        let now = NIODeadline.now()
        checkAccountsIfDue(now: now)
        if loginThrottle.trackedAddresses > 0 { loginThrottle.prune(now: now) }
        removeInactiveOperators(now: Date())
        assignWaiting()
        let registrationDeadline = TimeAmount.nanoseconds(Int64(config.registrationTimeout * 1e9))
        let pingInterval = TimeAmount.nanoseconds(Int64(config.pingInterval * 1e9))
        let pingTimeout = TimeAmount.nanoseconds(Int64(config.pingTimeout * 1e9))
        for client in Array(clients.values) where !client.isClosing {
            if client.pendingBotAssignment > 0 {
                client.pendingBotAssignment -= 1
                if client.pendingBotAssignment == 0 { givePendingConversations(to: client) }
            }
            if !client.isRegistered {
                if now - client.connectedDeadline > registrationDeadline {
                    disconnect(client, reason: "Registration timed out")
                }
                continue
            }
            if client.pendingInput > 0 {
                // Lines wait for the flood budget (and past a backlog the socket is not even
                // read): the client is not silent, the server is not listening yet.
                client.lastReceived = now
                client.pingSentAt = nil
                continue
            }
            if let sent = client.pingSentAt {
                if now - sent > pingTimeout {
                    disconnect(client, reason: "Ping timeout: \(Int(config.pingTimeout)) seconds")
                }
            } else if now - client.lastReceived > pingInterval {
                client.pingSentAt = now
                write(raw: "PING :\(config.serverName)", to: client)
                flushSoon(client)
            }
        }
    }

    private func publishMetrics() {
        metrics.connections.record(clients.count)
        // Registered connections (each has an account), not the visitors' pseudo-users.
        metrics.registered.record(accountConnections.values.reduce(0) { $0 + $1.count })
        metrics.channels.record(channels.count)
        if relayedMessages > 0 {
            metrics.messages.increment(by: relayedMessages)
            relayedMessages = 0
        }
        if deliveredMessages > 0 {
            metrics.deliveries.increment(by: deliveredMessages)
            deliveredMessages = 0
        }
    }

    // MARK: Lookup

    /// The account value the login's other connections hold when it is the same,
    /// so that thousands of connections of one account share its strings and arrays.
    func shared(_ account: OperatorAccount) -> OperatorAccount {
        if let existing = accountConnections[account.login.lowercased()]?.first?.account, existing == account {
            return existing
        }
        return account
    }

    func client(named nick: String) -> Client? { nicks[casemapping.fold(nick)] }
    func channel(named name: String) -> IRCChannel? { channels[casemapping.fold(name)] }

    /// Everyone who shares a channel with `client`, once each, without the client itself.
    func commonChannelPeers(of client: Client) -> [Client] {
        if client.channels.count == 1, let only = client.channels.values.first {
            return only.members.keys.filter { $0 !== client }
        }
        var seen = Set<Client>()
        for channel in client.channels.values {
            for member in channel.members.keys where member !== client {
                seen.insert(member)
            }
        }
        return Array(seen)
    }

    // MARK: Monitor

    func notifyMonitors(nick: String, online: Bool, client: Client) {
        guard let watchers = monitors[casemapping.fold(nick)], !watchers.isEmpty else { return }
        for watcher in watchers {
            if online {
                reply(watcher, .rplMonOnline, client.hostmask)
            } else {
                reply(watcher, .rplMonOffline, nick)
            }
        }
    }
}
