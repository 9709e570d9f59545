import Foundation
import LiveChat
import Storage
import TOMLKit

/// Turns a parsed TOML document into a `SwitchboardConfig`, checking every
/// key and value. Errors name the file, the dotted key and its line.
struct ConfigReader {
    let file: String
    let lines: ConfigLines

    func error(_ key: String?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: key.flatMap(lines.line(of:)), key: key, message: message)
    }

    // MARK: The document

    func read(_ root: TOMLTable) throws(ConfigError) -> SwitchboardConfig {
        var config = SwitchboardConfig.defaults
        try checkKeys(root, path: "", allowed: ["server", "listen", "tls", "web", "storage", "limits", "livechat"])

        if let server = try table(root, "server", path: "") {
            try checkKeys(server, path: "server", allowed: ["name", "network", "motd", "contact"])
            if let name = try string(server, "name", path: "server") {
                try check(Self.isServerName(name), "server.name",
                    "invalid server name \"\(name)\": use a host-like name with a dot, e.g. \"chat.example.com\"")
                config.serverName = name
            }
            if let network = try string(server, "network", path: "server") {
                try check(!network.isEmpty && !network.contains(where: { $0.isWhitespace || $0.isNewline }),
                    "server.network", "invalid network name \"\(network)\": it must be non-empty, without spaces")
                config.network = network
            }
            if let motd = server["motd"] {
                config.motd = try readMOTD(motd)
            }
            if let contact = try string(server, "contact", path: "server") {
                try check(!contact.contains(where: \.isNewline) && contact.utf8.count <= 200, "server.contact",
                    "invalid contact: it must be one line of at most 200 bytes")
                config.contact = contact
            }
        }

        if let listen = root["listen"] {
            config.listeners = try readListeners(listen)
        }

        if let tls = try table(root, "tls", path: "") {
            try checkKeys(tls, path: "tls", allowed: ["certificate", "key"])
            if let certificate = try string(tls, "certificate", path: "tls") {
                try check(!certificate.isEmpty, "tls.certificate", "the path must not be empty")
                config.tlsCertificate = certificate
            }
            if let key = try string(tls, "key", path: "tls") {
                try check(!key.isEmpty, "tls.key", "the path must not be empty")
                config.tlsKey = key
            }
        }

        if let web = try table(root, "web", path: "") {
            try checkKeys(web, path: "web", allowed: ["address", "allowed_origins", "max_body_bytes"])
            if let address = try string(web, "address", path: "web") {
                switch ConfigNetwork.parseAddress(address) {
                case .success(let host, let port):
                    config.webHost = host
                    config.webPort = port
                    // One port cannot serve both: the server would only fail when binding.
                    let wildcard = ["0.0.0.0", "::"]
                    if port != 0, config.listeners.contains(where: {
                        $0.port == port && ($0.host == host || wildcard.contains($0.host) || wildcard.contains(host))
                    }) {
                        throw error("web.address", "address \"\(address)\" is also an IRC listener's ([[listen]]); use another port")
                    }
                case .failure(let reason):
                    throw error("web.address", reason)
                }
            }
            if let origins = try stringArray(web, "allowed_origins", path: "web") {
                for (index, origin) in origins.enumerated() {
                    if let problem = ConfigNetwork.originProblem(origin) {
                        throw error("web.allowed_origins[\(index)]", problem)
                    }
                }
                config.allowedOrigins = origins
            }
            if let value = try int(web, "max_body_bytes", path: "web") {
                try check((1024...16_777_216).contains(value), "web.max_body_bytes",
                    "must be between 1024 and 16777216 bytes, not \(value)")
                config.webMaxBodyBytes = value
            }
        }

        if let storage = try table(root, "storage", path: "") {
            try checkKeys(storage, path: "storage", allowed: ["path"])
            if let path = try string(storage, "path", path: "storage") {
                try check(!path.isEmpty, "storage.path", "the path must not be empty")
                config.storagePath = path
            }
        }

        if let limits = try table(root, "limits", path: "") {
            try readLimits(limits, into: &config)
        }

        if let livechat = try table(root, "livechat", path: "") {
            try readLiveChat(livechat, into: &config)
        }

        return config
    }

    private func readMOTD(_ value: any TOMLValueConvertible) throws(ConfigError) -> [String] {
        if let text = value.string {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
                String($0.hasSuffix("\r") ? $0.dropLast() : $0)
            }
            if lines.last == "" { lines.removeLast() }
            return lines
        }
        if let array = value.array {
            var lines: [String] = []
            for (index, element) in array.enumerated() {
                guard let line = element.string else {
                    throw error("server.motd[\(index)]", "expected a string, found \(element.type)")
                }
                lines.append(line)
            }
            return lines
        }
        throw error("server.motd", "expected a string (use a multi-line \"\"\"string\"\"\"), found \(value.type)")
    }

    private func readListeners(_ value: any TOMLValueConvertible) throws(ConfigError) -> [SwitchboardConfig.Listener] {
        guard let array = value.array else {
            throw error("listen", "expected [[listen]] tables, found \(value.type)")
        }
        guard !array.isEmpty else {
            throw error("listen", "at least one listener is needed")
        }
        var listeners: [SwitchboardConfig.Listener] = []
        for (index, element) in array.enumerated() {
            let path = "listen[\(index)]"
            guard let table = element.table else {
                throw error(path, "expected a [[listen]] table, found \(element.type)")
            }
            try checkKeys(table, path: path, allowed: ["address", "tls"])
            guard let address = try string(table, "address", path: path) else {
                throw error("\(path).address", "missing key: every [[listen]] needs an address, e.g. \"0.0.0.0:6697\"")
            }
            let tls = try bool(table, "tls", path: path) ?? true
            switch ConfigNetwork.parseAddress(address) {
            case .success(let host, let port):
                let listener = SwitchboardConfig.Listener(host: host, port: port, tls: tls)
                if port != 0, listeners.contains(where: { $0.host == host && $0.port == port }) {
                    throw error("\(path).address", "address \"\(address)\" is already used by another listener")
                }
                listeners.append(listener)
            case .failure(let reason):
                throw error("\(path).address", reason)
            }
        }
        return listeners
    }

    private func readLimits(_ limits: TOMLTable, into config: inout SwitchboardConfig) throws(ConfigError) {
        let path = "limits"
        try checkKeys(limits, path: path, allowed: [
            "exempt", "connections_per_ip", "login_failures_per_ip", "login_failure_window", "registration_timeout", "ping_interval", "ping_timeout",
            "send_queue", "flood_burst", "flood_rate", "web_conversations_per_minute", "web_messages_per_minute",
        ])
        if let exempt = try stringArray(limits, "exempt", path: path) {
            for (index, entry) in exempt.enumerated() {
                if let problem = ConfigNetwork.cidrProblem(entry) {
                    throw error("limits.exempt[\(index)]", problem)
                }
            }
            config.exempt = exempt
        }
        if let value = try int(limits, "connections_per_ip", path: path) {
            try check(value >= 0, "limits.connections_per_ip", "must be 0 (no limit) or more, not \(value)")
            config.connectionsPerIP = value
        }
        if let value = try int(limits, "login_failures_per_ip", path: path) {
            try check(value >= 0, "limits.login_failures_per_ip", "must be 0 (no limit) or more, not \(value)")
            config.loginFailuresPerIP = value
        }
        if let value = try duration(limits, "login_failure_window", path: path) {
            config.loginFailureWindow = value
        }
        if let value = try duration(limits, "registration_timeout", path: path) {
            config.registrationTimeout = value
        }
        if let value = try duration(limits, "ping_interval", path: path) {
            config.pingInterval = value
        }
        if let value = try duration(limits, "ping_timeout", path: path) {
            config.pingTimeout = value
        }
        if let value = try int(limits, "send_queue", path: path) {
            try check(value >= 8192, "limits.send_queue", "must be at least 8192 bytes (one IRC line with tags), not \(value)")
            config.sendQueue = value
        }
        if let value = try int(limits, "flood_burst", path: path) {
            try check(value >= 1, "limits.flood_burst", "must be at least 1, not \(value)")
            config.floodBurst = value
        }
        if let value = try number(limits, "flood_rate", path: path) {
            try check(value > 0 && value.isFinite, "limits.flood_rate", "must be a positive number of lines per second, not \(value)")
            config.floodRate = value
        }
        if let value = try int(limits, "web_conversations_per_minute", path: path) {
            try check(value >= 0, "limits.web_conversations_per_minute", "must be 0 (no limit) or more, not \(value)")
            config.webConversationsPerMinute = value
        }
        if let value = try int(limits, "web_messages_per_minute", path: path) {
            try check(value >= 0, "limits.web_messages_per_minute", "must be 0 (no limit) or more, not \(value)")
            config.webMessagesPerMinute = value
        }
    }

    private func readLiveChat(_ livechat: TOMLTable, into config: inout SwitchboardConfig) throws(ConfigError) {
        let path = "livechat"
        try checkKeys(livechat, path: path, allowed: ["languages", "inactivity_timeout", "max_sessions", "channel"])
        if let languages = try stringArray(livechat, "languages", path: path) {
            try check(!languages.isEmpty, "livechat.languages", "enable at least one language, e.g. [\"en\"]")
            var seen: [String] = []
            for (index, code) in languages.enumerated() {
                try check(Self.isLanguageTag(code), "livechat.languages[\(index)]",
                    "invalid language tag \"\(code)\" (use BCP 47 tags such as \"en\", \"fr\", \"pt-BR\")")
                try check(!seen.contains(code.lowercased()), "livechat.languages[\(index)]",
                    "language \"\(code)\" is listed twice")
                seen.append(code.lowercased())
            }
            config.languages = languages
        }
        if let value = try duration(livechat, "inactivity_timeout", path: path) {
            config.inactivityTimeout = value
        }
        if let value = try int(livechat, "max_sessions", path: path) {
            try check(value >= 0, "livechat.max_sessions", "must be 0 (no limit) or more, not \(value)")
            config.maxSessions = value
        }
        if let value = livechat["channel"] {
            config.channels = try readChannels(value)
        }
    }

    private func readChannels(_ value: any TOMLValueConvertible) throws(ConfigError) -> [SwitchboardConfig.LiveChatChannel] {
        guard let array = value.array else {
            throw error("livechat.channel", "expected [[livechat.channel]] tables, found \(value.type)")
        }
        guard !array.isEmpty else {
            throw error("livechat.channel", "at least one live chat channel is needed")
        }
        var channels: [SwitchboardConfig.LiveChatChannel] = []
        for (index, element) in array.enumerated() {
            let path = "livechat.channel[\(index)]"
            guard let table = element.table else {
                throw error(path, "expected a [[livechat.channel]] table, found \(element.type)")
            }
            try checkKeys(table, path: path, allowed: ["name", "irc", "slug", "welcome", "button", "bot", "bot_when"])
            func required(_ key: String, _ example: String) throws(ConfigError) -> String {
                guard let value = try string(table, key, path: path) else {
                    throw error("\(path).\(key)", "missing key: every [[livechat.channel]] needs \(key), e.g. \(key) = \"\(example)\"")
                }
                return value
            }
            let name = try required("name", "Website")
            try check(!name.trimmingCharacters(in: .whitespaces).isEmpty, "\(path).name", "the name must not be empty")
            let irc = try required("irc", "#website")
            try check(Self.isChannelName(irc), "\(path).irc",
                "invalid IRC channel \"\(irc)\": it starts with '#' and has no spaces, commas or control characters (at most 50 characters)")
            let slug = try required("slug", "website")
            try check(Self.isSlug(slug), "\(path).slug",
                "invalid slug \"\(slug)\": use lowercase letters, digits and '-' (at most 64 characters)")
            try check(!channels.contains { $0.slug == slug }, "\(path).slug", "slug \"\(slug)\" is used by another channel")
            try check(!channels.contains { $0.irc.lowercased() == irc.lowercased() }, "\(path).irc",
                "IRC channel \"\(irc)\" is used by another live chat channel")
            for other in channels {
                if Self.isConversationChannel(irc, of: other.irc) || Self.isConversationChannel(other.irc, of: irc) {
                    throw error("\(path).irc",
                        "IRC channel \"\(irc)\" clashes with the conversation channels of \"\(other.irc)\" (\(other.irc)-<number>)")
                }
            }
            let welcome = try string(table, "welcome", path: path) ?? SwitchboardConfig.LiveChatChannel.defaultWelcome
            let button = try string(table, "button", path: path) ?? SwitchboardConfig.LiveChatChannel.defaultButton
            let bot = try string(table, "bot", path: path)
            if let bot, let problem = OperatorStore.loginProblem(bot) {
                throw error("\(path).bot", "invalid bot login \"\(bot)\": \(problem)")
            }
            var botWhen = SwitchboardConfig.BotWhen.always
            if let text = try string(table, "bot_when", path: path) {
                guard let value = SwitchboardConfig.BotWhen(rawValue: text) else {
                    throw error("\(path).bot_when", "invalid value \"\(text)\": use \"always\" or \"no_operator\"")
                }
                try check(bot != nil, "\(path).bot_when", "bot_when needs a bot (bot = \"login\")")
                botWhen = value
            }
            channels.append(.init(name: name, irc: irc, slug: slug, welcome: welcome, button: button, bot: bot, botWhen: botWhen))
        }
        return channels
    }

    // MARK: Values

    private func check(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) throws(ConfigError) {
        if !condition { throw error(key, message()) }
    }

    private func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// Rejects keys that are not in `allowed`, suggesting the nearest known key.
    private func checkKeys(_ table: TOMLTable, path: String, allowed: [String]) throws(ConfigError) {
        for key in table.keys where !allowed.contains(key) {
            let isTable = table[key]?.type == .table
            let what = isTable ? "unknown table [\(join(path, key))]" : "unknown key"
            var message = what
            if let suggestion = Self.nearest(key, in: allowed) {
                message += "; did you mean \"\(suggestion)\"?"
            } else {
                message += "; known keys here: \(allowed.joined(separator: ", "))"
            }
            throw error(join(path, key), message)
        }
    }

    private func table(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let result = value.table else {
            throw error(join(path, key), "expected a table ([\(join(path, key))]), found \(value.type)")
        }
        return result
    }

    private func string(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> String? {
        guard let value = table[key] else { return nil }
        guard let result = value.string else {
            throw error(join(path, key), "expected a string, found \(value.type)")
        }
        return result
    }

    private func bool(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let result = value.bool else {
            throw error(join(path, key), "expected true or false, found \(value.type)")
        }
        return result
    }

    private func int(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> Int? {
        guard let value = table[key] else { return nil }
        guard let result = value.int else {
            throw error(join(path, key), "expected an integer, found \(value.type)")
        }
        return result
    }

    private func number(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> Double? {
        guard let value = table[key] else { return nil }
        if let result = value.double { return result }
        if let result = value.int { return Double(result) }
        throw error(join(path, key), "expected a number, found \(value.type)")
    }

    private func stringArray(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else {
            throw error(join(path, key), "expected an array of strings, found \(value.type)")
        }
        var result: [String] = []
        for (index, element) in array.enumerated() {
            guard let string = element.string else {
                throw error("\(join(path, key))[\(index)]", "expected a string, found \(element.type)")
            }
            result.append(string)
        }
        return result
    }

    private func duration(_ table: TOMLTable, _ key: String, path: String) throws(ConfigError) -> TimeInterval? {
        let fullKey = join(path, key)
        let hint = "(use 45s, 30m, 2h)"
        guard let value = table[key] else { return nil }
        guard let text = value.string else {
            throw error(fullKey, "expected a duration string \(hint), found \(value.type)")
        }
        guard let seconds = LiveChatDuration.parse(text) else {
            throw error(fullKey, "invalid duration \"\(text)\" \(hint)")
        }
        guard seconds > 0 else {
            throw error(fullKey, "the duration must be positive, not \"\(text)\"")
        }
        guard seconds <= Self.longestDuration else {
            throw error(fullKey, "the duration \"\(text)\" is too long (at most "
                + "\(LiveChatDuration.format(Self.longestDuration)) = \(DurationText.describe(Self.longestDuration)))")
        }
        return seconds
    }

    /// The longest duration any key accepts. Longer ones are mistakes, and the
    /// server's timers count in 64-bit nanoseconds, which end after 292 years.
    static let longestDuration: TimeInterval = 365 * 24 * 3600

    // MARK: Rules

    static func isServerName(_ name: String) -> Bool {
        name.contains(".") && name.utf8.count <= 63 && ConfigNetwork.isHostname(name)
    }

    /// A BCP 47 tag in the common form: language, optional script, optional
    /// region, optional variants (`en`, `pt-BR`, `zh-Hant-TW`, `sr-Latn`).
    static func isLanguageTag(_ tag: String) -> Bool {
        let parts = tag.split(separator: "-", omittingEmptySubsequences: false)
        guard let language = parts.first, (2...3).contains(language.count) || (5...8).contains(language.count),
            language.allSatisfy({ $0.isASCII && $0.isLetter })
        else { return false }
        var rest = parts.dropFirst()
        if let script = rest.first, script.count == 4, script.allSatisfy({ $0.isASCII && $0.isLetter }) {
            rest = rest.dropFirst()
        }
        if let region = rest.first,
            (region.count == 2 && region.allSatisfy({ $0.isASCII && $0.isLetter }))
                || (region.count == 3 && region.allSatisfy({ $0.isASCII && $0.isNumber }))
        {
            rest = rest.dropFirst()
        }
        return rest.allSatisfy { variant in
            variant.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
                && ((5...8).contains(variant.count) || (variant.count == 4 && variant.first!.isNumber))
        }
    }

    static func isChannelName(_ name: String) -> Bool {
        name.hasPrefix("#") && name.count >= 2 && name.utf8.count <= 50
            && !name.unicodeScalars.contains { $0 == " " || $0 == "," || $0 == ":" || $0.properties.generalCategory == .control }
    }

    static func isSlug(_ slug: String) -> Bool {
        !slug.isEmpty && slug.utf8.count <= 64
            && slug.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }
    }

    /// Whether `name` looks like a conversation channel of `channel`: `#website-17` for `#website`.
    static func isConversationChannel(_ name: String, of channel: String) -> Bool {
        let lowered = name.lowercased()
        let prefix = channel.lowercased() + "-"
        guard lowered.hasPrefix(prefix) else { return false }
        let rest = lowered.dropFirst(prefix.count)
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The allowed key closest to a mistyped one, when it is close enough to be a typo.
    static func nearest(_ key: String, in allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(key.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, key.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
