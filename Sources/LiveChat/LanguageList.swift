import Foundation

/// Why a list of language codes was refused.
public enum LanguageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Codes that are not a language enabled on the server (or not a
    /// language tag at all), as the user wrote them (trimmed), in order.
    case unknownOrDisabled(codes: [String], enabled: [LanguageTag])
    /// The list has an empty item (`fr,,en`, `fr,`), or is blank where a
    /// list was required.
    case emptyItem(enabled: [LanguageTag])
    /// Codes that are not syntactically valid language tags (used for the
    /// server's own list of enabled languages, where nothing is "disabled").
    case invalid(codes: [String])

    /// The languages enabled on the server, for the message; empty for `.invalid`.
    public var enabled: [LanguageTag] {
        switch self {
        case .unknownOrDisabled(_, let enabled), .emptyItem(let enabled): enabled
        case .invalid: []
        }
    }

    /// The offending codes; empty for `.emptyItem`.
    public var codes: [String] {
        switch self {
        case .unknownOrDisabled(let codes, _), .invalid(let codes): codes
        case .emptyItem: []
        }
    }

    /// `unknown or disabled language 'xx'; enabled: en, fr, es, de`.
    public var description: String {
        let enabledText = "enabled: " + (enabled.isEmpty ? "none" : enabled.map(\.description).joined(separator: ", "))
        switch self {
        case .unknownOrDisabled(let codes, _):
            let noun = codes.count == 1 ? "language" : "languages"
            return "unknown or disabled \(noun) \(Self.quoted(codes)); \(enabledText)"
        case .emptyItem:
            return "empty language code in the list; \(enabledText)"
        case .invalid(let codes):
            let noun = codes.count == 1 ? "tag" : "tags"
            return "invalid language \(noun) \(Self.quoted(codes))"
        }
    }

    private static func quoted(_ codes: [String]) -> String {
        codes.map { "'\($0)'" }.joined(separator: ", ")
    }
}

/// Operator language lists (Online Chat Languages: the first is the main
/// language, the rest additional) and the server's list of enabled languages.
///
/// An operator may only choose languages enabled on the server, by their
/// exact enabled tag (case-insensitive: `FR` is `fr`; `fr-CH` is refused when
/// only `fr` is enabled). Duplicates are collapsed, keeping the first
/// occurrence (so `fr,en,fr` is `fr,en`: the main language stays the first
/// one written). Empty items are refused.
public enum LanguageList {
    /// Validates codes given one by one (e.g. repeated `--lang` options).
    /// Each code is trimmed; an empty code is refused. An empty array is a
    /// valid empty list (an operator without languages).
    public static func validate(_ codes: [String], enabled: [LanguageTag]) -> Result<[LanguageTag], LanguageError> {
        var result: [LanguageTag] = []
        var bad: [String] = []
        var sawEmpty = false
        for raw in codes {
            let code = raw.trimmingCharacters(in: .whitespaces)
            if code.isEmpty {
                sawEmpty = true
                continue
            }
            guard let tag = LanguageTag(code), enabled.contains(tag) else {
                if !bad.contains(code) { bad.append(code) }
                continue
            }
            if !result.contains(tag) { result.append(tag) }
        }
        if !bad.isEmpty { return .failure(.unknownOrDisabled(codes: bad, enabled: enabled)) }
        if sawEmpty { return .failure(.emptyItem(enabled: enabled)) }
        return .success(result)
    }

    /// Parses and validates a list such as `fr,en,es`, `fr, en , es` or `fr en es`:
    /// commas, spaces or both separate the codes. A blank text, or a comma with no
    /// code on one side (`fr,,en`, `fr,`, `,fr`), is refused as an empty item.
    public static func parse(_ text: String, enabled: [LanguageTag]) -> Result<[LanguageTag], LanguageError> {
        var codes: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let words = item.split(whereSeparator: \.isWhitespace)
            codes += words.isEmpty ? [""] : words.map(String.init)
        }
        return validate(codes, enabled: enabled)
    }

    /// Parses the server's enabled languages (the `languages` config key):
    /// every code must be a valid tag; duplicates are collapsed, order kept.
    public static func parseEnabled(_ codes: [String]) -> Result<[LanguageTag], LanguageError> {
        var result: [LanguageTag] = []
        var bad: [String] = []
        for raw in codes {
            guard let tag = LanguageTag(raw) else {
                bad.append(raw.trimmingCharacters(in: .whitespaces))
                continue
            }
            if !result.contains(tag) { result.append(tag) }
        }
        return bad.isEmpty ? .success(result) : .failure(.invalid(codes: bad))
    }

    /// `fr,en,es`: the form `LANG` shows and accepts.
    public static func format(_ tags: [LanguageTag]) -> String {
        tags.map(\.description).joined(separator: ",")
    }
}
