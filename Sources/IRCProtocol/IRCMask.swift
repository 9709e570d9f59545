/// A glob mask in nick!user@host style: '*' matches any run (including an empty one), '?' exactly one
/// character; everything else is literal (there is no escaping). Matching is case-insensitive per the
/// casemapping. Two masks are equal (and hash alike) when their folded patterns and casemappings are equal,
/// so "Nick!*@*" and "nick!*@*" are the same ban.
public struct IRCMask: Sendable, Hashable {
    /// The normalised pattern, with its original case (for display, e.g. in ban lists).
    public let pattern: String
    /// The casemapping used to compare.
    public let casemapping: Casemapping
    /// The normalised pattern folded with the casemapping, as bytes.
    private let folded: [UInt8]

    /// Normalises the pattern: "nick" -> "nick!*@*", "user@host" -> "*!user@host", "nick!user" -> "nick!user@*",
    /// a pattern containing '.' but no '!' or '@' (a host) -> "*!*@host". Full masks are kept as they are.
    public init(_ pattern: String, casemapping: Casemapping = .ascii) {
        let hasBang = pattern.utf8.contains(WireByte.bang)
        let hasAt = pattern.utf8.contains(WireByte.at)
        let normalised: String
        switch (hasBang, hasAt) {
        case (true, true): normalised = pattern
        case (true, false): normalised = pattern + "@*"
        case (false, true): normalised = "*!" + pattern
        case (false, false):
            normalised = pattern.utf8.contains(UInt8(ascii: ".")) ? "*!*@" + pattern : pattern + "!*@*"
        }
        self.pattern = normalised
        self.casemapping = casemapping
        self.folded = normalised.utf8.map { casemapping.fold($0) }
    }

    /// Whether a full "nick!user@host" matches the mask.
    public func matches(_ candidate: String) -> Bool {
        var candidate = candidate
        return candidate.withUTF8 { c in
            folded.withUnsafeBufferPointer { p in
                IRCMask.globMatch(pattern: p, candidate: c, casemapping: casemapping)
            }
        }
    }

    public static func == (lhs: IRCMask, rhs: IRCMask) -> Bool {
        lhs.casemapping == rhs.casemapping && lhs.folded == rhs.folded
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(casemapping)
        hasher.combine(folded)
    }

    /// Iterative glob matching with single-star backtracking: O(pattern × candidate) worst case, never
    /// exponential. `pattern` is already folded; candidate bytes are folded on the fly. '?' consumes one
    /// UTF-8 encoded character.
    static func globMatch(
        pattern p: UnsafeBufferPointer<UInt8>, candidate c: UnsafeBufferPointer<UInt8>, casemapping: Casemapping
    ) -> Bool {
        let star = UInt8(ascii: "*")
        let question = UInt8(ascii: "?")
        var pi = 0
        var ci = 0
        var starPattern = -1
        var starCandidate = 0
        while ci < c.count {
            if pi < p.count {
                let pc = p[pi]
                if pc == star {
                    starPattern = pi
                    starCandidate = ci
                    pi += 1
                    continue
                }
                if pc == question {
                    ci += characterLength(c, at: ci)
                    pi += 1
                    continue
                }
                if pc == casemapping.fold(c[ci]) {
                    pi += 1
                    ci += 1
                    continue
                }
            }
            guard starPattern >= 0 else { return false }
            // Let the last '*' swallow one more character and retry after it.
            starCandidate += characterLength(c, at: starCandidate)
            ci = starCandidate
            pi = starPattern + 1
        }
        while pi < p.count && p[pi] == star { pi += 1 }
        return pi == p.count
    }

    @inline(__always)
    private static func characterLength(_ c: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let lead = c[i]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        return min(length, c.count - i)
    }
}
