import Foundation
import LiveChat
import Testing

@Suite("Assignment rule")
struct AssignmentTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var operators: [OperatorState]
        var languages: [String] = []
        var previous: String? = nil
        var excluded: Set<String> = []
        var settings = AssignmentSettings()
        /// The login, or nil when the conversation must wait.
        var expected: String?
        /// The reason's text, when the case checks it.
        var reason: String? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // Step 3: language tiers.
        Case(name: "main language beats additional language, even with more load",
             operators: [op("ann", ["en", "fr"]), op("bob", ["fr"], ongoing: 2)],
             languages: ["fr"], expected: "bob", reason: "language fr (main), 2 ongoing, never assigned"),
        Case(name: "additional language when no main speaker",
             operators: [op("ann", ["en", "fr"], ongoing: 3), op("bob", ["de"])],
             languages: ["fr"], expected: "ann", reason: "language fr (additional), 3 ongoing, never assigned"),
        Case(name: "exact tag beats primary subtag (main)",
             operators: [op("ann", ["fr"]), op("bob", ["fr-CH"], ongoing: 2)],
             languages: ["fr-CH"], expected: "bob", reason: "language fr-CH (main), 2 ongoing, never assigned"),
        Case(name: "primary subtag match on the main language",
             operators: [op("ann", ["fr"], ongoing: 1), op("bob", ["en"])],
             languages: ["fr-CH"], expected: "ann",
             reason: "language fr-CH (main fr, primary subtag), 1 ongoing, never assigned"),
        Case(name: "operator fr-CH serves a visitor fr as a primary match",
             operators: [op("ann", ["fr-CH"], ongoing: 1), op("bob", ["en"])],
             languages: ["fr"], expected: "ann",
             reason: "language fr (main fr-CH, primary subtag), 1 ongoing, never assigned"),
        Case(name: "main primary subtag beats additional exact tag",
             operators: [op("ann", ["en", "fr-CH"]), op("bob", ["fr"], ongoing: 3)],
             languages: ["fr-CH"], expected: "bob"),
        Case(name: "additional exact tag beats additional primary subtag",
             operators: [op("ann", ["en", "fr"]), op("bob", ["en", "fr-CH"], ongoing: 3)],
             languages: ["fr-CH"], expected: "bob",
             reason: "language fr-CH (additional), 3 ongoing, never assigned"),
        Case(name: "additional primary subtag",
             operators: [op("ann", ["en", "de", "fr-BE"]), op("bob", ["en"])],
             languages: ["fr-CH"], expected: "ann",
             reason: "language fr-CH (additional fr-BE, primary subtag), 0 ongoing, never assigned"),
        Case(name: "visitor's second language when nobody speaks the first",
             operators: [op("ann", ["en"], ongoing: 2), op("bob", ["es"])],
             languages: ["de", "en"], expected: "ann", reason: "language en (main), 2 ongoing, never assigned"),
        Case(name: "first visitor language as additional beats second as main",
             operators: [op("ann", ["en", "de"], ongoing: 2), op("bob", ["en"])],
             languages: ["de", "en"], expected: "ann"),
        Case(name: "no language match: everyone",
             operators: [op("ann", ["en"], ongoing: 1), op("bob", ["es"])],
             languages: ["de"], expected: "bob", reason: "no language match: any operator, 0 ongoing, never assigned"),
        Case(name: "no visitor language: everyone",
             operators: [op("ann", ["en"], ongoing: 1), op("bob", [])],
             expected: "bob", reason: "no visitor language: any operator, 0 ongoing, never assigned"),
        Case(name: "language tier keeps fewest-ongoing inside the tier",
             operators: [op("ann", ["fr"], ongoing: 2), op("bob", ["fr"], ongoing: 1), op("cid", ["en"])],
             languages: ["fr"], expected: "bob"),
        Case(name: "unavailable speaker does not make a tier",
             operators: [op("ann", ["fr"], away: true), op("bob", ["en"])],
             languages: ["fr"], expected: "bob", reason: "no language match: any operator, 0 ongoing, never assigned"),

        // Step 2: previous operator.
        Case(name: "previous operator wins over language and load",
             operators: [op("ann", ["fr"]), op("bob", ["en"], ongoing: 4, lastAssigned: 1)],
             languages: ["fr"], previous: "bob", expected: "bob", reason: "previous operator, 4 ongoing, last assigned 14:29"),
        Case(name: "previous operator away: the rule continues",
             operators: [op("ann", ["fr"]), op("bob", ["fr"], away: true)],
             languages: ["fr"], previous: "bob", expected: "ann", reason: "language fr (main), 0 ongoing, never assigned"),
        Case(name: "previous operator unknown: the rule continues",
             operators: [op("ann", ["fr"])], languages: ["fr"], previous: "zed", expected: "ann"),
        Case(name: "previous operator at max sessions: the rule continues",
             operators: [op("ann", ["en"], ongoing: 1), op("bob", ["fr"], ongoing: 2)],
             languages: ["fr"], previous: "bob", settings: AssignmentSettings(maxSessions: 2), expected: "ann"),
        Case(name: "previous operator who is a bot is not chosen",
             operators: [op("faq", bot: true), op("ann")], previous: "faq", expected: "ann"),

        // Step 4: spread buffer.
        Case(name: "buffer skips the operator assigned a minute ago",
             operators: [op("ann", lastAssigned: 1), op("bob", ongoing: 1, lastAssigned: 10)],
             expected: "bob", reason: "no visitor language: any operator, 1 ongoing, last assigned 14:20"),
        Case(name: "buffer boundary: exactly 2 minutes ago is not recent",
             operators: [op("ann", lastAssigned: 2), op("bob", ongoing: 1)], expected: "ann"),
        Case(name: "buffer: all assigned recently, fewest ongoing decides",
             operators: [op("ann", ongoing: 1, lastAssigned: 1), op("bob", ongoing: 0, lastAssigned: 0.5)],
             expected: "bob"),
        Case(name: "buffer applies inside the language pool only",
             operators: [op("ann", ["fr"], lastAssigned: 1), op("bob", ["en"])],
             languages: ["fr"], expected: "ann", reason: "language fr (main), 0 ongoing, last assigned 14:29"),
        Case(name: "buffer set to 0 is off",
             operators: [op("ann", lastAssigned: 0.5), op("bob", ongoing: 1)],
             settings: AssignmentSettings(spreadBuffer: 0), expected: "ann"),
        Case(name: "longer buffer setting",
             operators: [op("ann", lastAssigned: 4), op("bob", ongoing: 1, lastAssigned: 6)],
             settings: AssignmentSettings(spreadBuffer: 300), expected: "bob"),

        // Step 5: fewest ongoing, oldest assignment, login.
        Case(name: "fewest ongoing",
             operators: [op("ann", ongoing: 2), op("bob", ongoing: 1), op("cid", ongoing: 3)], expected: "bob"),
        Case(name: "conversation with a 31-minute-old last message is not ongoing",
             operators: [
                 op("ann", conversations: [
                     AssignedConversation(assignedAt: ago(minutes: 60), lastMessageAt: ago(minutes: 31)),
                     AssignedConversation(assignedAt: ago(minutes: 40), lastMessageAt: ago(minutes: 35)),
                 ], lastAssigned: 40),
                 op("bob", ongoing: 1),
             ], expected: "ann", reason: "no visitor language: any operator, 0 ongoing, last assigned 13:50"),
        Case(name: "ended conversations are not ongoing",
             operators: [
                 op("ann", conversations: [
                     AssignedConversation(assignedAt: ago(minutes: 10), lastMessageAt: ago(minutes: 1), ended: true),
                 ], lastAssigned: 10),
                 op("bob", ongoing: 1),
             ], expected: "ann"),
        Case(name: "oldest last assignment breaks a tie",
             operators: [op("ann", ongoing: 1, lastAssigned: 5), op("bob", ongoing: 1, lastAssigned: 28),
                         op("cid", ongoing: 1, lastAssigned: 12)],
             expected: "bob", reason: "no visitor language: any operator, 1 ongoing, last assigned 14:02"),
        Case(name: "never assigned counts as oldest",
             operators: [op("ann", lastAssigned: 600), op("bob")], expected: "bob"),
        Case(name: "login breaks the last tie",
             operators: [op("cid"), op("bob"), op("ann")], expected: "ann"),
        Case(name: "login breaks the last tie with equal assignment times",
             operators: [op("dan", lastAssigned: 9), op("bea", lastAssigned: 9)], expected: "bea"),

        // Step 1: candidates.
        Case(name: "max_sessions 0 is unlimited",
             operators: [op("ann", ongoing: 30)], expected: "ann"),
        Case(name: "at max_sessions excluded",
             operators: [op("ann", ["fr"], ongoing: 2), op("bob", ["en"], ongoing: 1)],
             languages: ["fr"], settings: AssignmentSettings(maxSessions: 2), expected: "bob"),
        Case(name: "away excluded", operators: [op("ann", away: true), op("bob", ongoing: 5)], expected: "bob"),
        Case(name: "inactive excluded", operators: [op("ann", idle: 31), op("bob", ongoing: 5)], expected: "bob"),
        Case(name: "disconnected excluded", operators: [op("ann", connected: false), op("bob", ongoing: 5)], expected: "bob"),
        Case(name: "not joined excluded",
             operators: [op("ann", channels: ["#sales"]), op("bob", ongoing: 5)], expected: "bob"),
        Case(name: "bots excluded", operators: [op("faq", bot: true), op("bob", ongoing: 5)], expected: "bob"),
        Case(name: "excluded login (transfer back to the channel)",
             operators: [op("ann"), op("bob", ongoing: 5)], excluded: ["ann"], expected: "bob"),
        Case(name: "duplicate login: first state is used",
             operators: [op("ann", away: true), op("ann"), op("bob", ongoing: 1)], expected: "bob"),

        // Step 6: nobody.
        Case(name: "no operators at all", operators: [], languages: ["fr"], expected: nil,
             reason: "no operator available"),
        Case(name: "only bots", operators: [op("faq", bot: true)], expected: nil, reason: "no operator available"),
        Case(name: "nobody available, reasons counted once each",
             operators: [
                 op("ann", away: true), op("bob", away: true, idle: 40), op("cid", idle: 31),
                 op("dan", ongoing: 1), op("faq", bot: true),
             ],
             settings: AssignmentSettings(maxSessions: 1), expected: nil,
             reason: "no operator available (2 away, 1 inactive, 1 at max sessions)"),
        Case(name: "nobody joined or connected",
             operators: [op("ann", channels: ["#sales"]), op("bob", connected: false), op("cid")],
             excluded: ["cid"], expected: nil,
             reason: "no operator available (1 disconnected, 1 not joined, 1 excluded)"),
    ]

    @Test(arguments: cases)
    func decide(_ c: Case) {
        let request = AssignmentRequest(
            channel: website, visitorLanguages: c.languages.map(tag), previousOperator: c.previous,
            excludedLogins: c.excluded)
        let decision = Assignment.decide(request, operators: c.operators, settings: c.settings, now: now)
        #expect(decision.login == c.expected, "\(decision)")
        if let reason = c.reason {
            switch decision {
            case .assigned(_, let r): #expect(r.description == reason)
            case .waiting(let r): #expect(r.description == reason)
            }
        }
    }

    @Test func deterministicWhateverTheInputOrder() {
        let operators = [
            op("ann", ["fr"], ongoing: 1, lastAssigned: 9), op("bob", ["fr"], ongoing: 1, lastAssigned: 9),
            op("cid", ["fr"], ongoing: 1, lastAssigned: 9), op("dan", ["fr"], ongoing: 1, lastAssigned: 9),
        ]
        let request = AssignmentRequest(channel: website, visitorLanguages: tags("fr"))
        var results: Set<String> = []
        for rotation in 0..<operators.count {
            let input = Array(operators[rotation...] + operators[..<rotation])
            results.insert(Assignment.decide(request, operators: input, settings: .default, now: now).login ?? "-")
            results.insert(Assignment.decide(request, operators: input.reversed(), settings: .default, now: now).login ?? "-")
        }
        #expect(results == ["ann"])
    }

    @Test func loadSpreadsOverSuccessiveAssignments() throws {
        // Simulate the caller: each assignment adds a conversation and stamps lastAssignedAt.
        var operators = [op("ann", ["fr"]), op("bob", ["fr"]), op("cid", ["en", "fr"])]
        var clock = now
        var order: [String] = []
        for _ in 0..<4 {
            let decision = Assignment.decide(
                AssignmentRequest(channel: website, visitorLanguages: tags("fr")),
                operators: operators, settings: .default, now: clock)
            let login = try #require(decision.login)
            order.append(login)
            let i = operators.firstIndex { $0.login == login }!
            operators[i].conversations.append(AssignedConversation(assignedAt: clock))
            operators[i].lastAssignedAt = clock
            clock += 30
        }
        #expect(order == ["ann", "bob", "ann", "bob"])
    }

    @Test func structuredFacts() throws {
        let operators = [op("ann", ["en", "fr-CH"], ongoing: 1, lastAssigned: 1), op("bob", ["de"])]
        let request = AssignmentRequest(channel: website, visitorLanguages: tags("it", "fr-CH"))
        let decision = Assignment.decide(request, operators: operators, settings: .default, now: now)
        guard case .assigned(let login, let reason) = decision else {
            Issue.record("expected an assignment, got \(decision)")
            return
        }
        #expect(login == "ann")
        #expect(reason.tier == .language(LanguageTierMatch(
            visitorLanguage: tag("fr-CH"), visitorRank: 1, role: .additional, match: .exact, operatorLanguage: tag("fr-CH"))))
        #expect(reason.language == tag("fr-CH"))
        #expect(reason.ongoing == 1)
        #expect(reason.lastAssignedAt == ago(minutes: 1))
        #expect(reason.candidateCount == 2)
        #expect(reason.poolSize == 1)
        #expect(reason.everyoneRecentlyAssigned)
        #expect(reason.visitorHadLanguages)
        #expect(decision.description == "assigned to ann: language fr-CH (additional), 1 ongoing, last assigned 14:29")
        let paris = try #require(TimeZone(secondsFromGMT: 3600))
        #expect(reason.text(timeZone: paris) == "language fr-CH (additional), 1 ongoing, last assigned 15:29")
    }

    @Test func waitingFacts() {
        let operators = [op("ann", away: true), op("bob", ongoing: 1, idle: 45), op("faq", bot: true)]
        let decision = Assignment.decide(
            AssignmentRequest(channel: website), operators: operators,
            settings: AssignmentSettings(maxSessions: 1), now: now)
        guard case .waiting(let reason) = decision else {
            Issue.record("expected waiting, got \(decision)")
            return
        }
        #expect(reason.count(.away) == 1)
        #expect(reason.count(.inactive) == 1)     // inactive comes before at max sessions
        #expect(reason.count(.atMaxSessions) == 0)
        #expect(reason.bots == 1)
        #expect(decision.description == "waiting: no operator available (1 away, 1 inactive)")
    }

    @Test func anyoneAvailable() {
        #expect(Assignment.isAnyoneAvailable(channel: website, operators: [op("ann")], settings: .default, now: now))
        #expect(!Assignment.isAnyoneAvailable(channel: website, operators: [op("ann", away: true), op("faq", bot: true)],
                                              settings: .default, now: now))
        #expect(!Assignment.isAnyoneAvailable(channel: "#sales", operators: [op("ann")], settings: .default, now: now))
        #expect(!Assignment.isAnyoneAvailable(channel: website, operators: [], settings: .default, now: now))
    }

    @Test func previousOperatorFacts() {
        let decision = Assignment.decide(
            AssignmentRequest(channel: website, visitorLanguages: tags("fr"), previousOperator: "bob"),
            operators: [op("ann", ["fr"]), op("bob", ["en"])], settings: .default, now: now)
        guard case .assigned(let login, let reason) = decision else {
            Issue.record("expected an assignment")
            return
        }
        #expect(login == "bob")
        #expect(reason.tier == .previousOperator)
        #expect(reason.language == nil)
        #expect(reason.description == "previous operator, 0 ongoing, never assigned")
    }
}
