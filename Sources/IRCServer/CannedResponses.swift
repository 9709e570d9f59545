import Foundation
import IRCProtocol
import LiveChat
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

    /// Replaces every known `::shortcut` with its text, without formatting codes (the
    /// visitor reads plain text): at the start, after a space or punctuation, or
    /// right after another shortcut (`(::thanks)`, `::a,::b`), not inside a word
    /// (`std::vector`). An unknown one that stands as a word (alone or between
    /// spaces, optionally followed by punctuation) stops the message: a typo must not
    /// reach the visitor. Other `::` (an IPv6 address's `[::1]`) are left as they are.
    func expandCannedResponses(in text: String, keepingFormatting: Bool = false) -> Expansion {
        guard text.contains("::") else { return .unchanged }
        let characters = Array(text)
        func isShortcutCharacter(_ character: Character) -> Bool {
            character.isASCII && (character.isLetter || character.isNumber || character == "-" || character == "_")
        }
        var result = ""
        var unknown: [String] = []
        var changed = false
        var index = 0
        var lastExpansionEnd = -1
        while index < characters.count {
            let startsShortcut = characters[index] == ":" && index + 1 < characters.count && characters[index + 1] == ":"
                && (index == 0 || index == lastExpansionEnd
                    || !isShortcutCharacter(characters[index - 1]) && characters[index - 1] != ":")
            if startsShortcut {
                var end = index + 2
                while end < characters.count, isShortcutCharacter(characters[end]) { end += 1 }
                if let key = CannedResponseStore.normalize(String(characters[(index + 2)..<end])) {
                    if let response = cannedResponses[key] {
                        result += keepingFormatting ? response.text : OperatorText.plain(response.text)
                        changed = true
                        index = end
                        lastExpansionEnd = end
                        continue
                    }
                    var after = end
                    while after < characters.count, ".,!?;:".contains(characters[after]) { after += 1 }
                    let standsAlone = (index == 0 || characters[index - 1] == " ")
                        && (after == characters.count || characters[after] == " ")
                    if standsAlone { unknown.append("::" + key) }
                }
            }
            result.append(characters[index])
            index += 1
        }
        if !unknown.isEmpty { return .unknown(unknown) }
        return changed ? .expanded(result) : .unchanged
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
            // A shortcut whose expansion shows the visitor nothing could never be sent.
            // Formatting codes are how IRC clients write bold or colours; anything else is a typo.
            if let stray = OperatorText.firstStrayControl(in: text) {
                let code = "U+" + String(format: "%04X", stray.value)
                serviceFail(client, code: "INVALID_CANNED", "A canned response may have formatting codes and tabs, not other control characters (\(code) here). Nothing changed.")
                return
            }
            guard OperatorText.hasVisibleText(text) else {
                serviceFail(client, code: "INVALID_CANNED", "A canned response needs text the visitor can see; formatting codes, control and invisible characters alone are not. Nothing changed.")
                return
            }
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
                serviceFail(client, code: "UNKNOWN_CANNED", context: [shortcut], "There is no canned response ::\(shortcut).")
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
