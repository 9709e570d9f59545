/// A problem with the configuration file: where it is and what is wrong.
///
/// Its description reads like a compiler diagnostic, for example
/// `etc/x.toml:12: livechat.inactivity_timeout: invalid duration "30 minutes" (use 45s, 30m, 2h)`.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration file, as it was named.
    public var file: String
    /// The 1-based line of the offending key or table, when it can be known.
    public var line: Int?
    /// The dotted key, e.g. `livechat.inactivity_timeout` or `listen[1].address`
    /// (array elements are numbered from 0).
    public var key: String?
    /// What is wrong.
    public var message: String

    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}
