import Foundation
import LiveChat
import Testing

@Suite("Availability")
struct AvailabilityTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var state: OperatorState
        var settings = AssignmentSettings()
        var reasons: [Availability.Reason]
        var ongoing = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "available", state: op("a"), reasons: []),
        Case(name: "not joined", state: op("a", channels: ["#sales"]), reasons: [.notJoined]),
        Case(name: "disconnected", state: op("a", connected: false), reasons: [.disconnected]),
        Case(name: "away", state: op("a", away: true), reasons: [.away]),
        Case(name: "inactive at exactly the timeout", state: op("a", idle: 30), reasons: [.inactive]),
        Case(name: "active just under the timeout", state: op("a", idle: 29.9), reasons: []),
        Case(name: "custom timeout", state: op("a", idle: 10), settings: AssignmentSettings(inactivityTimeout: 600),
             reasons: [.inactive]),
        Case(name: "timeout 0 disables the check", state: op("a", idle: 600),
             settings: AssignmentSettings(inactivityTimeout: 0), reasons: []),
        Case(name: "max_sessions 0 is unlimited", state: op("a", ongoing: 50), reasons: [], ongoing: 50),
        Case(name: "below max_sessions", state: op("a", ongoing: 1), settings: AssignmentSettings(maxSessions: 2),
             reasons: [], ongoing: 1),
        Case(name: "at max_sessions", state: op("a", ongoing: 2), settings: AssignmentSettings(maxSessions: 2),
             reasons: [.atMaxSessions], ongoing: 2),
        Case(name: "stale conversations do not count toward max_sessions",
             state: op("a", conversations: [AssignedConversation(assignedAt: ago(minutes: 60), lastMessageAt: ago(minutes: 31))]),
             settings: AssignmentSettings(maxSessions: 1), reasons: [], ongoing: 0),
        Case(name: "several reasons, in order",
             state: op("a", ongoing: 1, channels: [], connected: false, away: true, idle: 45),
             settings: AssignmentSettings(maxSessions: 1),
             reasons: [.disconnected, .notJoined, .away, .inactive, .atMaxSessions], ongoing: 1),
    ]

    @Test(arguments: cases)
    func evaluate(_ c: Case) {
        let availability = Availability.evaluate(c.state, channel: website, settings: c.settings, now: now)
        #expect(availability.reasons == c.reasons)
        #expect(availability.isAvailable == c.reasons.isEmpty)
        #expect(availability.ongoing == c.ongoing)
    }

    @Test func descriptions() {
        #expect(Availability(reasons: [], ongoing: 1).description == "available, 1 ongoing")
        #expect(Availability(reasons: [.inactive, .away], ongoing: 0).description
            == "not available (away, inactive), 0 ongoing")
    }

    struct OngoingCase: Sendable, CustomTestStringConvertible {
        var name: String
        var conversation: AssignedConversation
        var ongoing: Bool
        var testDescription: String { name }
    }

    static let ongoingCases: [OngoingCase] = [
        OngoingCase(name: "recent message", conversation: .init(assignedAt: ago(minutes: 90), lastMessageAt: ago(minutes: 5)), ongoing: true),
        OngoingCase(name: "message 31 minutes old", conversation: .init(assignedAt: ago(minutes: 90), lastMessageAt: ago(minutes: 31)), ongoing: false),
        OngoingCase(name: "message exactly 30 minutes old", conversation: .init(assignedAt: ago(minutes: 90), lastMessageAt: ago(minutes: 30)), ongoing: false),
        OngoingCase(name: "message 29 minutes old", conversation: .init(assignedAt: ago(minutes: 90), lastMessageAt: ago(minutes: 29)), ongoing: true),
        OngoingCase(name: "recent assignment, no message", conversation: .init(assignedAt: ago(minutes: 10)), ongoing: true),
        OngoingCase(name: "old assignment, no message", conversation: .init(assignedAt: ago(minutes: 45)), ongoing: false),
        OngoingCase(name: "recent assignment, old message (transfer)", conversation: .init(assignedAt: ago(minutes: 2), lastMessageAt: ago(minutes: 50)), ongoing: true),
        OngoingCase(name: "ended", conversation: .init(assignedAt: ago(minutes: 2), lastMessageAt: ago(minutes: 1), ended: true), ongoing: false),
    ]

    @Test(arguments: ongoingCases)
    func ongoingDefinition(_ c: OngoingCase) {
        #expect(c.conversation.isOngoing(now: now, window: 30 * 60) == c.ongoing)
    }

    @Test func ongoingWindowIsASetting() {
        let conversation = AssignedConversation(assignedAt: ago(minutes: 20))
        #expect(conversation.isOngoing(now: now, window: 30 * 60))
        #expect(!conversation.isOngoing(now: now, window: 15 * 60))
        let state = op("a", conversations: [conversation])
        #expect(Availability.evaluate(state, channel: website, settings: AssignmentSettings(ongoingWindow: 15 * 60), now: now).ongoing == 0)
    }

    @Test func languagesAccessor() {
        var state = op("a", ["fr", "en", "es"])
        #expect(state.mainLanguage == tag("fr"))
        #expect(state.additionalLanguages == tags("en", "es"))
        #expect(state.languages == tags("fr", "en", "es"))
        state.languages = []
        #expect(state.mainLanguage == nil)
        #expect(state.additionalLanguages.isEmpty)
    }
}
