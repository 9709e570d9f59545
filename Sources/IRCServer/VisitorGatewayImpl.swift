import Foundation
import LiveChat
import NIOCore
import NIOPosix
import Storage

/// The web bridge's way into the live chat engine. Database work runs on the
/// thread pool; state changes run on the IRC loop, after the write they depend
/// on has been committed.
struct LiveChatGateway: VisitorGateway {
    let server: IRCServer


    private var settings: IRCServerConfiguration.LiveChatSettings { server.configuration.liveChat }
    private var store: ConversationStore { server.database.conversations }

    private func database<T: Sendable>(_ work: @escaping @Sendable (ConversationStore) throws -> T) async throws(GatewayError) -> T {
        let store = self.store
        do {
            return try await server.pool.runIfActive { try work(store) }
        } catch {
            throw Self.gatewayError(error)
        }
    }

    /// What a failed storage step (or a step on the server's loop) means to the web bridge.
    private static func gatewayError(_ error: any Error) -> GatewayError {
        switch error {
        case let error as GatewayError: return error
        case StorageError.conversationClosed: return .conversationClosed
        case StorageError.unknownConversation: return .unknownConversation
        case let error as StorageError: return .invalid(error.description)
        case is EventLoopError: return .unavailable("the server is shutting down")
        // The details (SQL, file names) are for the server's log, not for visitors.
        default: return .unavailable("the change could not be stored; try again later")
        }
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (ServerState) -> T) async throws(GatewayError) -> T {
        guard let state = server.state else { throw .unavailable("the server is not running") }
        do {
            return try await state.eventLoop.submit { body(state.value) }.get()
        } catch {
            throw .unavailable("the server is shutting down")
        }
    }

    func channel(slug: String) async -> ChannelSummary? {
        guard let channel = settings.channels.first(where: { $0.slug == slug }) else { return nil }
        let available = (try? await onLoop { state -> Bool in
            // The channel's bot, while connected, takes every conversation (or those no human can).
            if state.connectedBot(of: channel) != nil { return true }
            guard let live = state.channel(named: channel.irc) else { return false }
            return Assignment.isAnyoneAvailable(channel: live.folded, operators: state.operatorStates(in: live),
                                                settings: state.assignmentSettings, now: Date())
        }) ?? false
        return ChannelSummary(slug: channel.slug, name: channel.name, welcome: channel.welcome, button: channel.button,
                              available: available, languages: settings.languages.map(\.description))
    }

    func createConversation(_ request: NewConversation) async throws(GatewayError) -> CreatedConversation {
        guard let channel = settings.channels.first(where: { $0.slug == request.slug }) else {
            throw .unknownChannel(request.slug)
        }
        let name = try Self.cleanName(request.name)
        let page = try Self.clean(request.page, maximum: VisitorLimits.url, what: "page", ordered: true)
        // A title without its page has nothing to go with.
        let pageTitle = page == nil ? nil : try Self.cleanTitle(request.pageTitle)
        let visitor = try Self.clean(request.visitor, maximum: VisitorLimits.visitorID, what: "visitor")
        let userAgent = request.userAgent.map { String(String.UnicodeScalarView($0.unicodeScalars.prefix(VisitorLimits.userAgent))) }
        let languages = request.languages.map(\.description)
        let token = ConversationStore.makeToken()
        let tokenHash = ConversationStore.hashToken(token)
        let slug = channel.slug
        let previous: String? = if let visitor {
            try? await database { try $0.previousOperator(visitorID: visitor, slug: slug) }
        } else {
            nil
        }
        let (record, welcome) = try await database {
            try $0.create(slug: slug, visitorName: name, visitorID: visitor, languages: languages, userAgent: userAgent,
                          page: page, pageTitle: pageTitle, tokenHash: tokenHash, welcome: channel.welcome, welcomeAuthor: channel.name, at: Date())
        }
        let (status, operatorName) = try await onLoop { state in
            state.startConversation(record, welcome: welcome, previousOperator: previous)
        }
        return CreatedConversation(id: record.id, token: token, status: status, operatorName: operatorName,
                                   languages: languages, messages: [welcome.chatMessage])
    }

    func state(conversation: Int64) async throws(GatewayError) -> ConversationState {
        let open = try await onLoop { state -> ConversationState? in
            if let pending = state.pendingClosings[conversation] {
                return ConversationState(status: .closed, operatorName: nil, languages: pending.languages, closeReason: pending.reason)
            }
            guard let open = state.conversations[conversation], !open.isClosed else { return nil }
            let languages = open.languages.map(\.description)
            if open.visitorLeft {
                return ConversationState(status: .closed, operatorName: nil, languages: languages, closeReason: Conversation.visitorClosedReason)
            }
            guard open.record.status == .assigned, let login = open.record.operators.last else {
                return ConversationState(status: .waiting, operatorName: nil, languages: languages, closeReason: nil)
            }
            return ConversationState(status: .assigned, operatorName: state.author(ofOperator: login).name,
                                     languages: languages, closeReason: nil)
        }
        if let open { return open }
        guard let record = try await database({ try $0.conversation(id: conversation) }) else { throw .unknownConversation }
        return ConversationState(status: .closed, operatorName: nil, languages: record.languages, closeReason: record.closeReason)
    }

    func authorize(conversation: Int64, token: String) async -> Bool {
        (try? await database { try $0.tokenMatches(conversationID: conversation, token: token) }) ?? false
    }

    func messages(conversation: Int64, after: Int64, limit: Int) async throws(GatewayError) -> (messages: [ChatMessage], more: Bool) {
        let page = try await database { try $0.messages(conversationID: conversation, after: after, limit: limit) }
        return (page.messages.map(\.chatMessage), page.more)
    }

    func postMessage(conversation: Int64, text: String) async throws(GatewayError) -> ChatMessage {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .invalid("the message is empty") }
        guard text.unicodeScalars.count <= VisitorLimits.text else { throw .invalid(VisitorLimits.tooLong("text", limit: VisitorLimits.text)) }
        guard let state = server.state else { throw .unavailable("the server is not running") }
        let stored = state.eventLoop.flatSubmit { () -> EventLoopFuture<StoredMessage> in
            let server = state.value
            guard let open = server.conversations[conversation], open.acceptsVisitorInput else {
                return server.loop.makeFailedFuture(GatewayError.conversationClosed)
            }
            let author = open.visitorName
            let promise = server.loop.makePromise(of: StoredMessage.self)
            server.storingMessage(of: open, {
                try $0.append(conversationID: conversation, authorKind: .visitor, authorName: author, authorLogin: nil, text: text, at: Date())
            }) { server, result in
                if case .success(let message) = result, let open = server.conversations[conversation] {
                    server.relayVisitorMessage(message, in: open)
                }
                promise.completeWith(result)
            }
            return promise.futureResult
        }
        do {
            return try await stored.get().chatMessage
        } catch {
            throw Self.gatewayError(error)
        }
    }

    func visitorTyping(conversation: Int64) async {
        _ = try? await onLoop { state in
            if let open = state.conversations[conversation], open.acceptsVisitorInput { state.visitorTyping(in: open) }
        }
    }

    func visitorPage(conversation: Int64, url: String, title: String?) async throws(GatewayError) {
        guard let url = try Self.clean(url, maximum: VisitorLimits.url, what: "url", ordered: true) else { throw .invalid("url is required") }
        let title = try Self.cleanTitle(title)
        // Like a message: nothing more once the visitor or an operator closed it.
        let open = try await onLoop { state -> Bool in
            guard let open = state.conversations[conversation] else { return false }
            return open.acceptsVisitorInput
        }
        guard open else { throw .conversationClosed }
        try await database { try $0.addPage(id: conversation, url: url, title: title, at: Date()) }
        _ = try? await onLoop { state in
            if let open = state.conversations[conversation], !open.isClosed { state.visitorPage(in: open, url: url) }
        }
    }

    func visitorClose(conversation: Int64) async throws(GatewayError) {
        guard let state = server.state else { throw .unavailable("the server is not running") }
        // Answered once the close is stored: a restart must not reopen a closed conversation.
        let closing = state.eventLoop.flatSubmit { () -> EventLoopFuture<Bool> in
            let server = state.value
            // Ended already, its end being stored: nothing more to do.
            if server.pendingClosings[conversation] != nil { return server.loop.makeSucceededFuture(true) }
            guard let open = server.conversations[conversation] else { return server.loop.makeSucceededFuture(false) }
            let done = server.loop.makePromise(of: Void.self)
            server.visitorClosed(open, done: done)
            return done.futureResult.map { true }
        }
        let known: Bool
        do {
            known = try await closing.get()
        } catch {
            throw Self.gatewayError(error)
        }
        if !known {
            // Already ended (or never opened since the restart): make sure the record says so.
            _ = try await database { try $0.close(id: conversation, reason: Conversation.visitorClosedReason, at: Date()) }
        }
    }

    func rate(conversation: Int64, rating: Int, comment: String?) async throws(GatewayError) {
        guard [1, 3, 5].contains(rating) else { throw .invalid("rating must be 1, 3 or 5") }
        // A comment is free text, as a message is: it may have several lines.
        let comment = try Self.clean(comment, maximum: VisitorLimits.text, what: "comment", keeping: ["\t", "\n", "\r"])
        try await database { try $0.rate(id: conversation, rating: rating, comment: comment) }
        // The operators still in the conversation hear how it went, on one IRC line.
        let oneLine = comment.map(TextChecks.oneLine)
        _ = try? await onLoop { state in
            guard let open = state.conversations[conversation] else { return }
            let stars = "\(rating)/5" + (oneLine.map { ": \($0)" } ?? "")
            state.announce(inConversation: open, "\(open.visitorName) rated the conversation \(stars)")
        }
    }

    /// For a conversation closed already, the stream is its `closed` event with
    /// the reason it was closed for, as the visitor saw it live.
    func events(conversation: Int64) async -> AsyncStream<VisitorEvent> {
        let (stream, continuation) = AsyncStream<VisitorEvent>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        enum Subscription: Sendable { case live(Int), closed(reason: String?), unknown }
        let subscription = (try? await onLoop { state -> Subscription in
            if let pending = state.pendingClosings[conversation] { return .closed(reason: pending.reason) }
            guard let open = state.conversations[conversation], !open.isClosed else { return .unknown }
            if open.visitorLeft { return .closed(reason: Conversation.visitorClosedReason) }
            let key = open.nextSubscriber
            open.nextSubscriber += 1
            open.subscribers[key] = continuation
            return .live(key)
        }) ?? .unknown
        guard case .live(let key) = subscription, let state = server.state else {
            var reason: String?
            if case .closed(let known) = subscription {
                reason = known
            } else {
                reason = try? await database { try $0.conversation(id: conversation)?.closeReason }
            }
            continuation.yield(.closed(reason: reason))
            continuation.finish()
            return stream
        }
        continuation.onTermination = { _ in
            state.eventLoop.execute {
                state.value.conversations[conversation]?.subscribers[key] = nil
            }
        }
        return stream
    }

    /// A visitor's name, as operators read it in topics, notices and WHOIS: one line,
    /// without text-direction controls (`evil\u{202E}gnp.exe` would read as something
    /// else); a name nothing of which shows is no name.
    static func cleanName(_ value: String?) throws(GatewayError) -> String? {
        guard let name = try clean(value, maximum: VisitorLimits.name, what: "name", ordered: true) else { return nil }
        return OperatorText.hasVisibleText(name) ? name : nil
    }

    /// A page's title, shown next to its address in HISTORY: none when nothing of it shows.
    static func cleanTitle(_ value: String?) throws(GatewayError) -> String? {
        try clean(value, maximum: VisitorLimits.title, what: "title").flatMap { TextChecks.hasVisibleCharacter($0) ? $0 : nil }
    }

    /// Trims, refuses over-long values (counted in Unicode scalars, as the web API
    /// counts them) and, for one-line values (nothing in `allowed`), control characters,
    /// line or paragraph separators and noncharacters; multi-line ones keep the control
    /// characters in `allowed`. With `ordered`, text-direction controls are refused, as
    /// the value is shown to operators. Empty becomes nil.
    static func clean(_ value: String?, maximum: Int, what: String,
                      keeping allowed: Set<Unicode.Scalar> = [], ordered: Bool = false) throws(GatewayError) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        guard trimmed.unicodeScalars.count <= maximum else { throw .invalid(VisitorLimits.tooLong(what, limit: maximum)) }
        let refused = allowed.isEmpty ? TextChecks.hasLineBreaksOrControls(trimmed)
            : trimmed.unicodeScalars.contains { $0.properties.generalCategory == .control && !allowed.contains($0) }
        guard !refused else {
            throw .invalid("\(what) contains control characters")
        }
        guard !ordered || !TextChecks.hasDirectionControls(trimmed) else {
            throw .invalid("\(what) contains text-direction controls")
        }
        return trimmed
    }
}
