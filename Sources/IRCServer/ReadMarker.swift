import Foundation
import IRCProtocol
import NIOCore
import Storage

/// IRCv3 `draft/read-marker`: per account and target, the time of the last
/// message the user has read, shared by all the account's connections.
///
/// An account's markers are read from the database once, the first time they
/// are needed, and then kept on the loop: MARKREAD and the marker after a JOIN
/// are answered at once (before RPL_ENDOFNAMES, as the spec wants, except while
/// that first read runs). A marker only moves forward, and never past the
/// present; changes are written behind, forward-only in the database too.
extension ServerState {
    /// The most targets one account keeps markers for.
    static let readMarkerLimit = 1_000

    func handleMarkRead(_ client: Client, _ message: IRCMessage) {
        guard let target = message.params.first, !target.isEmpty else {
            sendFail(client, command: "MARKREAD", code: "NEED_MORE_PARAMS", description: "Missing parameters", always: true)
            return
        }
        let isChannel = IRCNames.isChannelTarget(target)
        let valid = isChannel
            ? IRCNames.isValidChannel(target, maxLength: ISupport.channelLength)
            : IRCNames.isValidNick(target, maxLength: ISupport.nickLength)
        guard valid, let login = client.account?.login else {
            sendFail(client, command: "MARKREAD", code: "INVALID_PARAMS", context: [target],
                     description: "Invalid target", always: true)
            return
        }
        var requested: Int64?
        if message.params.count > 1 {
            let text = message.params[1]
            guard text.hasPrefix("timestamp="), let date = ServerTime.parse(String(text.dropFirst("timestamp=".count))) else {
                sendFail(client, command: "MARKREAD", code: "INVALID_PARAMS", context: [text],
                         description: "Invalid timestamp", always: true)
                return
            }
            // Never in the future.
            requested = min(Self.markerMilliseconds(date), Self.markerMilliseconds(Date()))
        }
        let folded = casemapping.fold(target)
        let name = isChannel ? channel(named: target)?.name ?? target : target
        // Answered later the first time the account's markers are needed: the label goes with the answer.
        let label = chatHistory.markers[login.lowercased()] == nil ? deferAnswer(client) : nil
        withReadMarkers(of: login) { state in
            state.markRead(client, login: login, folded: folded, name: name, requested: requested, label: label)
        }
    }

    private func markRead(_ client: Client, login: String, folded: String, name: String, requested: Int64?, label: String?) {
        let key = login.lowercased()
        let current = chatHistory.markers[key]?[folded]
        guard let requested else {
            answerMarker(client, name: name, at: current, label: label)
            return
        }
        if let current, requested <= current {
            answerMarker(client, name: name, at: current, label: label)
            return
        }
        if current == nil, chatHistory.markers[key, default: [:]].count >= Self.readMarkerLimit {
            answer(labeled: label, to: client) {
                sendFail(client, command: "MARKREAD", code: "INTERNAL_ERROR", context: [name],
                         description: "Too many read markers", always: true)
            }
            return
        }
        chatHistory.markers[key, default: [:]][folded] = requested
        let store = database.readMarkers
        let date = Date(timeIntervalSince1970: Double(requested) / 1000)
        let bound = NIOLoopBound(self, eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) {
            try store.advance(account: login, target: folded, to: date)
        }.whenComplete { result in
            if case .failure(let error) = result {
                bound.value.logger.error("could not store a read marker", metadata: ["error": "\(error)"])
            }
        }
        let update = markerMessage(name: name, at: requested)
        for connection in connections(ofAccount: login) where connection !== client && connection.has(.readMarker) {
            send(update, to: connection)
        }
        answer(labeled: label, to: client) { send(update, to: client) }
    }

    /// Whether `client`'s read markers can be used without waiting for the database.
    func readMarkersLoaded(for client: Client) -> Bool {
        guard client.has(.readMarker), let login = client.account?.login else { return true }
        return chatHistory.markers[login.lowercased()] != nil
    }

    /// After a JOIN: the account's marker for the channel, to clients with the cap.
    /// Runs `body` once `client`'s account has its read markers loaded (at once when they
    /// are, or when the client does not use them): a joined channel's `MARKREAD` must come
    /// before its `NAMES`, and the first read after a start comes from the database.
    func whenReadMarkersReady(for client: Client, _ body: @escaping (ServerState) -> Void) {
        guard client.has(.readMarker), let login = client.account?.login else {
            body(self)
            return
        }
        withReadMarkers(of: login, body)
    }

    func sendReadMarker(_ client: Client, _ channel: IRCChannel) {
        guard client.has(.readMarker), let login = client.account?.login else { return }
        let folded = channel.folded
        let name = channel.name
        withReadMarkers(of: login) { state in
            guard client.channels[folded] != nil else { return }
            state.send(state.markerMessage(name: name, at: state.chatHistory.markers[login.lowercased()]?[folded]), to: client)
        }
    }

    private func answerMarker(_ client: Client, name: String, at: Int64?, label: String?) {
        let message = markerMessage(name: name, at: at)
        answer(labeled: label, to: client) { send(message, to: client) }
    }

    private func markerMessage(name: String, at: Int64?) -> IRCMessage {
        let value = at.map { "timestamp=" + ServerTime.format(millisecondsSince1970: $0) } ?? "*"
        return IRCMessage(source: config.serverName, command: "MARKREAD", params: [name, value])
    }

    /// Runs `body` once the account's markers are loaded: at once when they are.
    private func withReadMarkers(of login: String, _ body: @escaping (ServerState) -> Void) {
        let key = login.lowercased()
        if chatHistory.markers[key] != nil {
            body(self)
            return
        }
        if chatHistory.loadingMarkers[key] != nil {
            chatHistory.loadingMarkers[key]!.append(body)
            return
        }
        chatHistory.loadingMarkers[key] = [body]
        let store = database.readMarkers
        let bound = NIOLoopBound(self, eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) { try store.markers(account: login) }.whenComplete { result in
            let state = bound.value
            var loaded: [String: Int64] = [:]
            switch result {
            case .success(let markers):
                for (target, date) in markers { loaded[target] = Self.markerMilliseconds(date) }
            case .failure(let error):
                state.logger.error("could not read read markers", metadata: ["error": "\(error)"])
            }
            state.chatHistory.markers[key] = loaded
            let waiting = state.chatHistory.loadingMarkers.removeValue(forKey: key) ?? []
            for body in waiting { body(state) }
            // After a failure, the next request reads them again.
            if case .failure = result { state.chatHistory.markers[key] = nil }
        }
    }

    private static func markerMilliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
