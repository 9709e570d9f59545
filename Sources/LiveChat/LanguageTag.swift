import Foundation

/// A BCP 47 language tag (RFC 5646), validated and normalised to its
/// conventional case: the primary language subtag lower case (`en`), a script
/// subtag title case (`zh-Hant`), a region subtag upper case (`fr-CH`,
/// `es-419` stays as is), everything else lower case. Subtags after a
/// singleton (`x-...`, `u-...`) are extensions or private use and stay lower
/// case.
///
/// Validation is syntactic, not a registry lookup: a primary subtag of 1 to 8
/// ASCII letters, then any number of subtags of 1 to 8 ASCII letters or
/// digits, separated by `-`. Surrounding whitespace is ignored; anything else
/// (empty subtags, `_`, non-ASCII, `*`) is rejected.
public struct LanguageTag: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The normalised subtags; never empty.
    public let subtags: [String]

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        let parts = trimmed.split(separator: "-", omittingEmptySubsequences: false)
        var result: [String] = []
        result.reserveCapacity(parts.count)
        var afterSingleton = false
        for (index, part) in parts.enumerated() {
            let bytes = Array(part.utf8)
            guard (1...8).contains(bytes.count) else { return nil }
            if index == 0 {
                guard bytes.allSatisfy(Self.isASCIILetter) else { return nil }
                result.append(String(decoding: bytes.map(Self.lower), as: UTF8.self))
                // `x-private`, `i-klingon`: the whole tag is private use / irregular.
                afterSingleton = bytes.count == 1
                continue
            }
            guard bytes.allSatisfy({ Self.isASCIILetter($0) || Self.isASCIIDigit($0) }) else { return nil }
            let normalised: [UInt8]
            if afterSingleton {
                normalised = bytes.map(Self.lower)
            } else if bytes.count == 1 {
                normalised = bytes.map(Self.lower)
                afterSingleton = true
            } else if bytes.count == 2, bytes.allSatisfy(Self.isASCIILetter) {
                normalised = bytes.map(Self.upper)                      // region
            } else if bytes.count == 4, bytes.allSatisfy(Self.isASCIILetter) {
                normalised = [Self.upper(bytes[0])] + bytes.dropFirst().map(Self.lower) // script
            } else {
                normalised = bytes.map(Self.lower)
            }
            result.append(String(decoding: normalised, as: UTF8.self))
        }
        subtags = result
    }

    /// The primary language subtag, lower case: `fr` for `fr-CH`.
    public var primary: String { subtags[0] }

    /// The normalised tag, e.g. `fr-CH`.
    public var description: String { subtags.joined(separator: "-") }

    /// How this tag matches another one (the relation is symmetric):
    /// `.exact` when the normalised tags are equal, `.primary` when only the
    /// primary subtags are equal (`fr-CH` and `fr`, `fr` and `fr-CH`, and
    /// also `fr-CH` and `fr-FR`: the same language, another region),
    /// `.none` otherwise.
    public func match(_ other: LanguageTag) -> LanguageMatch {
        if self == other { return .exact }
        if primary == other.primary { return .primary }
        return .none
    }

    /// How a visitor's language matches an operator's language; see `match(_:)`.
    public static func match(visitor: LanguageTag, operator operatorTag: LanguageTag) -> LanguageMatch {
        visitor.match(operatorTag)
    }

    public static func < (lhs: LanguageTag, rhs: LanguageTag) -> Bool {
        lhs.description < rhs.description
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let tag = LanguageTag(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "invalid language tag '\(text)'")
        }
        self = tag
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func isASCIILetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    private static func isASCIIDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b + 0x20 : b }
    private static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x7A) ? b - 0x20 : b }
}

/// How well two language tags match. Ordered: `.none < .primary < .exact`.
public enum LanguageMatch: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    case none = 0
    /// Same primary subtag, different tags (`fr-CH` and `fr`).
    case primary = 1
    /// The same tag.
    case exact = 2

    public static func < (lhs: LanguageMatch, rhs: LanguageMatch) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .none: "none"
        case .primary: "primary subtag"
        case .exact: "exact"
        }
    }
}

/// An operator's language role: the first of their Online Chat Languages is
/// the main one, the others are additional.
public enum LanguageRole: String, Sendable, Hashable, CustomStringConvertible {
    case main
    case additional

    public var description: String { rawValue }
}
