import LiveChat

/// Errors reported by the storage layer. Their descriptions are meant for
/// people: the CLI prints them as they are.
public enum StorageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An operator account with this login (compared case-insensitively) already exists.
    case duplicateLogin(String)
    /// No operator account has this login.
    case unknownLogin(String)
    /// The login does not follow the rules for logins; `reason` says which one.
    case invalidLogin(String, reason: String)
    /// A display name or Online Chat Name is unusable; `reason` says why.
    case invalidName(String, reason: String)
    /// A language code is not a well-formed language tag.
    case invalidLanguage(String)
    /// An empty password was given.
    case emptyPassword
    /// The password cannot be used; `reason` says why.
    case invalidPassword(reason: String)
    /// The conversation is closed: it takes no more messages or assignments.
    case conversationClosed
    /// No conversation has this id.
    case unknownConversation
    /// A rating is 1, 3 or 5.
    case invalidRating
    /// A canned response shortcut is 1–32 letters, digits, `-` or `_`.
    case invalidShortcut(String)
    /// A canned response's text is empty or too long.
    case invalidCannedText
    /// The database's folder does not exist and cannot be created.
    case unusableFolder(String, reason: String)
    /// The database was migrated by a newer version (these migrations are unknown here).
    case newerDatabase(migrations: [String])
    /// Another server holds the database's lock.
    case databaseInUse(String)
    /// The lock file next to the database cannot be opened or locked.
    case unusableLockFile(String, reason: String)

    public var description: String {
        switch self {
        case .duplicateLogin(let login):
            return "an operator account with login '\(Self.shown(login))' already exists (logins are compared case-insensitively)"
        case .unknownLogin(let login):
            return "no operator account with login '\(Self.shown(login))'"
        case .invalidLogin(let login, let reason):
            return "invalid login '\(Self.shown(login))': \(reason)"
        case .invalidName(let name, let reason):
            return "invalid name '\(Self.shown(name))': \(reason)"
        case .invalidLanguage(let code):
            return "invalid language code '\(Self.shown(code))'"
        case .emptyPassword:
            return "the password must not be empty"
        case .invalidPassword(let reason):
            return "invalid password: \(reason)"
        case .conversationClosed:
            return "the conversation is closed"
        case .unknownConversation:
            return "no such conversation"
        case .invalidRating:
            return "a rating is 1, 3 or 5"
        case .invalidShortcut(let shortcut):
            return "invalid shortcut '\(Self.shown(shortcut))': use 1 to 32 letters, digits, - or _"
        case .invalidCannedText:
            return "a canned response is 1 to \(CannedResponseStore.maximumText) characters"
        case .unusableFolder(let folder, let reason):
            return "cannot create the database's folder \(folder): \(reason)"
        case .newerDatabase(let migrations):
            return "the database was upgraded by a newer version of Switchboard (it has changes this version does not know: "
                + migrations.joined(separator: ", ") + "); run that version, or restore a backup made for this one"
        case .databaseInUse(let path):
            return "another Switchboard server is already running on the database \(path); stop it first, "
                + "or give this one its own storage.path"
        case .unusableLockFile(let path, let reason):
            return "cannot lock \(path): \(reason)"
        }
    }

    /// A value as an error quotes it: whole when short, otherwise its start and its length,
    /// so that a 100,000-character argument does not become a 100,000-character message.
    public static func shown(_ value: String) -> String {
        let limit = 64
        guard value.count > limit else { return TextChecks.escapingControls(value) }
        return "\(TextChecks.escapingControls(String(value.prefix(limit))))… (\(value.count) characters)"
    }
}
