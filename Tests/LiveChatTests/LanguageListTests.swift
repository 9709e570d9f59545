import LiveChat
import Testing

@Suite("Operator language lists")
struct LanguageListTests {
    @Test("valid lists", arguments: [
        ("fr,en,es", ["fr", "en", "es"]),
        ("fr, en , es", ["fr", "en", "es"]),
        ("FR,En", ["fr", "en"]),
        ("de", ["de"]),
        ("fr,en,fr", ["fr", "en"]),          // duplicates collapse, first kept
        ("en,EN, en", ["en"]),
        ("fr en es", ["fr", "en", "es"]),      // spaces separate codes too
        ("fr ,en", ["fr", "en"]),
    ])
    func parses(text: String, expected: [String]) throws {
        let list = try LanguageList.parse(text, enabled: enabled).get()
        #expect(list.map(\.description) == expected)
        #expect(LanguageList.format(list) == expected.joined(separator: ","))
    }

    @Test("refused lists", arguments: [
        ("xx", LanguageError.unknownOrDisabled(codes: ["xx"], enabled: enabled)),
        ("fr,it", .unknownOrDisabled(codes: ["it"], enabled: enabled)),
        ("it, ja ,fr", .unknownOrDisabled(codes: ["it", "ja"], enabled: enabled)),
        ("fr-CH", .unknownOrDisabled(codes: ["fr-CH"], enabled: enabled)),  // only the enabled tag itself
        ("en_US", .unknownOrDisabled(codes: ["en_US"], enabled: enabled)),
        ("fr,,en", .emptyItem(enabled: enabled)),
        ("fr,", .emptyItem(enabled: enabled)),
        (",fr", .emptyItem(enabled: enabled)),
        ("fr , ,en", .emptyItem(enabled: enabled)),
        ("", .emptyItem(enabled: enabled)),
        ("  ", .emptyItem(enabled: enabled)),
    ])
    func refuses(text: String, expected: LanguageError) {
        #expect(LanguageList.parse(text, enabled: enabled) == .failure(expected))
    }

    @Test func messages() {
        #expect(LanguageError.unknownOrDisabled(codes: ["xx"], enabled: enabled).description
            == "unknown or disabled language 'xx'; enabled: en, fr, es, de")
        #expect(LanguageError.unknownOrDisabled(codes: ["it", "ja"], enabled: enabled).description
            == "unknown or disabled languages 'it', 'ja'; enabled: en, fr, es, de")
        #expect(LanguageError.emptyItem(enabled: enabled).description
            == "empty language code in the list; enabled: en, fr, es, de")
        #expect(LanguageError.unknownOrDisabled(codes: ["fr"], enabled: []).description
            == "unknown or disabled language 'fr'; enabled: none")
        #expect(LanguageError.invalid(codes: ["en_US"]).description == "invalid language tag 'en_US'")
        let error = LanguageError.unknownOrDisabled(codes: ["xx"], enabled: enabled)
        #expect(error.codes == ["xx"])
        #expect(error.enabled == enabled)
    }

    @Test func validateCodesOneByOne() {
        #expect(LanguageList.validate(["fr", " EN "], enabled: enabled) == .success(tags("fr", "en")))
        #expect(LanguageList.validate([], enabled: enabled) == .success([]))
        #expect(LanguageList.validate(["fr", ""], enabled: enabled) == .failure(.emptyItem(enabled: enabled)))
        #expect(LanguageList.validate(["pt", "fr", "pt"], enabled: enabled)
            == .failure(.unknownOrDisabled(codes: ["pt"], enabled: enabled)))
    }

    @Test func enabledLanguagesFromConfig() {
        #expect(LanguageList.parseEnabled(["en", "FR", "pt-br", "en"]) == .success(tags("en", "fr", "pt-BR")))
        #expect(LanguageList.parseEnabled(["en", "en_US", "*"]) == .failure(.invalid(codes: ["en_US", "*"])))
    }
}
