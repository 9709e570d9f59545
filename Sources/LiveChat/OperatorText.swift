/// What an operator's IRC client sends, as a website visitor should read it.
/// IRC clients wrap `/me` in CTCP (`\u{1}ACTION waves\u{1}`), send other CTCP
/// requests (`\u{1}VERSION\u{1}`) and mIRC formatting codes (bold, colours...);
/// a browser shows none of them, so the visitor gets plain text.
public enum OperatorText {
    public enum Kind: Equatable, Sendable {
        /// Ordinary text, formatting codes removed.
        case text(String)
        /// `/me waves`: the action's text ("waves"), formatting codes removed.
        case action(String)
        /// Any other CTCP request (`VERSION`, `PING`...), which means nothing to a visitor.
        case ctcp(String)
    }

    public static func classify(_ text: String) -> Kind {
        guard text.first == "\u{1}" else { return .text(plain(text)) }
        var body = text.dropFirst()
        if body.last == "\u{1}" { body = body.dropLast() }
        let command = body.prefix { $0 != " " }
        guard command.uppercased() == "ACTION" else { return .ctcp(String(command).uppercased()) }
        return .action(plain(String(body.dropFirst(command.count).drop { $0 == " " })))
    }

    /// `*Alice waves*`: how the visitor reads an operator's `/me waves`.
    public static func describe(action: String, by name: String) -> String {
        "*\(name) \(action)*"
    }

    /// The action back from `describe(action:by:)`'s text, or nil when `text` is not one.
    public static func action(in text: String, by name: String) -> String? {
        let prefix = "*\(name) "
        guard text.hasPrefix(prefix), text.hasSuffix("*"), text.count > prefix.count else { return nil }
        return String(text.dropFirst(prefix.count).dropLast())
    }

    /// The text without mIRC formatting: bold (0x02), colour (0x03 with up to
    /// two digits, then optionally a comma and up to two digits), hex colour
    /// (0x04 with up to two six-digit colours), reset (0x0F), monospace (0x11),
    /// reverse (0x16), italics (0x1D), strikethrough (0x1E), underline (0x1F);
    /// and without any other control character (a stray CTCP 0x01, bell, escape,
    /// DEL, C1 controls), which a web page shows as garbage or not at all. Tabs stay.
    public static func plain(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isRemoved) else { return text }
        let scalars = Array(text.unicodeScalars)
        var result = String.UnicodeScalarView()
        var index = 0
        /// Skips the colours after a colour code: `12` or `12,4` (one or two digits
        /// each), or `FF0000,00FF00` (exactly six hex digits each).
        func skipColour(width: Int, isDigit: (Unicode.Scalar) -> Bool) {
            func run(from start: Int) -> Int {
                var end = start
                while end < scalars.count, end - start < width, isDigit(scalars[end]) { end += 1 }
                return width == 6 && end - start != 6 ? start : end
            }
            let foreground = run(from: index)
            guard foreground > index else { return }
            index = foreground
            if index < scalars.count, scalars[index] == "," {
                let background = run(from: index + 1)
                if background > index + 1 { index = background }
            }
        }
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\u{3}" {
                skipColour(width: 2) { ("0"..."9").contains($0) }
            } else if scalar == "\u{4}" {
                skipColour(width: 6) { $0.properties.isASCIIHexDigit }
            } else if !isRemoved(scalar) {
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// The first control character of `text` that is not a formatting code (nor a
    /// tab): a stray CTCP 0x01, a bell, an escape, a C1 control.
    public static func firstStrayControl(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { isRemoved($0) && !formattingCodes.contains($0.value) }
    }

    /// Bold, colour, hex colour, reset, monospace, reverse, italics, strikethrough, underline.
    private static let formattingCodes: Set<UInt32> = [0x02, 0x03, 0x04, 0x0F, 0x11, 0x16, 0x1D, 0x1E, 0x1F]

    /// A formatting code or a tab: what IRC clients show as formatting (or space).
    public static func isFormattingOrTab(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || formattingCodes.contains(scalar.value)
    }

    /// A formatting code or another control character; a tab is kept.
    private static func isRemoved(_ scalar: Unicode.Scalar) -> Bool {
        // The Cc category: U+0000-U+001F and U+007F-U+009F.
        (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
    }

    /// Whether a visitor would see anything of `text`: something other than blanks,
    /// zero-width and other invisible characters once formatting is removed.
    public static func hasVisibleText(_ text: String) -> Bool {
        TextChecks.hasVisibleCharacter(plain(text))
    }
}
