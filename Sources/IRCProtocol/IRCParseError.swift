/// Why a line could not be parsed by `IRCMessage.parse(_:)`.
public enum IRCParseError: Error, Sendable, Equatable {
    /// Blank line or only spaces: callers ignore it silently.
    case empty
    /// Some part of the line is not valid UTF-8.
    case invalidUTF8
    /// The tag section (bytes after '@' up to the first space) is longer than `IRCLimits.maxClientTagBytes`.
    case tagsTooLong
    /// The rest of the line (source, command and params, without tags) is longer than `IRCLimits.maxLineBytes - 2`.
    case lineTooLong
    /// Any other structural problem, with a human-readable reason.
    case malformed(String)
}

/// Size limits from the IRC client protocol and IRCv3 message-tags.
public enum IRCLimits {
    /// Maximum line length including CRLF, excluding the tag section.
    public static let maxLineBytes = 512
    /// Maximum client-sent tag section, excluding the '@' and the following space.
    public static let maxClientTagBytes = 4094
    /// Maximum whole tag section including '@' and the space, server side.
    public static let maxTagBytes = 8191
}
