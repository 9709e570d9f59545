import Foundation

/// A conversation to assign.
public struct AssignmentRequest: Sendable, Hashable {
    /// The live chat channel (e.g. `#website`), in the same canonical form as
    /// `OperatorState.joinedChannels`.
    public var channel: String
    /// The visitor's languages, best first (see `AcceptLanguage.parse`).
    public var visitorLanguages: [LanguageTag]
    /// The login of the operator who last talked with this (returning) visitor.
    public var previousOperator: String?
    /// Logins that must not get this conversation, e.g. the operator who is
    /// transferring it back to the channel. Empty for a new conversation.
    public var excludedLogins: Set<String>

    public init(
        channel: String,
        visitorLanguages: [LanguageTag] = [],
        previousOperator: String? = nil,
        excludedLogins: Set<String> = []
    ) {
        self.channel = channel
        self.visitorLanguages = visitorLanguages
        self.previousOperator = previousOperator
        self.excludedLogins = excludedLogins
    }
}

/// How the chosen operator's language matched the visitor's.
public struct LanguageTierMatch: Sendable, Hashable, CustomStringConvertible {
    /// The visitor's language that selected the pool.
    public var visitorLanguage: LanguageTag
    /// Its position in the visitor's list (0 = preferred language).
    public var visitorRank: Int
    /// Whether it is the operator's main or an additional language.
    public var role: LanguageRole
    /// `.exact` or `.primary` (never `.none`).
    public var match: LanguageMatch
    /// The operator's language that matched (`fr` for a visitor's `fr-CH`).
    public var operatorLanguage: LanguageTag

    public init(visitorLanguage: LanguageTag, visitorRank: Int, role: LanguageRole, match: LanguageMatch, operatorLanguage: LanguageTag) {
        self.visitorLanguage = visitorLanguage
        self.visitorRank = visitorRank
        self.role = role
        self.match = match
        self.operatorLanguage = operatorLanguage
    }

    /// `language fr (main)`, `language fr-CH (additional fr, primary subtag)`.
    public var description: String {
        match == .exact
            ? "language \(visitorLanguage) (\(role))"
            : "language \(visitorLanguage) (\(role) \(operatorLanguage), primary subtag)"
    }
}

/// Why a conversation went to the operator it went to: the facts for `INFO`.
public struct AssignmentReason: Sendable, Hashable, CustomStringConvertible {
    public enum Tier: Sendable, Hashable {
        /// Step 2: the returning visitor's previous operator.
        case previousOperator
        /// Step 3: a language tier.
        case language(LanguageTierMatch)
        /// Step 3, no tier matched (or the visitor gave no language): every candidate.
        case anyOperator
    }

    public var tier: Tier
    /// The chosen operator's ongoing conversations before this one.
    public var ongoing: Int
    /// The chosen operator's previous assignment; nil if never assigned.
    public var lastAssignedAt: Date?
    /// Whether the visitor had any (enabled) language at all.
    public var visitorHadLanguages: Bool
    /// How many operators were candidates (step 1).
    public var candidateCount: Int
    /// How many candidates were in the pool the operator was chosen from
    /// (after the language tier and the buffer); 1 for the previous operator.
    public var poolSize: Int
    /// True when everyone in the language pool had been assigned within the
    /// spread buffer, so the buffer did not narrow the choice.
    public var everyoneRecentlyAssigned: Bool

    public init(
        tier: Tier, ongoing: Int, lastAssignedAt: Date?, visitorHadLanguages: Bool,
        candidateCount: Int, poolSize: Int, everyoneRecentlyAssigned: Bool
    ) {
        self.tier = tier
        self.ongoing = ongoing
        self.lastAssignedAt = lastAssignedAt
        self.visitorHadLanguages = visitorHadLanguages
        self.candidateCount = candidateCount
        self.poolSize = poolSize
        self.everyoneRecentlyAssigned = everyoneRecentlyAssigned
    }

    /// The visitor's language that decided, for a language tier.
    public var language: LanguageTag? {
        if case .language(let match) = tier { return match.visitorLanguage }
        return nil
    }

    /// `language fr (main), 1 ongoing, last assigned 14:02`,
    /// `previous operator, 0 ongoing, never assigned`,
    /// `no language match: any operator, 0 ongoing, never assigned`;
    /// times as `HH:mm` in `timeZone` (UTC by default).
    public func text(timeZone: TimeZone = ClockText.utc) -> String {
        let head: String
        switch tier {
        case .previousOperator: head = "previous operator"
        case .language(let match): head = match.description
        case .anyOperator: head = visitorHadLanguages ? "no language match: any operator" : "no visitor language: any operator"
        }
        let last = lastAssignedAt.map { "last assigned " + ClockText.hourMinute($0, timeZone: timeZone) } ?? "never assigned"
        return "\(head), \(ongoing) ongoing, \(last)"
    }

    public var description: String { text() }
}

/// Why a conversation waits: nobody is a candidate. Each operator that was
/// considered is counted once, under its main reason (the first of
/// `Availability.reasons`).
public struct WaitingReason: Sendable, Hashable, CustomStringConvertible {
    /// Operators not available, by main reason.
    public var unavailable: [Availability.Reason: Int]
    /// Bot accounts that were left out (bots are never candidates here).
    public var bots: Int
    /// Operators left out by `AssignmentRequest.excludedLogins`.
    public var excluded: Int

    public init(unavailable: [Availability.Reason: Int] = [:], bots: Int = 0, excluded: Int = 0) {
        self.unavailable = unavailable
        self.bots = bots
        self.excluded = excluded
    }

    public func count(_ reason: Availability.Reason) -> Int { unavailable[reason] ?? 0 }

    /// `no operator available (2 away, 1 inactive, 1 at max sessions)`, or
    /// `no operator available` when no operator was considered at all.
    public var description: String {
        var parts = Availability.Reason.allCases.compactMap { reason -> String? in
            let n = count(reason)
            return n > 0 ? "\(n) \(reason)" : nil
        }
        if excluded > 0 { parts.append("\(excluded) excluded") }
        return parts.isEmpty ? "no operator available" : "no operator available (" + parts.joined(separator: ", ") + ")"
    }
}

/// The outcome of the assignment rule.
public enum AssignmentDecision: Sendable, Hashable, CustomStringConvertible {
    case assigned(login: String, reason: AssignmentReason)
    case waiting(WaitingReason)

    /// The chosen operator's login, or nil when the conversation waits.
    public var login: String? {
        if case .assigned(let login, _) = self { return login }
        return nil
    }

    public var description: String {
        switch self {
        case .assigned(let login, let reason): "assigned to \(login): \(reason)"
        case .waiting(let reason): "waiting: \(reason)"
        }
    }
}

/// The assignment rule (`ASSIGNMENT.md`), as one pure, deterministic function.
///
/// 1. Candidates: every operator `Availability.evaluate` finds available in
///    the request's channel; bots and `excludedLogins` are left out. (If a
///    login appears twice in the input, its first state is used.) No
///    candidate: `.waiting`.
/// 2. The previous operator, if a candidate, gets the conversation.
/// 3. Language tiers: for each visitor language in rank order, four tiers,
///    in this order: main language exact tag, main language same primary
///    subtag, additional language exact tag, additional language same
///    primary subtag. (Main before additional, then exact before primary
///    subtag within each, as the issue asks.) The first non-empty tier is
///    the pool; if none, every candidate.
/// 4. Buffer: within the pool, keep those not assigned within
///    `spreadBuffer` (`now - lastAssignedAt < spreadBuffer` is "recent";
///    never assigned is not recent), unless that leaves nobody.
/// 5. Fewest ongoing conversations, then the oldest last assignment (never
///    assigned first), then login ascending.
public enum Assignment {
    public static func decide(
        _ request: AssignmentRequest,
        operators: [OperatorState],
        settings: AssignmentSettings,
        now: Date
    ) -> AssignmentDecision {
        // 1. Candidates.
        var candidates: [Candidate] = []
        var waiting = WaitingReason()
        var seen: Set<String> = []
        for state in operators where seen.insert(state.login).inserted {
            if state.isBot {
                waiting.bots += 1
                continue
            }
            if request.excludedLogins.contains(state.login) {
                waiting.excluded += 1
                continue
            }
            let availability = Availability.evaluate(state, channel: request.channel, settings: settings, now: now)
            if let main = availability.reasons.first {
                waiting.unavailable[main, default: 0] += 1
                continue
            }
            candidates.append(Candidate(state: state, ongoing: availability.ongoing))
        }
        guard !candidates.isEmpty else { return .waiting(waiting) }

        let visitorHadLanguages = !request.visitorLanguages.isEmpty

        // 2. Previous operator.
        if let previous = request.previousOperator, let chosen = candidates.first(where: { $0.state.login == previous }) {
            return .assigned(login: chosen.state.login, reason: AssignmentReason(
                tier: .previousOperator, ongoing: chosen.ongoing, lastAssignedAt: chosen.state.lastAssignedAt,
                visitorHadLanguages: visitorHadLanguages, candidateCount: candidates.count, poolSize: 1,
                everyoneRecentlyAssigned: false))
        }

        // 3. Language tiers.
        var pool: [(candidate: Candidate, match: LanguageTierMatch?)] = candidates.map { ($0, nil) }
        var seenLanguages: Set<LanguageTag> = []
        tiers: for (rank, language) in request.visitorLanguages.enumerated() where seenLanguages.insert(language).inserted {
            for (role, level) in tierOrder {
                let matched = candidates.compactMap { candidate -> (candidate: Candidate, match: LanguageTierMatch?)? in
                    guard let operatorLanguage = candidate.language(role: role, matching: language, at: level) else { return nil }
                    return (candidate, LanguageTierMatch(
                        visitorLanguage: language, visitorRank: rank, role: role, match: level,
                        operatorLanguage: operatorLanguage))
                }
                if !matched.isEmpty {
                    pool = matched
                    break tiers
                }
            }
        }

        // 4. Spread buffer.
        func recentlyAssigned(_ candidate: Candidate) -> Bool {
            guard settings.spreadBuffer > 0, let last = candidate.state.lastAssignedAt else { return false }
            return now.timeIntervalSince(last) < settings.spreadBuffer
        }
        let fresh = pool.filter { !recentlyAssigned($0.candidate) }
        let everyoneRecent = fresh.isEmpty
        if !fresh.isEmpty { pool = fresh }

        // 5. Fewest ongoing, oldest last assignment, login.
        let chosen = pool.min { a, b in precedes(a.candidate, b.candidate) }!
        return .assigned(login: chosen.candidate.state.login, reason: AssignmentReason(
            tier: chosen.match.map(AssignmentReason.Tier.language) ?? .anyOperator,
            ongoing: chosen.candidate.ongoing, lastAssignedAt: chosen.candidate.state.lastAssignedAt,
            visitorHadLanguages: visitorHadLanguages, candidateCount: candidates.count, poolSize: pool.count,
            everyoneRecentlyAssigned: everyoneRecent))
    }

    /// Whether anyone could take a new conversation in `channel` now (the web
    /// bridge's `available`): the rule's step 1 is not empty.
    public static func isAnyoneAvailable(
        channel: String,
        operators: [OperatorState],
        settings: AssignmentSettings,
        now: Date
    ) -> Bool {
        operators.contains { state in
            !state.isBot && Availability.evaluate(state, channel: channel, settings: settings, now: now).isAvailable
        }
    }

    private static let tierOrder: [(LanguageRole, LanguageMatch)] = [
        (.main, .exact), (.main, .primary), (.additional, .exact), (.additional, .primary),
    ]

    /// Step 5's order: fewer ongoing, then older (or no) last assignment, then login.
    private static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        if a.ongoing != b.ongoing { return a.ongoing < b.ongoing }
        switch (a.state.lastAssignedAt, b.state.lastAssignedAt) {
        case (nil, .some): return true
        case (.some, nil): return false
        case (.some(let x), .some(let y)) where x != y: return x < y
        default: return a.state.login < b.state.login
        }
    }

    private struct Candidate {
        var state: OperatorState
        var ongoing: Int

        /// The operator's language in `role` that matches `visitor` at exactly `level`.
        func language(role: LanguageRole, matching visitor: LanguageTag, at level: LanguageMatch) -> LanguageTag? {
            switch role {
            case .main:
                guard let main = state.mainLanguage, main.match(visitor) == level else { return nil }
                return main
            case .additional:
                return state.additionalLanguages.first { $0.match(visitor) == level }
            }
        }
    }
}
