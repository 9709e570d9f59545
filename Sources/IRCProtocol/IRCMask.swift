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

    /// Normalises the pattern to nick!user@host, as common servers do: "nick" -> "nick!*@*",
    /// "user@host" -> "*!user@host", "nick!user" -> "nick!user@*", a pattern containing '.' but no '!' or '@'
    /// (a host) -> "*!*@host", and any empty part -> "*" ("@host" -> "*!*@host", "!" -> "*!*@*").
    /// The '!' is the first one before the first '@'; the host is everything after that '@'.
    public init(_ pattern: String, casemapping: Casemapping = .ascii) {
        let bytes = Array(pattern.utf8)
        let at = bytes.firstIndex(of: WireByte.at)
        let bang = bytes[..<(at ?? bytes.endIndex)].firstIndex(of: WireByte.bang)
        let nick, user, host: ArraySlice<UInt8>
        switch (bang, at) {
        case let (bang?, at?): (nick, user, host) = (bytes[..<bang], bytes[(bang + 1)..<at], bytes[(at + 1)...])
        case let (bang?, nil): (nick, user, host) = (bytes[..<bang], bytes[(bang + 1)...], [])
        case let (nil, at?): (nick, user, host) = ([], bytes[..<at], bytes[(at + 1)...])
        case (nil, nil):
            (nick, user, host) = bytes.contains(UInt8(ascii: ".")) ? ([], [], bytes[...]) : (bytes[...], [], [])
        }
        func part(_ bytes: ArraySlice<UInt8>) -> String { bytes.isEmpty ? "*" : String(decoding: bytes, as: UTF8.self) }
        let normalised = part(nick) + "!" + part(user) + "@" + part(host)
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
