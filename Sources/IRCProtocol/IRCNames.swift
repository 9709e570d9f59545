/// Validation of nicknames, channel names and usernames.
public enum IRCNames {
    /// Whether a message or command target names a channel: it starts with the
    /// one channel type, `#` (CHANTYPES). A byte test, as on the wire: Unicode
    /// rules would not see `#` as a prefix when a combining mark follows it.
    @inlinable
    public static func isChannelTarget(_ target: String) -> Bool {
        target.utf8.first == UInt8(ascii: "#")
    }

    /// Nick: 1...maxLength chars; ASCII letters, digits and the specials []\`_^{|}- ;
    /// must not start with a digit or '-'.
    public static func isValidNick(_ nick: String, maxLength: Int) -> Bool {
        let utf8 = nick.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        var first = true
        for c in utf8 {
            let isLetter = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            let isDigit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
            let isSpecial: Bool
            switch c {
            case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\\"), UInt8(ascii: "`"), UInt8(ascii: "_"),
                 UInt8(ascii: "^"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"):
                isSpecial = true
            default:
                isSpecial = false
            }
            let isDash = c == UInt8(ascii: "-")
            if first {
                guard isLetter || isSpecial else { return false }
                first = false
            } else {
                guard isLetter || isDigit || isSpecial || isDash else { return false }
            }
        }
        return true
    }

    /// Channel: starts with '#', 2...maxLength bytes, no space, comma, BEL (0x07), NUL, CR, LF; UTF-8 allowed.
    public static func isValidChannel(_ name: String, maxLength: Int) -> Bool {
        let utf8 = name.utf8
        let count = utf8.count
        guard count >= 2, count <= maxLength, utf8.first == UInt8(ascii: "#") else { return false }
        for c in utf8 {
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: ","), 0x07, 0x00, 0x0D, 0x0A: return false
            default: continue
            }
        }
        return true
    }

    /// Username (ident) for USER: 1...maxLength, printable ASCII without space and '@'.
    public static func isValidUser(_ user: String, maxLength: Int) -> Bool {
        let utf8 = user.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        for c in utf8 {
            guard c > 0x20, c < 0x7F, c != UInt8(ascii: "@") else { return false }
        }
        return true
    }
}
