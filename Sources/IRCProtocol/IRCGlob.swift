/// A glob on a plain string: '*' matches any run (including an empty one), '?'
/// exactly one character; everything else is literal (there is no escaping).
/// Matching is case-insensitive per the casemapping. For names that are not
/// `nick!user@host` masks (channel names in LIST, hosts and real names in WHO);
/// `IRCMask` is a normalised mask matched as one of these. Two globs are equal
/// (and hash alike) when their folded patterns and casemappings are equal.
public struct IRCGlob: Sendable, Hashable {
    /// The casemapping used to compare.
    public let casemapping: Casemapping
    /// The pattern folded with the casemapping, as bytes.
    private let folded: [UInt8]

    public init(_ pattern: String, casemapping: Casemapping = .ascii) {
        self.casemapping = casemapping
        self.folded = pattern.utf8.map { casemapping.fold($0) }
    }

    /// Whether the whole of `candidate` matches.
    public func matches(_ candidate: String) -> Bool {
        var candidate = candidate
        return candidate.withUTF8 { c in
            folded.withUnsafeBufferPointer { p in
                Self.globMatch(pattern: p, candidate: c, casemapping: casemapping)
            }
        }
    }

    /// Iterative glob matching with single-star backtracking: O(pattern × candidate) worst case, never
    /// exponential. `pattern` is already folded; candidate bytes are folded on the fly. '?' consumes one
    /// UTF-8 encoded character.
    private static func globMatch(
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
