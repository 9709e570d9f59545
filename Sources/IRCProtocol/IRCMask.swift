/// A glob mask in nick!user@host style: '*' matches any run (including an empty one), '?' exactly one
/// character; everything else is literal (there is no escaping). Matching is case-insensitive per the
/// casemapping. Two masks are equal (and hash alike) when their folded patterns and casemappings are equal,
/// so "Nick!*@*" and "nick!*@*" are the same ban.
public struct IRCMask: Sendable, Hashable {
    /// The normalised pattern, with its original case (for display, e.g. in ban lists).
    public let pattern: String
    /// The casemapping used to compare.
    public let casemapping: Casemapping
    /// The normalised pattern as a glob.
    private let glob: IRCGlob

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
        self.glob = IRCGlob(normalised, casemapping: casemapping)
    }

    /// Whether a full "nick!user@host" matches the mask.
    public func matches(_ candidate: String) -> Bool {
        glob.matches(candidate)
    }

    public static func == (lhs: IRCMask, rhs: IRCMask) -> Bool {
        lhs.glob == rhs.glob
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(glob)
    }
}
