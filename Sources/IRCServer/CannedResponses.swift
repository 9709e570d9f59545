import Foundation
import IRCProtocol
import NIOCore
import Storage

/// Canned responses: `CANNED ADD hello Hello! How can I help you today?` once, then
/// `::hello` in any conversation. They are kept in memory (loaded at start-up,
/// updated after each stored change), so expanding one costs no database read.
extension ServerState {
    enum Expansion {
        case unchanged
        case expanded(String)
        case unknown([String])
    }

    /// Replaces every `::shortcut` that stands as a word (alone, or between spaces,
    /// optionally followed by punctuation) with its text.
    func expandCannedResponses(in text: String) -> Expansion {
        guard text.contains("::") else { return .unchanged }
        var unknown: [String] = []
        var changed = false
        var words: [String] = []
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            guard word.hasPrefix("::"), word.count > 2 else {
                words.append(String(word))
                continue
            }
            var name = word.dropFirst(2)
            var trailing = ""
            while let last = name.last, ".,!?;:".contains(last) {
                trailing = String(last) + trailing
                name = name.dropLast()
            }
            guard let key = CannedResponseStore.normalize(String(name)) else {
                words.append(String(word))
                continue
            }
            if let response = cannedResponses[key] {
                words.append(response.text + trailing)
                changed = true
            } else {
                unknown.append("::" + key)
            }
        }
        if !unknown.isEmpty { return .unknown(unknown) }
        return changed ? .expanded(words.joined(separator: " ")) : .unchanged
    }

    func serviceCanned(_ client: Client, _ arguments: [String]) {
        guard let account = client.account else { return }
        let subcommand = arguments.first?.uppercased() ?? "LIST"
        switch subcommand {
        case "LIST":
            let responses = cannedResponses.values.sorted { $0.shortcut < $1.shortcut }
            if responses.isEmpty {
                serviceOK(client, code: "CANNED_LIST", context: ["0"], "There are no canned responses yet. CANNED ADD <shortcut> <text> adds one.")
                return
            }
            serviceOK(client, code: "CANNED_LIST", context: [String(responses.count)], "Canned responses (type ::shortcut in a conversation):")
            for response in responses {
                serviceOK(client, code: "CANNED", context: [response.shortcut], "::\(response.shortcut) — \(response.text)")
            }
        case "ADD":
            guard arguments.count >= 3 else {
                serviceFail(client, code: "NEED_MORE_PARAMS", "Usage: CANNED ADD <shortcut> <text>")
                return
            }
            let shortcut = arguments[1].hasPrefix("::") ? String(arguments[1].dropFirst(2)) : arguments[1]
            guard CannedResponseStore.normalize(shortcut) != nil else {
                serviceFail(client, code: "INVALID_SHORTCUT", "A shortcut is 1 to 32 letters, digits, - or _ (like hello or opening-hours). Nothing changed.")
                return
            }
            let text = arguments.dropFirst(2).joined(separator: " ")
            let login = account.login
            let store = database.cannedResponses
            let bound = NIOLoopBoundClient(client: client, loop: loop)
            let loop = self.loop
            let state = NIOLoopBound(self, eventLoop: loop)
            let label = deferAnswer(client)
            authenticator.pool.runIfActive(eventLoop: loop) { try store.add(shortcut: shortcut, text: text, by: login) }
                .whenComplete { result in
                    let state = state.value
                    let client = bound.client
                    state.answer(labeled: label, to: client) {
                    switch result {
                    case .success(let (response, replaced)):
                        state.cannedResponses[response.shortcut] = response
                        state.serviceOK(client, code: replaced ? "CANNED_REPLACED" : "CANNED_ADDED", context: [response.shortcut],
                                        "\(replaced ? "Replaced" : "Added") ::\(response.shortcut): \(response.text)")
                    case .failure(let error):
                        state.serviceFail(client, code: "INVALID_CANNED", "\(error). Nothing changed.")
                    }
                    }
                }
        case "DEL", "DELETE", "REMOVE":
            guard arguments.count >= 2 else {
                serviceFail(client, code: "NEED_MORE_PARAMS", "Usage: CANNED DEL <shortcut>")
                return
            }
            let shortcut = arguments[1].hasPrefix("::") ? String(arguments[1].dropFirst(2)) : arguments[1]
            guard let key = CannedResponseStore.normalize(shortcut), cannedResponses[key] != nil else {
                serviceFail(client, code: "UNKNOWN_CANNED", "There is no canned response ::\(shortcut).")
                return
            }
            let store = database.cannedResponses
            let bound = NIOLoopBoundClient(client: client, loop: loop)
            let state = NIOLoopBound(self, eventLoop: loop)
            let label = deferAnswer(client)
            authenticator.pool.runIfActive(eventLoop: loop) { try store.remove(key) }.whenComplete { result in
                let state = state.value
                let client = bound.client
                state.answer(labeled: label, to: client) {
                switch result {
                case .success:
                    state.cannedResponses[key] = nil
                    state.serviceOK(client, code: "CANNED_DELETED", context: [key], "Deleted ::\(key).")
                case .failure(let error):
                    state.serviceFail(client, code: "INTERNAL_ERROR", "Could not delete ::\(key): \(error)")
                }
                }
            }
        default:
            serviceFail(client, code: "UNKNOWN_COMMAND", "Usage: CANNED [LIST | ADD <shortcut> <text> | DEL <shortcut>]")
        }
    }
}
