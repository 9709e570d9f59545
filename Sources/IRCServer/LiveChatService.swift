import Foundation
import IRCProtocol
import LiveChat
import NIOCore
import Storage

/// The `LiveChat` service: a pseudo-user every operator can message
/// (`/msg LiveChat HELP`). It answers with PRIVMSG, which every client shows
/// (HexChat loses service NOTICEs), and repeats errors as IRCv3 standard
/// replies (`FAIL LIVECHAT <CODE> :text`) for clients that negotiated them.
enum LiveChatService {
    static let nick = ServiceName.liveChat
    static let user = ServiceName.liveChat
    static let realname = "Switchboard live chat service"

    struct Command: Sendable {
        let name: String
        let usage: String
        let summary: String
        let details: [String]
        /// Its first argument is a conversation (`<conv>`), which `!command` inside a
        /// conversation channel supplies.
        var takesConversation = false
        let run: @Sendable (ServerState, Client, [String]) -> Void
    }

    static let commands: [Command] = [
        Command(name: "HELP", usage: "HELP [command]", summary: "list the commands, or explain one",
                details: ["HELP alone lists every command with one line each; HELP NAME explains NAME."],
                run: { $0.serviceHelp($1, $2) }),
        Command(name: "NAME", usage: "NAME [name|-]", summary: "show or set your Online Chat Name, the name visitors see",
                details: [
                    "NAME alone shows your Online Chat Name. NAME Mitchell sets it; NAME - resets it,",
                    "and visitors then see your account's display name. Up to 64 characters.",
                ],
                run: { $0.serviceName($1, $2) }),
        Command(name: "LANG", usage: "LANG [code[,code...]]", summary: "show or set your Online Chat Languages (first = main)",
                details: [
                    "LANG alone shows your languages and the ones enabled on this server.",
                    "LANG fr,en,es sets them: the first is your main language, the others additional.",
                    "Visitors are matched to operators who speak their browser's languages, main languages first.",
                    "Only languages enabled on this server are accepted; otherwise nothing changes.",
                ],
                run: { $0.serviceLang($1, $2) }),
        Command(name: "STATUS", usage: "STATUS", summary: "your live chat channels, whether you get new conversations, and why not",
                details: [
                    "For each live chat channel you joined: whether you are available for new conversations",
                    "and, when not, why (away, inactive, at max sessions), with your ongoing conversations.",
                    "You are available when you are in the channel, connected, not away, active within",
                    "the inactivity timeout and below the max sessions.",
                ],
                run: { $0.serviceStatus($1, $2) }),
        Command(name: "LIST", usage: "LIST", summary: "open and waiting conversations of your live chat channels",
                details: ["LIST shows, for the live chat channels you joined (all of them if none), each open or waiting",
                          "conversation: visitor, languages, operators, age and last message."],
                run: { $0.serviceList($1, $2) }),
        Command(name: "TAKE", usage: "TAKE <conv>", summary: "take a waiting conversation, or one whose operators are all disconnected",
                details: ["TAKE #website-17 (or TAKE 17) assigns a waiting conversation to you and joins you to it; so does a "
                          + "conversation none of whose operators is connected."],
                takesConversation: true,
                run: { $0.serviceTake($1, $2) }),
        Command(name: "CLOSE", usage: "CLOSE <conv> [reason]", summary: "end a conversation for the visitor and everyone",
                details: ["CLOSE #website-17 [reason] ends it: the visitor is told (with the reason) and the channel goes away.",
                          "Leaving it with /part does the same when you are its last operator."],
                takesConversation: true,
                run: { $0.serviceClose($1, $2) }),
        Command(name: "HISTORY", usage: "HISTORY <conv>", summary: "the pages the visitor visited",
                details: ["HISTORY #website-17 lists the pages the visitor's browser reported, oldest first."],
                takesConversation: true,
                run: { $0.serviceHistory($1, $2) }),
        Command(name: "INFO", usage: "INFO <conv>", summary: "the visitor's details and why the conversation went where it went",
                details: ["INFO #website-17: visitor name, languages, page, browser, state, and the assignment's reason."],
                takesConversation: true,
                run: { $0.serviceInfo($1, $2) }),
        Command(name: "TRANSFER", usage: "TRANSFER <conv> <operator|#channel>", summary: "hand a conversation to a colleague or to another live chat channel",
                details: ["TRANSFER #website-17 bob: bob is joined to the conversation and you leave it.",
                          "TRANSFER #website-17 #support: the assignment rule picks an available operator of #support;",
                          "if nobody is available there, the conversation stays with you."],
                takesConversation: true,
                run: { $0.serviceTransfer($1, $2) }),
        Command(name: "CANNED", usage: "CANNED [LIST | ADD <shortcut> <text> | DEL <shortcut>]", summary: "the canned responses shared by all operators",
                details: ["CANNED ADD hello Hello! How can I help you today? — then type ::hello in a conversation,",
                          "alone or as a word of a sentence, and the visitor gets the text. An unknown ::shortcut is not sent.",
                          "CANNED LIST shows them all; CANNED DEL hello removes one."],
                run: { $0.serviceCanned($1, $2) }),
        Command(name: "FORWARD", usage: "FORWARD <conv>", summary: "(bots) hand a conversation to a human operator",
                details: ["FORWARD #website-17: the bot leaves and the assignment rule picks a human operator,",
                          "who gets the whole conversation; if nobody is available it waits and the visitor is told."],
                takesConversation: true,
                run: { $0.serviceForward($1, $2) }),
    ]

    static let byName: [String: Command] = Dictionary(uniqueKeysWithValues: commands.map { ($0.name, $0) })
}

extension ServerState {
    var serviceHostmask: String { "\(LiveChatService.nick)!\(LiveChatService.user)@\(config.serverName)" }

    func isService(_ nick: String) -> Bool {
        casemapping.fold(nick) == casemapping.fold(LiveChatService.nick)
    }

    /// A PRIVMSG from LiveChat to the client.
    /// Answers quote what was typed: a bell or an escape in it is written out.
    static func shown(_ text: String) -> String {
        TextChecks.escapingControls(text, keeping: OperatorText.isFormattingOrTab)
    }

    func serviceSay(_ client: Client, _ text: String) {
        let shown = Self.shown(text)
        let message = IRCMessage(
            tags: [IRCTag("time", ServerTime.format(Date())), IRCTag("msgid", messageIDs.next()), IRCTag("bot")],
            source: serviceHostmask, command: "PRIVMSG", params: [client.nick, shown])
        send(message, to: client)
    }

    /// A result: said in plain words, and as `NOTE LIVECHAT <code> [context...]` for
    /// standard-replies clients (bots), with stable codes listed in docs/operators.md.
    func serviceOK(_ client: Client, code: String, context: [String] = [], _ text: String) {
        let shown = Self.shown(text)
        serviceSay(client, shown)
        sendNote(client, command: "LIVECHAT", code: code, context: context, description: shown)
    }

    /// An error: said in plain words, and as `FAIL LIVECHAT <code>` for standard-replies clients.
    func serviceFail(_ client: Client, code: String, context: [String] = [], _ text: String) {
        let shown = Self.shown(text)
        serviceSay(client, shown)
        sendFail(client, command: "LIVECHAT", code: code, context: context, description: shown)
    }

    func handleServiceMessage(_ client: Client, text: String) {
        if text.first == "\u{1}" {
            answerServiceCTCP(client, text)
            return
        }
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // The command word in bold (or any formatting) is still the command; the arguments
        // keep theirs (a canned response may be in bold).
        let typed = words.first ?? ""
        let name = OperatorText.plain(typed).uppercased()
        guard !name.isEmpty else {
            serviceFail(client, code: "UNKNOWN_COMMAND", "No command given. /msg LiveChat HELP lists the commands.")
            return
        }
        guard let command = LiveChatService.byName[name] else {
            serviceFail(client, code: "UNKNOWN_COMMAND", "Unknown command \(typed). /msg LiveChat HELP lists the commands.")
            return
        }
        command.run(self, client, Array(words.dropFirst()))
    }

    /// CTCP queries clients send to any nick (`/ctcp LiveChat VERSION`, `/ping LiveChat`):
    /// answered in CTCP, as a NOTICE, the way clients expect; others (ACTION...) ignored.
    private func answerServiceCTCP(_ client: Client, _ text: String) {
        var body = text.dropFirst()
        if body.last == "\u{1}" { body = body.dropLast() }
        let command = body.prefix { $0 != " " }.uppercased()
        let argument = body.drop { $0 != " " }.dropFirst()
        let answer: String
        switch command {
        case "VERSION": answer = "VERSION \(Self.version) live chat service"
        case "PING": answer = "PING \(argument.prefix(64))"
        case "TIME": answer = "TIME \(Date().formatted(.iso8601))"
        case "CLIENTINFO": answer = "CLIENTINFO CLIENTINFO PING TIME VERSION"
        default: return
        }
        send(IRCMessage(source: serviceHostmask, command: "NOTICE", params: [client.nick, "\u{1}\(answer)\u{1}"]), to: client)
    }

    // MARK: HELP

    func serviceHelp(_ client: Client, _ arguments: [String]) {
        if let topic = arguments.first {
            guard let command = LiveChatService.byName[topic.uppercased()] else {
                serviceFail(client, code: "UNKNOWN_COMMAND", "No such command: \(topic). /msg LiveChat HELP lists the commands.")
                return
            }
            serviceSay(client, "\(command.usage) — \(command.summary)")
            for line in command.details { serviceSay(client, line) }
            return
        }
        serviceSay(client, "LiveChat commands (/msg LiveChat <command>; HELP <command> for details):")
        let width = LiveChatService.commands.map(\.usage.count).max() ?? 0
        for command in LiveChatService.commands {
            serviceSay(client, command.usage.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + command.summary)
        }
    }

    // MARK: NAME

    static let maximumChatName = OperatorStore.maxChatNameLength

    func serviceName(_ client: Client, _ arguments: [String]) {
        guard let account = client.account else { return }
        guard !arguments.isEmpty else {
            if let name = account.chatName {
                serviceOK(client, code: "NAME", "Your Online Chat Name is \(name): visitors see it.")
            } else {
                serviceOK(client, code: "NAME", "You have no Online Chat Name: visitors see your name, \(account.displayName). Set one with NAME <name>.")
            }
            return
        }
        let requested = arguments.joined(separator: " ")
        let newName: String?
        if requested == "-" {
            newName = nil
        } else {
            do {
                newName = try OperatorStore.validatedChatName(requested)
            } catch {
                serviceFail(client, code: "INVALID_NAME", "An Online Chat Name is 1 to \(Self.maximumChatName) characters, with a visible one and without control characters (\(error)). Nothing changed.")
                return
            }
        }
        updateAccount(client, command: "NAME", change: { try $0.setChatName(login: account.login, newName) }) { state, updated in
            if let name = updated.chatName {
                state.serviceOK(client, code: "NAME_SET", "Online Chat Name set: visitors now see \"\(name)\".")
            } else {
                state.serviceOK(client, code: "NAME_RESET", "Online Chat Name reset: visitors now see your name, \"\(updated.displayName)\".")
            }
        }
    }

    // MARK: LANG

    func serviceLang(_ client: Client, _ arguments: [String]) {
        guard let account = client.account else { return }
        let enabled = config.liveChat.languages
        let enabledText = enabled.map(\.description).joined(separator: ", ")
        guard !arguments.isEmpty else {
            let tags = account.languages
            let mine = tags.isEmpty ? "none" : tags.enumerated().map { $0.offset == 0 ? "\($0.element) (main)" : $0.element }.joined(separator: ", ")
            serviceOK(client, code: "LANG", context: [tags.joined(separator: ",")], "Your Online Chat Languages: \(mine). Enabled on this server: \(enabledText).")
            return
        }
        // "fr en", "fr,en", "fr, en" and "fr , en" all name two languages.
        switch LanguageList.parse(arguments.joined(separator: " "), enabled: enabled) {
        case .failure(let error):
            serviceFail(client, code: "INVALID_LANGUAGE", "\(error.description.prefix(1).uppercased() + error.description.dropFirst()). Nothing changed.")
        case .success(let tags):
            let codes = tags.map(\.description)
            updateAccount(client, command: "LANG", change: { try $0.setLanguages(login: account.login, codes) }) { state, updated in
                let list = updated.languages.enumerated().map { $0.offset == 0 ? "\($0.element) (main)" : $0.element }
                state.serviceOK(client, code: "LANG_SET", context: [updated.languages.joined(separator: ",")], "Online Chat Languages set: \(list.joined(separator: ", ")).")
            }
        }
    }

    /// Writes an account change off the event loop, then applies the stored
    /// account to every connection of that account before answering.
    private func updateAccount(_ client: Client, command: String, change: @escaping @Sendable (OperatorStore) throws -> OperatorAccount,
                               then: @escaping (ServerState, OperatorAccount) -> Void) {
        let operators = authenticator.operators
        let label = deferAnswer(client)
        let bound = NIOLoopBound((self, client, then), eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) { try change(operators) }.whenComplete { result in
            let (state, client, then) = bound.value
            state.answer(labeled: label, to: client) {
                switch result {
                case .success(let updated):
                    for connection in state.connections(ofAccount: updated.login) { connection.account = updated }
                    if !client.isClosing { then(state, updated) }
                case .failure(let error):
                    state.logger.error("account update failed", metadata: ["command": "\(command)", "error": "\(error)"])
                    state.serviceFail(client, code: "INTERNAL_ERROR", "Could not save the change: \(error). Nothing changed.")
                }
            }
        }
    }

    // MARK: STATUS

    func serviceStatus(_ client: Client, _ arguments: [String]) {
        guard let account = client.account else { return }
        let now = Date()
        let connections = self.connections(ofAccount: account.login)
        let joined = liveChatChannels.filter { channel in connections.contains { channel.members[$0] != nil } }
        let languages = account.languages.enumerated().map { $0.offset == 0 ? "\($0.element) (main)" : $0.element }
        serviceSay(client, "Online Chat Name: \(account.visibleName). Languages: \(languages.isEmpty ? "none" : languages.joined(separator: ", ")).")
        if account.isBot {
            // Bots join no channel: they answer the channels whose `bot` they are, while connected.
            let mine = liveChatChannels.filter { $0.liveChat?.bot?.lowercased() == account.login.lowercased() }
            guard !mine.isEmpty else {
                serviceOK(client, code: "NOT_A_CHANNEL_BOT", "No live chat channel names you as its bot ([[livechat.channel]] bot), so no conversation comes to you.")
                return
            }
            for channel in mine {
                guard let settings = channel.liveChat else { continue }
                let when = settings.botWhen == .always ? "every new conversation" : "new conversations when no operator is available"
                let ongoing = conversations.values.filter { !$0.isClosed && $0.settings.slug == settings.slug
                    && $0.record.operators.contains { $0.lowercased() == account.login.lowercased() } }.count
                serviceOK(client, code: "CHANNEL_BOT", context: [channel.name, settings.botWhen.rawValue, String(ongoing)],
                          "\(channel.name) (\(settings.name)): you are its bot and get \(when) while connected; \(ongoing) open.")
            }
            return
        }
        if joined.isEmpty {
            let names = liveChatChannels.map(\.name).joined(separator: ", ")
            // Conversations already yours stay yours out of the channel: say how many.
            let count = liveChatChannels.first.flatMap { availability(login: account.login, in: $0, now: now) }?.ongoing ?? 0
            let ongoing = count == 1 ? "1 ongoing conversation" : "\(count) ongoing conversations"
            serviceOK(client, code: "NOT_JOINED", context: [String(count)],
                      "You are in no live chat channel, so no new conversation comes to you; you have \(ongoing). Join one: \(names).")
            return
        }
        for channel in joined {
            guard let availability = availability(login: account.login, in: channel, now: now), let settings = channel.liveChat else { continue }
            let ongoing = availability.ongoing == 1 ? "1 ongoing conversation" : "\(availability.ongoing) ongoing conversations"
            if availability.isAvailable {
                serviceOK(client, code: "AVAILABLE", context: [channel.name, String(availability.ongoing)], "\(channel.name) (\(settings.name)): available for new conversations; \(ongoing).")
            } else {
                let why = availability.reasons.map(\.description).joined(separator: ", ")
                serviceOK(client, code: "UNAVAILABLE", context: [channel.name, availability.reasons.map(\.code).joined(separator: ","), String(availability.ongoing)], "\(channel.name) (\(settings.name)): not available (\(why)); \(ongoing).")
            }
        }
        let others = liveChatChannels.filter { channel in !joined.contains { $0 === channel } }
        if !others.isEmpty {
            serviceSay(client, "Not joined: \(others.map(\.name).joined(separator: ", ")).")
        }
    }
}

extension Availability.Reason {
    /// A stable machine-readable word for NOTE replies.
    var code: String {
        switch self {
        case .disconnected: "disconnected"
        case .notJoined: "not_joined"
        case .away: "away"
        case .inactive: "inactive"
        case .atMaxSessions: "max_sessions"
        }
    }
}
