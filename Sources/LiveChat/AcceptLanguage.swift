import Foundation

/// The visitor's languages from an HTTP `Accept-Language` header (RFC 9110
/// §12.5.4, basic language ranges of RFC 4647).
///
/// - The header is a comma-separated list of ranges, each with an optional
///   weight `;q=` (0 to 1 with up to three decimals, RFC 9110 `qvalue`;
///   the `q` is case-insensitive, whitespace around `;` and `,` is allowed).
/// - `q=0` means "not acceptable": the range is dropped.
/// - `*` means "any other language": it names nothing specific and is ignored.
/// - A malformed part is ignored on its own and does not spoil the others:
///   an invalid tag (`en-`, `en_US`), a bad weight (`q=abc`, `q=2`, `q=0.5555`),
///   a parameter other than a single `q` (`fr;level=1`, `fr;q=0.5;q=0.4`),
///   an empty part (`,,`, `;;`).
/// - Ranking: weight descending, then header order (stable).
/// - Duplicates (after case normalisation) keep their best-ranked occurrence.
public enum AcceptLanguage {
    /// One parsed range with its weight in thousandths (`q=0.8` is 800).
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var tag: LanguageTag
        /// The weight in thousandths, 1...1000 (entries with `q=0` are dropped).
        public var quality: Int

        public init(tag: LanguageTag, quality: Int) {
            self.tag = tag
            self.quality = quality
        }

        public var description: String {
            quality == 1000 ? tag.description : "\(tag);q=\(Self.format(quality))"
        }

        private static func format(_ thousandths: Int) -> String {
            var decimals = String(thousandths % 1000)
            while decimals.count < 3 { decimals = "0" + decimals }
            while decimals.hasSuffix("0") { decimals.removeLast() }
            return decimals.isEmpty ? "\(thousandths / 1000)" : "\(thousandths / 1000).\(decimals)"
        }
    }

    /// Every acceptable, well-formed range of the header, ranked (weight
    /// descending, then header order) and deduplicated; no filtering by the
    /// server's languages.
    public static func entries(_ header: String) -> [Entry] {
        var parsed: [(entry: Entry, position: Int)] = []
        for (position, part) in header.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard let entry = parseRange(part), entry.quality > 0 else { continue }
            parsed.append((entry, position))
        }
        parsed.sort { a, b in
            a.entry.quality != b.entry.quality ? a.entry.quality > b.entry.quality : a.position < b.position
        }
        var seen: Set<LanguageTag> = []
        var result: [Entry] = []
        for item in parsed where seen.insert(item.entry.tag).inserted {
            result.append(item.entry)
        }
        return result
    }

    /// The visitor's languages, ranked, keeping only those that match a
    /// language enabled on the server exactly or by primary subtag. The
    /// visitor's own tag is kept (`fr-CH` stays `fr-CH` when `fr` is enabled)
    /// so that an operator with exactly `fr-CH` can rank above one with `fr`.
    /// An empty result means the visitor expressed no usable preference.
    public static func parse(_ header: String, enabled: [LanguageTag]) -> [LanguageTag] {
        entries(header)
            .map(\.tag)
            .filter { tag in enabled.contains { $0.match(tag) != .none } }
    }

    /// Parses `range [ OWS ";" OWS "q=" qvalue ]`; nil when malformed or `*`.
    private static func parseRange(_ part: Substring) -> Entry? {
        let pieces = part.split(separator: ";", omittingEmptySubsequences: false)
        let range = pieces[0].trimmingCharacters(in: whitespace)
        guard range != "*", let tag = LanguageTag(range) else { return nil }
        switch pieces.count {
        case 1:
            return Entry(tag: tag, quality: 1000)
        case 2:
            guard let quality = parseWeight(pieces[1].trimmingCharacters(in: whitespace)) else { return nil }
            return Entry(tag: tag, quality: quality)
        default:
            return nil
        }
    }

    /// `q=` followed by `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`,
    /// in thousandths.
    private static func parseWeight(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3, bytes[0] == UInt8(ascii: "q") || bytes[0] == UInt8(ascii: "Q"),
              bytes[1] == UInt8(ascii: "=") else { return nil }
        let value = bytes[2...]
        guard let whole = value.first, whole == UInt8(ascii: "0") || whole == UInt8(ascii: "1") else { return nil }
        var fraction = Array(value.dropFirst())
        if !fraction.isEmpty {
            guard fraction.removeFirst() == UInt8(ascii: "."), fraction.count <= 3,
                  fraction.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        }
        if whole == UInt8(ascii: "1") {
            guard fraction.allSatisfy({ $0 == UInt8(ascii: "0") }) else { return nil }
            return 1000
        }
        var thousandths = 0
        for i in 0..<3 {
            thousandths *= 10
            if i < fraction.count { thousandths += Int(fraction[i] - UInt8(ascii: "0")) }
        }
        return thousandths
    }

    private static let whitespace = CharacterSet(charactersIn: " \t")
}
