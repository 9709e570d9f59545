import LiveChat
import Testing

@Suite("Accept-Language")
struct AcceptLanguageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var header: String
        var expected: [String]
        var enabled: [String] = ["en", "fr", "es", "de"]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "empty header", header: "", expected: []),
        Case(name: "blank header", header: "  ,  ", expected: []),
        Case(name: "single tag", header: "fr", expected: ["fr"]),
        Case(name: "browser-style header", header: "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5",
             expected: ["fr-CH", "fr", "en", "de"]),
        Case(name: "ranked by q, not by order", header: "en;q=0.5, de;q=0.9, fr", expected: ["fr", "de", "en"]),
        Case(name: "equal q keeps header order", header: "es;q=0.8, en;q=0.8, de;q=0.8, fr;q=0.8",
             expected: ["es", "en", "de", "fr"]),
        Case(name: "implicit q=1 equals explicit q=1", header: "de;q=1, en, fr;q=1.000", expected: ["de", "en", "fr"]),
        Case(name: "three decimals", header: "en;q=0.001, fr;q=0.002", expected: ["fr", "en"]),
        Case(name: "q=0 dropped", header: "fr;q=0, en", expected: ["en"]),
        Case(name: "q=0.000 dropped", header: "fr;q=0.000, en;q=0.1", expected: ["en"]),
        Case(name: "star alone", header: "*", expected: []),
        Case(name: "star does not break parsing", header: "*, de;q=0.5", expected: ["de"]),
        Case(name: "bad q value ignored", header: "fr;q=abc, en", expected: ["en"]),
        Case(name: "q above 1 ignored", header: "fr;q=2, en;q=0.3", expected: ["en"]),
        Case(name: "q=1.5 ignored", header: "fr;q=1.5, en;q=0.3", expected: ["en"]),
        Case(name: "four decimals ignored", header: "fr;q=0.5555, en;q=0.3", expected: ["en"]),
        Case(name: "q without leading digit ignored", header: "fr;q=.5, en;q=0.3", expected: ["en"]),
        Case(name: "empty q ignored", header: "fr;q=, en;q=0.3", expected: ["en"]),
        Case(name: "negative q ignored", header: "fr;q=-0.5, en;q=0.3", expected: ["en"]),
        Case(name: "upper-case Q accepted", header: "en;Q=0.5, fr;q=0.6", expected: ["fr", "en"]),
        Case(name: "whitespace around separators", header: " en ; q=0.5 ,\tfr ;q=0.6 ", expected: ["fr", "en"]),
        Case(name: "empty parameters ignored", header: ";;, fr;;, en", expected: ["en"]),
        Case(name: "extra parameter ignored", header: "fr;q=0.9;level=1, en;q=0.5", expected: ["en"]),
        Case(name: "non-q parameter ignored", header: "fr;level=1, en;q=0.5", expected: ["en"]),
        Case(name: "dangling hyphen ignored", header: "en-, fr", expected: ["fr"]),
        Case(name: "underscore tag ignored", header: "en_US, fr", expected: ["fr"]),
        Case(name: "empty parts ignored", header: ",,fr,,en,", expected: ["fr", "en"]),
        Case(name: "garbage", header: "!!!, 12, é, ;q=0.5", expected: []),
        Case(name: "disabled languages dropped", header: "it, ja;q=0.9, en;q=0.1", expected: ["en"]),
        Case(name: "nothing enabled matches", header: "it, pt-BR", expected: []),
        Case(name: "primary-subtag match keeps the visitor's tag", header: "fr-CH", expected: ["fr-CH"]),
        Case(name: "region tag kept when only another region is enabled", header: "pt-PT, en;q=0.1",
             expected: ["pt-PT", "en"], enabled: ["pt-BR", "en"]),
        Case(name: "plain tag kept when a regional tag is enabled", header: "pt", expected: ["pt"], enabled: ["pt-BR"]),
        Case(name: "case normalised", header: "FR-ch, EN;q=0.5", expected: ["fr-CH", "en"]),
        Case(name: "duplicates keep the best-ranked occurrence", header: "en;q=0.2, fr;q=0.5, EN;q=0.9",
             expected: ["en", "fr"]),
        Case(name: "duplicate at lower q", header: "fr, en;q=0.5, FR;q=0.1", expected: ["fr", "en"]),
    ]

    @Test(arguments: cases)
    func parse(_ c: Case) {
        let result = AcceptLanguage.parse(c.header, enabled: c.enabled.map(tag))
        #expect(result.map(\.description) == c.expected)
    }

    @Test func entriesCarryWeights() {
        let entries = AcceptLanguage.entries("it;q=0.25, fr-ch, *;q=0.1, en;q=0")
        #expect(entries == [
            AcceptLanguage.Entry(tag: tag("fr-CH"), quality: 1000),
            AcceptLanguage.Entry(tag: tag("it"), quality: 250),
        ])
        #expect(entries.map(\.description) == ["fr-CH", "it;q=0.25"])
    }

    @Test func longHeaderStaysStable() {
        let header = (0..<500).map { i in "en;q=0.\(i % 10)" }.joined(separator: ",") + ",fr;q=0.95"
        #expect(AcceptLanguage.parse(header, enabled: enabled) == tags("fr", "en"))
    }
}
