import Foundation

/// An operator account: a person (or a bot) who answers live chat
/// conversations from an IRC client.
public struct OperatorAccount: Sendable, Equatable, Hashable {
    /// The login, as it was given when the account was created. Logins are
    /// unique case-insensitively.
    public var login: String
    /// The account's full name.
    public var displayName: String
    /// The Online Chat Name: the name visitors see. `nil` means the display name.
    public var chatName: String?
    /// The Online Chat Languages: the first is the main language, the others are additional.
    public var languages: [String]
    /// Whether the account is a bot (a bot answers conversations first, see `bot` in the config).
    public var isBot: Bool
    /// Whether the account may use administrative commands.
    public var isAdmin: Bool
    /// When the account was created.
    public var createdAt: Date

    /// The name visitors see: the Online Chat Name, or the display name when none is set.
    public var visibleName: String { chatName ?? displayName }

    /// The main language, if the account has any language.
    public var mainLanguage: String? { languages.first }

    public init(
        login: String,
        displayName: String,
        chatName: String? = nil,
        languages: [String] = [],
        isBot: Bool = false,
        isAdmin: Bool = false,
        createdAt: Date = Date()
    ) {
        self.login = login
        self.displayName = displayName
        self.chatName = chatName
        self.languages = languages
        self.isBot = isBot
        self.isAdmin = isAdmin
        self.createdAt = createdAt
    }
}
