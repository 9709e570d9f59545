/// Checks on text that people read: names and messages shown to visitors and
/// operators. One definition for every place that decides what "visible" means.
public enum TextChecks {
    /// Whether `text` has something other than blanks and invisible characters
    /// (zero-width and other default-ignorable code points, such as U+200B or U+FEFF).
    public static func hasVisibleCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { !$0.properties.isWhitespace && !$0.properties.isDefaultIgnorableCodePoint }
    }

    /// Whether `text` has text-direction embedding, override or isolate controls
    /// (U+202A-U+202E, U+2066-U+2069), which make it read as something else
    /// (`evil\u{202E}gnp.exe`).
    public static func hasDirectionControls(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) }
    }
}
