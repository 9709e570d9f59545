import IRCProtocol

/// Checks on text that people read: names and messages shown to visitors and
/// operators. One definition for every place that decides what "visible" means.
public enum TextChecks {
    /// Whether `text` has something other than blanks and invisible characters
    /// (`IRCText.hasVisibleCharacter`: IRC leaves lines without one out too).
    public static func hasVisibleCharacter(_ text: String) -> Bool {
        IRCText.hasVisibleCharacter(text)
    }

    /// Whether `text` has text-direction controls: the embedding, override and
    /// isolate controls (U+202A-U+202E, U+2066-U+2069), which make it read as
    /// something else (`evil\u{202E}gnp.exe`), and the direction marks (U+200E,
    /// U+200F, U+061C), which move the neutral characters around them.
    public static func hasDirectionControls(_ text: String) -> Bool {
        text.unicodeScalars.contains(where: isDirectionControl)
    }

    static func isDirectionControl(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
            || scalar.value == 0x200E || scalar.value == 0x200F || scalar.value == 0x061C
    }

    /// `text` with its control characters and text-direction controls written out
    /// (`\u{7}`), so that quoting what someone typed rings no bell, starts no escape
    /// sequence and turns no line around where it is shown; those `kept` stay (IRC
    /// formatting codes, in what an IRC client shows).
    public static func escapingControls(_ text: String, keeping kept: (Unicode.Scalar) -> Bool = { _ in false }) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.properties.generalCategory == .control || isDirectionControl(scalar)) && !kept(scalar)
        }
        guard text.unicodeScalars.contains(where: escaped) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if escaped(scalar) {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// `text` on one line, as a list or a notice shows it: its line breaks and tabs
    /// become single spaces.
    public static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0 == "\t" || $0.isNewline }).joined(separator: " ")
    }

    /// Whether `text` has something a one-line field (a name, a page address) cannot
    /// hold: a control character (tab included), a line or paragraph separator
    /// (U+2028, U+2029), which clients may show as a line break, or a noncharacter
    /// (U+FFFE, U+FFFF and the like), which is not text at all.
    public static func hasLineBreaksOrControls(_ text: String) -> Bool {
        text.unicodeScalars.contains {
            $0.properties.generalCategory == .control || $0.value == 0x2028 || $0.value == 0x2029
                || $0.properties.isNoncharacterCodePoint
        }
    }
}
