import Foundation
import LiveChat

/// Fixed clock for every test: 2023-11-14 14:30:00 UTC.
let now = Date(timeIntervalSince1970: 1_699_920_000 + 14 * 3600 + 30 * 60)
let website = "#website"

func ago(minutes: Double) -> Date { now.addingTimeInterval(-minutes * 60) }

/// A tag from a literal the test knows to be valid.
func tag(_ text: String) -> LanguageTag {
    guard let tag = LanguageTag(text) else { fatalError("invalid test tag \(text)") }
    return tag
}

func tags(_ texts: String...) -> [LanguageTag] { texts.map(tag) }

let enabled = tags("en", "fr", "es", "de")

/// An available operator in #website (active a minute ago), unless told otherwise.
/// `ongoing` adds that many conversations with a message 5 minutes ago.
func op(
    _ login: String,
    _ languages: [String] = [],
    ongoing: Int = 0,
    conversations: [AssignedConversation] = [],
    lastAssigned minutesAgo: Double? = nil,
    bot: Bool = false,
    channels: Set<String> = [website],
    connected: Bool = true,
    away: Bool = false,
    idle idleMinutes: Double = 1
) -> OperatorState {
    var state = OperatorState(
        login: login, isBot: bot, joinedChannels: channels, connected: connected, away: away,
        lastActivity: ago(minutes: idleMinutes),
        conversations: conversations + (0..<ongoing).map { _ in
            AssignedConversation(assignedAt: ago(minutes: 20), lastMessageAt: ago(minutes: 5))
        },
        lastAssignedAt: minutesAgo.map { ago(minutes: $0) })
    state.languages = languages.map(tag)
    return state
}
