import Foundation

/// Finds the line of a key or table in the text of a TOML document, so that
/// errors found after parsing (wrong type, bad value, unknown key) can name
/// the line. TOMLKit does not report where a value came from, so this does a
/// light scan of the text: table headers, array-of-tables headers and the
/// keys under them, skipping multi-line strings.
///
/// Keys are written as in errors: `livechat.inactivity_timeout`,
/// `listen[1].address`, `livechat.channel[0]` (array elements from 0).
struct ConfigLines {
    private var lines: [String: Int] = [:]

    init(_ text: String) {
        var arrayCounts: [String: Int] = [:]
        var prefix = ""  // the display path of the current table
        var openMultiline: String? = nil  // the delimiter of a multi-line string being skipped

        // A CRLF line break is one Character ("\r\n"), not a "\n": a file saved
        // on Windows would otherwise be one long line.
        let textLines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (offset, rawLine) in textLines.enumerated() {
            let lineNumber = offset + 1
            let line = Substring(rawLine.trimmingPrefixWhitespace())

            if let delimiter = openMultiline {
                if line.components(delimiter).count % 2 == 0 { openMultiline = nil }
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }

            if line.hasPrefix("[[") {
                guard let close = line.range(of: "]]") else { continue }
                guard let parts = Self.keyParts(line[line.index(line.startIndex, offsetBy: 2)..<close.lowerBound])
                else { continue }
                let name = parts.joined(separator: ".")
                let index = arrayCounts[name, default: 0]
                arrayCounts[name] = index + 1
                prefix = Self.displayPath(parts, arrayCounts: arrayCounts)
                record(prefix, lineNumber)
                continue
            }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { continue }
                guard let parts = Self.keyParts(line[line.index(after: line.startIndex)..<close]) else { continue }
                prefix = Self.displayPath(parts, arrayCounts: arrayCounts)
                record(prefix, lineNumber)
                continue
            }
            guard let equals = Self.keyEnd(line), let parts = Self.keyParts(line[..<equals]) else { continue }
            var path = prefix
            for part in parts {
                path = path.isEmpty ? part : "\(path).\(part)"
                record(path, lineNumber)
            }
            let value = line[line.index(after: equals)...]
            for delimiter in ["\"\"\"", "'''"] where value.components(delimiter).count % 2 == 0 {
                openMultiline = delimiter
                break
            }
        }
    }

    /// The line of `key`, or of the nearest enclosing key or table that appears in the text.
    func line(of key: String) -> Int? {
        var key = Substring(key)
        while !key.isEmpty {
            if let line = lines[String(key)] { return line }
            if key.hasSuffix("]"), let open = key.lastIndex(of: "[") {
                key = key[..<open]
            } else if let dot = key.lastIndex(of: ".") {
                key = key[..<dot]
            } else {
                return nil
            }
        }
        return nil
    }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    /// `["livechat", "channel"]` → `livechat.channel[2]` when it is the third `[[livechat.channel]]`.
    private static func displayPath(_ parts: [String], arrayCounts: [String: Int]) -> String {
        var raw = ""
        var display = ""
        for part in parts {
            raw = raw.isEmpty ? part : "\(raw).\(part)"
            display = display.isEmpty ? part : "\(display).\(part)"
            if let count = arrayCounts[raw] { display += "[\(count - 1)]" }
        }
        return display
    }

    /// Where the key of a `key = value` line ends (the `=`), skipping quoted key parts.
    private static func keyEnd(_ line: Substring) -> Substring.Index? {
        var quote: Character? = nil
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "=" {
                return index
            } else if character == "#" || character == "[" || character == "{" {
                return nil
            }
            index = line.index(after: index)
        }
        return nil
    }

    /// Splits a (possibly dotted, possibly quoted) key into its parts.
    private static func keyParts(_ text: Substring) -> [String]? {
        var parts: [String] = []
        var current = ""
        var quote: Character? = nil
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current)
                current = ""
            } else if character == " " || character == "\t" {
                continue
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts.contains(where: \.isEmpty) ? nil : parts
    }
}

extension Substring {
    fileprivate func trimmingPrefixWhitespace() -> Substring {
        drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" })
    }

    fileprivate func components(_ separator: String) -> [Substring] {
        var result: [Substring] = []
        var rest = self[...]
        while let range = rest.range(of: separator) {
            result.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}
