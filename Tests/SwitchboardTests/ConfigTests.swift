import Foundation
import LiveChat
import Testing

import SwitchboardApp

/// The repository's root, found from this file's path.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Parses `toml` and returns the error it must raise.
private func configError(_ toml: String, file: String = "etc/test.toml") -> ConfigError? {
    do {
        _ = try SwitchboardConfig.parse(toml, file: file)
        return nil
    } catch {
        return error
    }
}

/// Bad configs: the text, then the key, the line and part of the message the
/// error must give.
private let badConfigs: [(toml: String, key: String, line: Int, message: String)] = [
    ("[[listen]]\naddress = \"0.0.0.0:70000\"\n", "listen[0].address", 2, "out of range"),
    ("[[listen]]\naddress = \"0.0.0.0:6697\"\n\n[[listen]]\naddress = \"127.0.0.1\"\n", "listen[1].address", 5, "missing port"),
    ("[[listen]]\ntls = true\n", "listen[0].address", 1, "missing key"),
    ("[[listen]]\naddress = \"0.0.0.0:1\"\ntls = \"yes\"\n", "listen[0].tls", 3, "expected true or false"),
    ("[[listen]]\naddress = \"1.2.3.4:1\"\n[[listen]]\naddress = \"1.2.3.4:1\"\n", "listen[1].address", 4, "already used"),
    ("listen = []\n", "listen", 1, "at least one listener"),
    ("[web]\naddress = \"0.0.0.0:-1\"\n", "web.address", 2, "invalid port"),
    ("[web]\nallowed_origins = [\"https://ok.example\", \"https://x.example/path\"]\n", "web.allowed_origins[1]", 2, "invalid origin"),
    ("\n[livechat]\n# comment\ninactivity_timeout = \"30 minutes\"\n", "livechat.inactivity_timeout", 4,
     "invalid duration \"30 minutes\" (use 45s, 30m, 2h)"),
    ("[livechat]\ninactivity_timeout = \"0m\"\n", "livechat.inactivity_timeout", 2, "must be positive"),
    ("[livechat]\ninactivity_timeout = 30\n", "livechat.inactivity_timeout", 2, "expected a duration"),
    ("[limits]\nping_timeout = \"1d\"\n", "limits.ping_timeout", 2, "invalid duration"),
    ("[limits]\nregistration_timeout = \"3000000h\"\n", "limits.registration_timeout", 2,
     "the duration \"3000000h\" is too long (at most 8760h = 365 days)"),
    ("[limits]\nping_interval = \"8760h1s\"\n", "limits.ping_interval", 2, "too long (at most 8760h = 365 days)"),
    ("[limits]\nping_timeout = \"999999999h\"\n", "limits.ping_timeout", 2, "too long"),
    ("[limits]\nlogin_failure_window = \"8761h\"\n", "limits.login_failure_window", 2, "too long"),
    ("[livechat]\ninactivity_timeout = \"3000000h\"\n", "livechat.inactivity_timeout", 2, "too long"),
    ("[livechat]\nlanguages = []\n", "livechat.languages", 2, "at least one language"),
    ("[livechat]\nlanguages = [\"en\", \"english language\"]\n", "livechat.languages[1]", 2, "invalid language tag"),
    ("[livechat]\nlanguages = [\"en\", \"EN\"]\n", "livechat.languages[1]", 2, "listed twice"),
    ("[livechat]\nmax_sessions = -1\n", "livechat.max_sessions", 2, "0 (no limit) or more"),
    ("[livechat]\nmax_sessions = \"3\"\n", "livechat.max_sessions", 2, "expected an integer, found string"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"website\"\nslug = \"w\"\n", "livechat.channel[0].irc", 3, "starts with '#'"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"Web Site\"\n", "livechat.channel[0].slug", 4, "invalid slug"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\n[[livechat.channel]]\nname = \"X\"\nirc = \"#x\"\nslug = \"w\"\n",
     "livechat.channel[1].slug", 8, "used by another channel"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\n[[livechat.channel]]\nname = \"X\"\nirc = \"#W\"\nslug = \"x\"\n",
     "livechat.channel[1].irc", 7, "used by another live chat channel"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\n[[livechat.channel]]\nname = \"X\"\nirc = \"#w-2\"\nslug = \"x\"\n",
     "livechat.channel[1].irc", 7, "clashes"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\n", "livechat.channel[0].slug", 1, "missing key"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\nbot = \"faq\"\nbot_when = \"sometimes\"\n",
     "livechat.channel[0].bot_when", 6, "\"always\" or \"no_operator\""),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\nbot_when = \"always\"\n",
     "livechat.channel[0].bot_when", 5, "needs a bot"),
    ("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\nbot = \"9bot\"\n", "livechat.channel[0].bot", 5, "invalid bot login"),
    ("[limits]\nexempt = [\"127.0.0.0/8\", \"::1/129\"]\n", "limits.exempt[1]", 2, "prefix length"),
    ("[limits]\nexempt = [\"localhost\"]\n", "limits.exempt[0]", 2, "invalid address or CIDR"),
    ("[limits]\nflood_rate = 0\n", "limits.flood_rate", 2, "positive"),
    ("[[listen]]\naddress = \"127.0.0.1:7000\"\ntls = false\n[web]\naddress = \"127.0.0.1:7000\"\n", "web.address", 5,
     "also an IRC listener"),
    ("[[listen]]\naddress = \"0.0.0.0:7001\"\n[web]\naddress = \"127.0.0.1:7001\"\n", "web.address", 4,
     "also an IRC listener"),
    ("[limits]\nlogin_failures_per_ip = -1\n", "limits.login_failures_per_ip", 2, "0 (no limit) or more"),
    ("[limits]\nlogin_failure_window = 600\n", "limits.login_failure_window", 2, "expected a duration string"),
    ("[limits]\nsend_queue = 100\n", "limits.send_queue", 2, "at least"),
    ("[server]\nname = \"not a name\"\n", "server.name", 2, "invalid server name"),
    ("[server]\nname = 42\n", "server.name", 2, "expected a string, found integer"),
    ("[server]\nmotd = 1\n", "server.motd", 2, "expected a string"),
    ("[server]\ncontact = \"a\\nb\"\n", "server.contact", 2, "one line"),
    ("[storage]\npath = \"\"\n", "storage.path", 2, "must not be empty"),
    ("server = 1\n", "server", 1, "expected a table"),
]

@Suite struct ConfigTests {
    func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "switchboard-config-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test func emptyFileGivesTheDefaults() throws {
        #expect(try SwitchboardConfig.parse("", file: "x.toml") == .defaults)
        #expect(try SwitchboardConfig.parse("# nothing but a comment\n", file: "x.toml") == .defaults)
    }

    @Test func contractDefaults() {
        let d = SwitchboardConfig.defaults
        #expect(d.serverName == "switchboard.local")
        #expect(d.network == "Switchboard")
        #expect(d.listeners == [
            .init(host: "0.0.0.0", port: 6697, tls: true),
            .init(host: "127.0.0.1", port: 6667, tls: false),
        ])
        #expect(d.tlsCertificate == "certs/server.crt" && d.tlsKey == "certs/server.key")
        #expect(d.webHost == "0.0.0.0" && d.webPort == 8080 && d.webAddress == "0.0.0.0:8080")
        #expect(d.allowedOrigins.isEmpty)
        #expect(d.storagePath == "data/switchboard.sqlite")
        #expect(d.exempt == ["127.0.0.0/8", "::1"])
        #expect(d.languages == ["en", "fr", "es", "de"])
        #expect(d.inactivityTimeout == 1800)
        #expect(d.maxSessions == 0)
        #expect(d.channels == [
            .init(name: "Website", irc: "#website", slug: "website", welcome: "How may I help you?",
                  button: "Need help? Chat with us.", bot: nil, botWhen: .always)
        ])
        #expect(d.connectionsPerIP == 10 && d.registrationTimeout == 30 && d.pingInterval == 90 && d.pingTimeout == 60)
        #expect(d.sendQueue == 1_048_576 && d.floodBurst == 10 && d.floodRate == 2)
        #expect(d.loginFailuresPerIP == 10 && d.loginFailureWindow == 600)
        #expect(!d.motd.isEmpty)
    }

    @Test func missingSectionsAndKeysTakeDefaults() throws {
        let config = try SwitchboardConfig.parse(
            """
            [server]
            name = "chat.example.com"

            [livechat]
            max_sessions = 3
            """, file: "x.toml")
        var expected = SwitchboardConfig.defaults
        expected.serverName = "chat.example.com"
        expected.maxSessions = 3
        #expect(config == expected)
    }

    @Test func shippedConfigIsTheDefaults() throws {
        let path = repositoryRoot.appendingPathComponent("etc/switchboard.toml").path
        var config = try SwitchboardConfig.load(path: path)
        #expect(!config.motd.isEmpty)
        config.motd = SwitchboardConfig.defaults.motd
        #expect(config == .defaults)
    }

    /// A copy of the shipped config with CRLF line breaks (saved on Windows) means the same.
    @Test func crlfCopyOfTheShippedConfigIsTheDefaults() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("etc/switchboard.toml"), encoding: .utf8)
        let path = folder + "/switchboard.toml"
        try shipped.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try SwitchboardConfig.load(path: path) == .defaults)
    }

    /// A CRLF copy of the shipped config with one line changed: the error names that line.
    @Test(arguments: [
        ("max_sessions = 0", "max_session = 0", "livechat.max_session", "unknown key; did you mean \"max_sessions\"?"),
        ("max_sessions = 0", "max_sessions = -1", "livechat.max_sessions", "must be 0 (no limit) or more, not -1"),
        ("inactivity_timeout = \"30m\"", "inactivity_timeout = \"10x\"", "livechat.inactivity_timeout",
         "invalid duration \"10x\" (use 45s, 30m, 2h)"),
        ("address = \"127.0.0.1:6667\"", "address = \"127.0.0.1:66670\"", "listen[1].address",
         "invalid address \"127.0.0.1:66670\": port 66670 is out of range 0-65535"),
    ])
    func crlfFileErrorsNameTheLine(original: String, replacement: String, key: String, message: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var lines = try String(contentsOf: repositoryRoot.appendingPathComponent("etc/switchboard.toml"), encoding: .utf8)
            .components(separatedBy: "\n")
        let index = try #require(lines.firstIndex(of: original))
        lines[index] = replacement
        let path = folder + "/switchboard.toml"
        try lines.joined(separator: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { try SwitchboardConfig.load(path: path) }
        #expect(error?.description == "\(path):\(index + 1): \(key): \(message)")
    }

    @Test func fullConfig() throws {
        let config = try SwitchboardConfig.parse(
            """
            [server]
            name = "irc.example.org"
            network = "ExampleNet"
            motd = \"\"\"
            Hello.
            Second line.
            \"\"\"
            contact = "ops@example.org"

            [[listen]]
            address = "[::1]:6697"
            tls = true
            [[listen]]
            address = "localhost:0"
            tls = false

            [tls]
            certificate = "/etc/ssl/chat.pem"
            key = "/etc/ssl/chat.key"

            [web]
            address = "[::]:8443"
            allowed_origins = ["https://www.example.org", "http://localhost:3000"]

            [storage]
            path = "/var/lib/switchboard/db.sqlite"

            [limits]
            exempt = []
            connections_per_ip = 3
            login_failures_per_ip = 4
            login_failure_window = "1h"
            registration_timeout = "10s"
            ping_interval = "2m"
            ping_timeout = "1m30s"
            send_queue = 65536
            flood_burst = 5
            flood_rate = 0.5

            [livechat]
            languages = ["en", "pt-BR", "zh-Hant-TW"]
            inactivity_timeout = "1h30m"
            max_sessions = 4

            [[livechat.channel]]
            name = "Sales"
            irc = "#sales"
            slug = "sales"
            welcome = "Hi!"
            button = "Talk to sales"
            bot = "faqbot"
            bot_when = "no_operator"

            [[livechat.channel]]
            name = "Support"
            irc = "#support"
            slug = "support-2"
            """, file: "x.toml")
        #expect(config.serverName == "irc.example.org")
        #expect(config.network == "ExampleNet")
        #expect(config.motd == ["Hello.", "Second line."])
        #expect(config.contact == "ops@example.org")
        #expect(config.listeners == [.init(host: "::1", port: 6697, tls: true), .init(host: "localhost", port: 0, tls: false)])
        #expect(config.listeners[0].address == "[::1]:6697")
        #expect(config.tlsCertificate == "/etc/ssl/chat.pem" && config.tlsKey == "/etc/ssl/chat.key")
        #expect(config.webHost == "::" && config.webPort == 8443 && config.webAddress == "[::]:8443")
        #expect(config.allowedOrigins == ["https://www.example.org", "http://localhost:3000"])
        #expect(config.storagePath == "/var/lib/switchboard/db.sqlite")
        #expect(config.exempt.isEmpty)
        #expect(config.connectionsPerIP == 3)
        #expect(config.loginFailuresPerIP == 4 && config.loginFailureWindow == 3600)
        #expect(config.registrationTimeout == 10 && config.pingInterval == 120 && config.pingTimeout == 90)
        #expect(config.sendQueue == 65536 && config.floodBurst == 5 && config.floodRate == 0.5)
        #expect(config.languages == ["en", "pt-BR", "zh-Hant-TW"])
        #expect(config.inactivityTimeout == 5400)
        #expect(config.maxSessions == 4)
        #expect(config.channels == [
            .init(name: "Sales", irc: "#sales", slug: "sales", welcome: "Hi!", button: "Talk to sales",
                  bot: "faqbot", botWhen: .noOperator),
            .init(name: "Support", irc: "#support", slug: "support-2"),
        ])
        #expect(config.channel(slug: "sales")?.irc == "#sales")
        #expect(config.channel(irc: "#SUPPORT")?.slug == "support-2")
        #expect(config.enabledLanguage("PT-br") == "pt-BR")
        #expect(config.enabledLanguage("de") == nil)
    }

    @Test func ipv6ListenerAddresses() throws {
        let config = try SwitchboardConfig.parse(
            """
            [[listen]]
            address = "[::]:6697"
            [[listen]]
            address = "[2001:db8::1]:7000"
            tls = false
            """, file: "x.toml")
        #expect(config.listeners == [.init(host: "::", port: 6697, tls: true), .init(host: "2001:db8::1", port: 7000, tls: false)])

        let error = try #require(configError("[[listen]]\naddress = \"::1:6697\"\n"))
        #expect(error.key == "listen[0].address")
        #expect(error.line == 2)
        #expect(error.message.contains("[::1]:6697"))
    }

    /// Each bad config must name the key and the line.
    @Test(arguments: badConfigs)
    func validationErrorsNameKeyAndLine(toml: String, key: String, line: Int, message: String) throws {
        try expectError(configError(toml), in: toml, key: key, line: line, message: message)
    }

    /// The same, from a file edited on Windows: CRLF line breaks count as one.
    @Test(arguments: badConfigs)
    func crlfLineEndingsKeepTheLine(toml: String, key: String, line: Int, message: String) throws {
        let crlf = toml.replacingOccurrences(of: "\n", with: "\r\n")
        try expectError(configError(crlf), in: crlf, key: key, line: line, message: message)
    }

    private func expectError(_ error: ConfigError?, in toml: String, key: String, line: Int, message: String) throws {
        let error = try #require(error, "expected an error for:\n\(toml)")
        #expect(error.file == "etc/test.toml")
        #expect(error.key == key)
        #expect(error.line == line)
        #expect(error.message.contains(message), "message: \(error.message)")
        #expect(error.description.hasPrefix("etc/test.toml:\(line): \(key): "))
    }

    @Test func durationsUpToAYearAreAccepted() throws {
        let config = try SwitchboardConfig.parse(
            """
            [limits]
            login_failure_window = "8760h"
            registration_timeout = "8759h59m59s"
            ping_interval = "8760h"
            ping_timeout = "8760h"
            [livechat]
            inactivity_timeout = "8760h"
            """, file: "x.toml")
        let year: TimeInterval = 365 * 24 * 3600
        #expect(config.loginFailureWindow == year && config.registrationTimeout == year - 1)
        #expect(config.pingInterval == year && config.pingTimeout == year && config.inactivityTimeout == year)
    }

    @Test func errorDescriptionFormat() {
        let error = ConfigError(
            file: "etc/x.toml", line: 12, key: "livechat.inactivity_timeout",
            message: "invalid duration \"30 minutes\" (use 45s, 30m, 2h)")
        #expect(error.description == "etc/x.toml:12: livechat.inactivity_timeout: invalid duration \"30 minutes\" (use 45s, 30m, 2h)")
        #expect(ConfigError(file: "a.toml", message: "no such file").description == "a.toml: no such file")
    }

    @Test func unknownKeysAndTables() throws {
        var error = try #require(configError("[livechat]\nlanguages = [\"en\"]\ninactivity_timout = \"30m\"\n"))
        #expect(error.key == "livechat.inactivity_timout")
        #expect(error.line == 3)
        #expect(error.message.contains("unknown key"))
        #expect(error.message.contains("did you mean \"inactivity_timeout\""))

        error = try #require(configError("[server]\nname = \"a.b\"\n\n[serveur]\nname = \"x\"\n"))
        #expect(error.key == "serveur")
        #expect(error.line == 4)
        #expect(error.message.contains("unknown table [serveur]"))

        error = try #require(configError("[[listen]]\naddress = \"0.0.0.0:1\"\nport = 6697\n"))
        #expect(error.key == "listen[0].port")
        #expect(error.line == 3)

        error = try #require(configError("[[livechat.channel]]\nname = \"W\"\nirc = \"#w\"\nslug = \"w\"\ncolor = \"red\"\n"))
        #expect(error.key == "livechat.channel[0].color")
        #expect(error.line == 5)

        error = try #require(configError("[limits]\nexempt = []\n[limits.extra]\nx = 1\n"))
        #expect(error.key == "limits.extra")
        #expect(error.line == 3)
    }

    @Test func syntaxErrorsCarryTheLine() throws {
        let error = try #require(configError("[server]\nname = \"a.b\"\nnetwork = \n[web]\n"))
        #expect(error.line == 3)
        #expect(error.key == nil)
        #expect(error.message.contains("syntax error"))
        #expect(error.description.hasPrefix("etc/test.toml:3: TOML syntax error"))

        let unterminated = try #require(configError("[server]\n\n\nname = \"oops\n"))
        #expect(unterminated.line == 4)
    }

    @Test func linesInsideMultilineStringsAreNotKeys() throws {
        let error = try #require(configError(
            """
            [server]
            motd = \"\"\"
            name = this is text
            \"\"\"
            name = "bad name"
            """))
        #expect(error.key == "server.name")
        #expect(error.line == 5)
    }

    @Test func missingFile() throws {
        do {
            _ = try SwitchboardConfig.load(path: "/nonexistent/switchboard.toml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.file == "/nonexistent/switchboard.toml")
            #expect(error.description.contains("no such file"))
        }
    }

    @Test(arguments: [
        ("45s", 45.0), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1h30m15s", 5415), ("90s", 90), ("0s", 0), ("1h 30m", 5400),
    ] as [(String, Double)])
    func durations(text: String, seconds: Double) {
        #expect(LiveChatDuration.parse(text) == seconds)
    }

    @Test(arguments: ["", "10", "m", "30 minutes", "1.5h", "-5s", "5S", "h30"])
    func invalidDurations(text: String) {
        #expect(LiveChatDuration.parse(text) == nil)
    }

    @Test func describingDurations() {
        #expect(DurationText.describe(1800) == "30 minutes")
        #expect(DurationText.describe(5400) == "1 hour 30 minutes")
        #expect(DurationText.describe(45) == "45 seconds")
        #expect(DurationText.describe(60) == "1 minute")
        #expect(LiveChatDuration.format(5400) == "1h30m")
        #expect(LiveChatDuration.format(45) == "45s")
    }
}
