import Foundation
import LiveChat
import Testing

@Suite("LanguageTag")
struct LanguageTagTests {
    @Test("normalisation", arguments: [
        ("en", "en"), ("EN", "en"), ("fr-ch", "fr-CH"), ("FR-ch", "fr-CH"), ("zh-hant", "zh-Hant"),
        ("ZH-HANT-tw", "zh-Hant-TW"), ("sr-latn-rs", "sr-Latn-RS"), ("es-419", "es-419"),
        ("de-ch-1901", "de-CH-1901"), ("en-US-x-Twain", "en-US-x-twain"), ("en-u-ca-gregory", "en-u-ca-gregory"),
        ("x-Klingon", "x-klingon"), ("i-KLINGON", "i-klingon"), ("  fr-ch ", "fr-CH"), ("haw", "haw"),
    ])
    func normalises(input: String, expected: String) {
        #expect(LanguageTag(input)?.description == expected)
    }

    @Test("rejects garbage", arguments: [
        "", " ", "*", "en-", "-en", "en--us", "en_US", "e1", "123", "abcdefghi", "en-abcdefghi",
        "fr!", "fr;q=1", "fr ch", "é", "en-ü", "en-*",
    ])
    func rejects(input: String) {
        #expect(LanguageTag(input) == nil)
    }

    @Test func primarySubtag() {
        #expect(tag("fr-CH").primary == "fr")
        #expect(tag("ZH-Hant-TW").primary == "zh")
        #expect(tag("en").primary == "en")
    }

    @Test("matching", arguments: [
        ("fr", "fr", LanguageMatch.exact), ("fr-CH", "fr-ch", .exact), ("fr-CH", "fr", .primary),
        ("fr", "fr-CH", .primary), ("fr-CH", "fr-FR", .primary), ("fr", "en", .none), ("zh-Hant", "zh", .primary),
        ("frr", "fr", .none),
    ])
    func matching(visitor: String, operatorTag: String, expected: LanguageMatch) {
        #expect(LanguageTag.match(visitor: tag(visitor), operator: tag(operatorTag)) == expected)
        #expect(tag(operatorTag).match(tag(visitor)) == expected)
    }

    @Test func matchOrder() {
        #expect(LanguageMatch.none < .primary)
        #expect(LanguageMatch.primary < .exact)
    }

    @Test func equalityIgnoresCase() {
        #expect(tag("FR-ch") == tag("fr-CH"))
        #expect(Set(tags("en", "EN", "En")).count == 1)
    }

    @Test func codable() throws {
        let data = try JSONEncoder().encode(tags("fr-CH", "en"))
        #expect(String(decoding: data, as: UTF8.self) == #"["fr-CH","en"]"#)
        #expect(try JSONDecoder().decode([LanguageTag].self, from: Data(#"["zh-hant"]"#.utf8)) == tags("zh-Hant"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([LanguageTag].self, from: Data(#"["en_US"]"#.utf8)) }
    }
}
