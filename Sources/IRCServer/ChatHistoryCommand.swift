import Foundation
import IRCProtocol
import LiveChat
import NIOCore
import Storage

/// IRCv3 `draft/chathistory`: the CHATHISTORY command over the stored messages
/// of ordinary channels (the client must be a member) and of conversations
/// (the client's account must be one of its operators, or the client in its
/// channel). Direct messages are not kept: a nick target has no history.
///
/// Reads run on the thread pool, after the channel messages buffered so far
/// are written. The answer is a `chathistory` batch (plain lines for clients
/// without batch); with labeled-response the label goes on the batch (the
/// command's label is deferred: see `deferLabel`).
extension ServerState {
    /// The most messages one CHATHISTORY returns (ISUPPORT `CHATHISTORY`).
    static let chatHistoryLimit = 100

    private enum HistoryTarget {
        case channel(folded: String, name: String)
        case conversation(Conversation)
        /// A nick (or `*`, all direct messages): nothing is kept.
        case nothing(name: String)
    }

    func handleChatHistory(_ client: Client, _ message: IRCMessage) {
        let params = message.params
        guard let first = params.first else {
            sendFail(client, command: "CHATHISTORY", code: "NEED_MORE_PARAMS", description: "Missing parameters", always: true)
            return
        }
        let subcommand = first.uppercased()
        let needed: Int
        switch subcommand {
        case "LATEST", "BEFORE", "AFTER", "AROUND", "TARGETS": needed = 4
        case "BETWEEN": needed = 5
        default:
            sendFail(client, command: "CHATHISTORY", code: "UNKNOWN_COMMAND", context: [first],
                     description: "Unknown subcommand", always: true)
            return
        }
        guard params.count >= needed else {
            sendFail(client, command: "CHATHISTORY", code: "NEED_MORE_PARAMS", context: [subcommand],
                     description: "Missing parameters", always: true)
            return
        }
        guard let limit = historyLimit(client, subcommand: subcommand, params[needed - 1]) else { return }
        if subcommand == "TARGETS" {
            chatHistoryTargets(client, from: params[1], to: params[2], limit: limit)
            return
        }

        let targetName = params[1]
        var references: [HistoryReference] = []
        for (index, text) in params[2..<(needed - 1)].enumerated() {
            if subcommand == "LATEST", index == 0, text == "*" { continue }
            guard let reference = Self.historyReference(text) else {
                sendFail(client, command: "CHATHISTORY", code: "INVALID_PARAMS", context: [subcommand, text],
                         description: "Invalid message reference", always: true)
                return
            }
            references.append(reference)
        }
        let request: HistoryRequest
        switch subcommand {
        case "LATEST": request = .latest(after: references.first, limit: limit)
        case "BEFORE": request = .before(references[0], limit: limit)
        case "AFTER": request = .after(references[0], limit: limit)
        case "AROUND": request = .around(references[0], limit: limit)
        default: request = .between(references[0], references[1], limit: limit)
        }
        guard let target = historyTarget(targetName, for: client) else {
            sendFail(client, command: "CHATHISTORY", code: "INVALID_TARGET", context: [subcommand, targetName],
                     description: "Messages could not be retrieved", always: true)
            return
        }

        let label = deferAnswer(client)
        let bound = NIOLoopBound(client, eventLoop: loop)
        let state = NIOLoopBound(self, eventLoop: loop)
        let pool = authenticator.pool
        let loop = self.loop
        switch target {
        case .nothing(let name):
            sendHistoryBatch(client, label: label, type: "chathistory", params: [name], lines: [])
        case .channel(let folded, let name):
            let store = channelHistoryStore
            flushChannelHistory().flatMap {
                pool.runIfActive(eventLoop: loop) { try store.messages(channel: folded, request) }
            }.whenComplete { result in
                let (state, client) = (state.value, bound.value)
                switch result {
                case .success(let messages):
                    let lines = messages.map { state.historyLine($0, for: client) }
                    state.sendHistoryBatch(client, label: label, type: "chathistory", params: [name], lines: lines)
                case .failure(let error):
                    state.historyFailed(client, label: label, subcommand: subcommand, target: targetName, error: error)
                }
            }
        case .conversation(let conversation):
            let store = conversationStore
            let id = conversation.id
            let bound = NIOLoopBound((client, conversation), eventLoop: loop)
            pool.runIfActive(eventLoop: loop) { try store.history(conversationID: id, request) }.whenComplete { result in
                let state = state.value
                let (client, conversation) = bound.value
                switch result {
                case .success(let messages):
                    let lines = messages.map { state.historyLine($0, in: conversation, for: client) }
                    state.sendHistoryBatch(client, label: label, type: "chathistory", params: [conversation.channel.name],
                                           lines: lines)
                case .failure(let error):
                    state.historyFailed(client, label: label, subcommand: subcommand, target: targetName, error: error)
                }
            }
        }
    }

    // MARK: TARGETS

    /// The channels and conversations the client may read with messages between
    /// the two times, each with the time of its newest one there: the oldest
    /// `limit` when `from` is the earlier time, the newest otherwise; in
    /// ascending order of time either way.
    private func chatHistoryTargets(_ client: Client, from: String, to: String, limit: Int) {
        var bounds: [Date] = []
        for text in [from, to] {
            guard case .timestamp(let date) = Self.historyReference(text) else {
                sendFail(client, command: "CHATHISTORY", code: "INVALID_PARAMS", context: ["TARGETS", text],
                         description: "TARGETS takes two timestamps", always: true)
                return
            }
            bounds.append(date)
        }
        let newestFirst = bounds[0] > bounds[1]
        let (after, before) = (bounds.min()!, bounds.max()!)
        var channelNames: [String: String] = [:]
        for channel in client.channels.values where channel.conversation == nil {
            channelNames[channel.folded] = channel.name
        }
        var conversationNames: [Int64: String] = [:]
        for conversation in conversations.values where !conversation.isClosed && mayRead(conversation, client) {
            conversationNames[conversation.id] = conversation.channel.name
        }

        let label = deferAnswer(client)
        let channelStore = channelHistoryStore
        let conversationStore = self.conversationStore
        let pool = authenticator.pool
        let loop = self.loop
        let (channelNamed, conversationNamed) = (channelNames, conversationNames)
        let channels = Array(channelNames.keys)
        let ids = Array(conversationNames.keys)
        let state = NIOLoopBound(self, eventLoop: loop)
        let bound = NIOLoopBound(client, eventLoop: loop)
        flushChannelHistory().flatMap {
            pool.runIfActive(eventLoop: loop) {
                (try channelStore.latestActivity(channels: channels, after: after, before: before),
                 try conversationStore.latestActivity(conversationIDs: ids, after: after, before: before))
            }
        }.whenComplete { result in
            let (state, client) = (state.value, bound.value)
            switch result {
            case .success(let (channelTimes, conversationTimes)):
                var found: [(name: String, at: Date)] = []
                for (folded, at) in channelTimes { found.append((channelNamed[folded] ?? folded, at)) }
                for (id, at) in conversationTimes { found.append((conversationNamed[id] ?? "#\(id)", at)) }
                found.sort { ($0.at, $0.name) < ($1.at, $1.name) }
                let kept = newestFirst ? Array(found.suffix(limit)) : Array(found.prefix(limit))
                let lines = kept.map { entry in
                    IRCMessage(source: state.config.serverName, command: "CHATHISTORY",
                               params: ["TARGETS", entry.name, ServerTime.format(entry.at)])
                }
                state.sendHistoryBatch(client, label: label, type: "draft/chathistory-targets", params: [], lines: lines)
            case .failure(let error):
                state.historyFailed(client, label: label, subcommand: "TARGETS", target: "*", error: error)
            }
        }
    }

    // MARK: Parameters and access

    /// `timestamp=...` or `msgid=...`.
    static func historyReference(_ text: String) -> HistoryReference? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let value = String(text[text.index(after: equals)...])
        guard !value.isEmpty else { return nil }
        switch text[..<equals] {
        case "timestamp": return ServerTime.parse(value).map(HistoryReference.timestamp)
        case "msgid": return .msgid(value)
        default: return nil
        }
    }

    /// The limit, at most `chatHistoryLimit`; nil (and a FAIL sent) when it is not a positive number.
    private func historyLimit(_ client: Client, subcommand: String, _ text: String) -> Int? {
        // A positive number too large for an Int is still a large limit: cut, like any other.
        let digits = !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if digits, Int(text) == nil { return Self.chatHistoryLimit }
        guard let limit = Int(text), limit > 0 else {
            sendFail(client, command: "CHATHISTORY", code: "INVALID_PARAMS", context: [subcommand, text],
                     description: "Invalid limit", always: true)
            return nil
        }
        return min(limit, Self.chatHistoryLimit)
    }

    /// What `name` refers to for this client, or nil when it may not read it
    /// (or it does not exist: the two look the same).
    private func historyTarget(_ name: String, for client: Client) -> HistoryTarget? {
        if IRCNames.isChannelTarget(name) {
            guard let channel = channel(named: name) else { return nil }
            if let conversation = channel.conversation {
                return mayRead(conversation, client) ? .conversation(conversation) : nil
            }
            // Secret or not, only members read a channel's history.
            return channel.members[client] != nil ? .channel(folded: channel.folded, name: channel.name) : nil
        }
        if name == "*" || IRCNames.isValidNick(name, maxLength: ISupport.nickLength) {
            return .nothing(name: name)
        }
        return nil
    }

    /// An operator of the conversation, or a connection in its channel.
    private func mayRead(_ conversation: Conversation, _ client: Client) -> Bool {
        if conversation.channel.members[client] != nil { return true }
        guard let login = client.account?.login.lowercased() else { return false }
        return conversation.record.operators.contains { $0.lowercased() == login }
    }

    // MARK: Replies

    /// A stored channel message as it was relayed.
    private func historyLine(_ message: ChannelMessage, for client: Client) -> IRCMessage {
        var tags = [IRCTag("time", ServerTime.format(message.at)), IRCTag("msgid", message.msgid)]
        if let account = message.account { tags.append(IRCTag("account", account)) }
        tags.append(contentsOf: Self.parsedTags(message.tags))
        return IRCMessage(tags: tags, source: message.source, command: message.command,
                          params: [message.name, historyText(message.text, at: message.at, for: client)])
    }

    /// A stored conversation message as it was relayed (as the replay to operators shows it).
    private func historyLine(_ message: StoredMessage, in conversation: Conversation, for client: Client) -> IRCMessage {
        var tags = [IRCTag("time", ServerTime.format(message.at)), IRCTag("msgid", String(message.id))]
        if message.authorKind == .operator || message.authorKind == .bot, let login = message.authorLogin {
            tags.append(IRCTag("account", login))
        }
        if message.authorKind == .bot { tags.append(IRCTag("bot")) }
        return IRCMessage(tags: tags, source: hostmask(of: message, in: conversation), command: "PRIVMSG",
                          params: [conversation.channel.name, historyText(ircText(of: message), at: message.at, for: client)])
    }

    private func historyFailed(_ client: Client, label: String?, subcommand: String, target: String, error: any Error) {
        logger.error("could not read chat history", metadata: ["target": "\(target)", "error": "\(error)"])
        answer(labeled: label, to: client) {
            sendFail(client, command: "CHATHISTORY", code: "MESSAGE_ERROR", context: [subcommand, target],
                     description: "Messages could not be retrieved", always: true)
        }
    }

    /// Lines in a batch of `type` (BATCH +ref type params...), the label (of a
    /// deferred command) on the batch; clients without batch get the lines alone.
    func sendHistoryBatch(_ client: Client, label: String?, type: String, params: [String], lines: [IRCMessage]) {
        guard !client.isClosing else { return }
        guard client.has(.batch) else {
            answer(labeled: label, to: client) {
                for line in lines { send(line, to: client) }
            }
            return
        }
        _ = endDeferredAnswer(client)   // CHATHISTORY defers once: this is its whole answer
        writeBatch(to: client, type: type, params: params, label: label, lines: lines)
        resumeInput(client)
    }
}
