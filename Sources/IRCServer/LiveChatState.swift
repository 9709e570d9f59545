import Foundation
import IRCProtocol
import LiveChat
import Storage

/// What the server remembers about an operator account beyond its connections:
/// the conversations assigned to it and when it last got one. Together with the
/// live connections (joined, away, active) this is everything the assignment
/// rule needs, kept in one place.
struct OperatorRecord {
    var conversations: [Int64: AssignedConversation] = [:]
    var lastAssignedAt: Date?
    /// The last message of each conversation that reached one of the account's connections.
    var seen: [Int64: Int64] = [:]
    /// Per conversation, the account's connections that were in it and dropped out
    /// (lost link, restart) without leaving it, oldest first: one that comes back
    /// is replayed from where it left, not the whole conversation.
    var departed: [Int64: [DepartedDevice]] = [:]
}

extension ServerState {
    var assignmentSettings: AssignmentSettings {
        AssignmentSettings(
            inactivityTimeout: config.liveChat.inactivityTimeout,
            maxSessions: config.liveChat.maxSessions)
    }

    /// The live chat channels of the config, in config order.
    var liveChatChannels: [IRCChannel] {
        config.liveChat.channels.compactMap { channel(named: $0.irc) }
    }

    /// The registered connections of an account (one account may use several clients).
    func connections(ofAccount login: String) -> [Client] {
        accountConnections[login.lowercased()] ?? []
    }

    /// The assignment rule's view of one account in one live chat channel. The
    /// account counts as available while any of its connections is: the best of
    /// its connections in the channel speaks for it (not away first, then the most
    /// recently active).
    func operatorState(login: String, in channel: IRCChannel) -> OperatorState? {
        let connections = self.connections(ofAccount: login)
        guard let account = connections.first?.account else { return nil }
        let inChannel = connections.filter { channel.members[$0] != nil }
        let candidates = inChannel.isEmpty ? connections : inChannel
        let best = candidates.min { a, b in
            if (a.awayMessage == nil) != (b.awayMessage == nil) { return a.awayMessage == nil }
            return a.lastActivityDate > b.lastActivityDate
        }
        let languages = account.languages.compactMap(LanguageTag.init)
        let record = operatorRecords[account.login.lowercased()] ?? OperatorRecord()
        return OperatorState(
            login: account.login,
            isBot: account.isBot,
            joinedChannels: inChannel.isEmpty ? [] : [channel.folded],
            connected: true,
            away: best?.awayMessage != nil,
            lastActivity: best?.lastActivityDate ?? .distantPast,
            mainLanguage: languages.first,
            additionalLanguages: Array(languages.dropFirst()),
            conversations: Array(record.conversations.values),
            lastAssignedAt: record.lastAssignedAt)
    }

    /// Every connected account, as the rule sees it in `channel`.
    func operatorStates(in channel: IRCChannel) -> [OperatorState] {
        accountConnections.keys.sorted().compactMap { operatorState(login: $0, in: channel) }
    }

    func availability(login: String, in channel: IRCChannel, now: Date) -> Availability? {
        operatorState(login: login, in: channel).map {
            Availability.evaluate($0, channel: channel.folded, settings: assignmentSettings, now: now)
        }
    }

    /// Asks the assignment rule who should get a new conversation of `channel` now.
    func decideAssignment(in channel: IRCChannel, visitorLanguages: [LanguageTag], previousOperator: String?,
                          excluding excluded: Set<String> = [], now: Date) -> AssignmentDecision {
        let request = AssignmentRequest(channel: channel.folded, visitorLanguages: visitorLanguages,
                                        previousOperator: previousOperator, excludedLogins: excluded)
        return Assignment.decide(request, operators: operatorStates(in: channel), settings: assignmentSettings, now: now)
    }

    // MARK: Live chat channels

    func createLiveChatChannels() {
        for settings in config.liveChat.channels {
            let folded = casemapping.fold(settings.irc)
            let channel = IRCChannel(name: settings.irc, folded: folded)
            channel.isPermanent = true
            channel.liveChat = settings
            channel.topic = "\(settings.name) — live chat channel: join to receive its conversations"
            channel.topicSetBy = config.serverName
            channel.topicSetAt = startedAt
            channels[folded] = channel
        }
    }

    /// Why `client` may not join the live chat channel, or nil.
    /// Whether a folded channel name has the shape of a conversation's (`#website-17`):
    /// such names belong to conversations, open or ended.
    func isConversationName(_ folded: String) -> Bool {
        config.liveChat.channels.contains { settings in
            let prefix = casemapping.fold(settings.irc) + "-"
            guard folded.hasPrefix(prefix) else { return false }
            let number = folded.dropFirst(prefix.count)
            return !number.isEmpty && number.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    func liveChatJoinRefusal(_ client: Client, channel: IRCChannel) -> String? {
        guard channel.liveChat != nil else { return nil }
        if client.account?.isBot == true {
            return "Cannot join channel (only operators join live chat channels; a bot gets conversations through the channel's bot setting)"
        }
        return nil
    }

    func joinedLiveChat(_ client: Client, channel: IRCChannel) {
        guard let settings = channel.liveChat else { return }
        defer {
            joinConversations(client, of: channel)
            assignWaiting()
        }
        var text = "You joined \(channel.name) (\(settings.name)): "
        if client.awayMessage != nil {
            text += "you are away, so no new conversations come to you until you are back (/away)."
        } else {
            text += "new conversations of \(settings.name) can now be assigned to you. /part \(channel.name) to stop."
        }
        serviceSay(client, text)
    }

    /// Parts operators who showed no activity for `inactivity_timeout` from every
    /// live chat channel, and tells them why.
    func removeInactiveOperators(now: Date) {
        let timeout = config.liveChat.inactivityTimeout
        guard timeout > 0 else { return }
        let reason = "Inactive for " + DurationText.describe(timeout)
        let inactive = Array(nicks.values).filter { now.timeIntervalSince($0.lastActivityDate) >= timeout }
        let removed = Set(inactive.map(ObjectIdentifier.init))
        for client in inactive {
            let joined = client.channels.values.filter { $0.liveChat != nil }.sorted { $0.folded < $1.folded }
            guard !joined.isEmpty else { continue }
            for channel in joined { part(client, from: channel, reason: reason) }
            let names = joined.map(\.name).joined(separator: ", ")
            // Availability is the account's: another connection of it that stays in a channel,
            // and is not away, keeps the account available there.
            let others = client.account.map { account in
                connections(ofAccount: account.login).filter { !removed.contains(ObjectIdentifier($0)) && $0.awayMessage == nil }
            } ?? []
            let covered = joined.filter { channel in others.contains { channel.members[$0] != nil } }
            let uncovered = joined.filter { channel in !covered.contains { $0 === channel } }
            let outcome: String
            if covered.isEmpty {
                outcome = "you were removed from \(names) and get no new conversations"
            } else if uncovered.isEmpty {
                outcome = "this connection was removed from \(names); new conversations still come to your other connection there"
            } else {
                outcome = "this connection was removed from \(names); new conversations of "
                    + covered.map(\.name).joined(separator: ", ") + " still come to your other connection, none of "
                    + uncovered.map(\.name).joined(separator: ", ")
            }
            let rejoin = (uncovered.first ?? joined[0]).name
            serviceSay(client, "\(reason): \(outcome). Join again (/join \(rejoin)) when you are back.")
            logger.info("inactive operator removed", metadata: ["nick": "\(client.nick)", "channels": "\(names)"])
        }
    }
}
