import IRCProtocol

struct CommandHandler {
    let requiresRegistration: Bool
    let minimumParameters: Int
    let run: (ServerState, Client, IRCMessage) -> Void

    init(registered: Bool = true, parameters: Int = 0, _ run: @escaping (ServerState, Client, IRCMessage) -> Void) {
        self.requiresRegistration = registered
        self.minimumParameters = parameters
        self.run = run
    }
}

/// Every command the server understands, with what it needs before it runs.
enum CommandTable {
    static func build() -> [String: CommandHandler] {
        [
            // Registration (Registration.swift, SASL.swift)
            "CAP": CommandHandler(registered: false, parameters: 1) { $0.handleCap($1, $2) },
            "PASS": CommandHandler(registered: false, parameters: 1) { $0.handlePass($1, $2) },
            "NICK": CommandHandler(registered: false) { $0.handleNick($1, $2) },
            "USER": CommandHandler(registered: false, parameters: 4) { $0.handleUser($1, $2) },
            "AUTHENTICATE": CommandHandler(registered: false, parameters: 1) { $0.handleAuthenticate($1, $2) },
            "PING": CommandHandler(registered: false) { $0.handlePing($1, $2) },
            "PONG": CommandHandler(registered: false) { $0.handlePong($1, $2) },
            "QUIT": CommandHandler(registered: false) { $0.handleQuit($1, $2) },
            // Messaging (Messaging.swift)
            "PRIVMSG": CommandHandler { $0.handleMessage($1, $2) },
            "NOTICE": CommandHandler { $0.handleMessage($1, $2) },
            "TAGMSG": CommandHandler { $0.handleMessage($1, $2) },
            // History (ChatHistoryCommand.swift, ReadMarker.swift)
            "CHATHISTORY": CommandHandler { $0.handleChatHistory($1, $2) },
            "MARKREAD": CommandHandler { $0.handleMarkRead($1, $2) },
            // Channels (Channels.swift)
            "JOIN": CommandHandler(parameters: 1) { $0.handleJoin($1, $2) },
            "PART": CommandHandler(parameters: 1) { $0.handlePart($1, $2) },
            "TOPIC": CommandHandler(parameters: 1) { $0.handleTopic($1, $2) },
            "NAMES": CommandHandler { $0.handleNames($1, $2) },
            "LIST": CommandHandler { $0.handleList($1, $2) },
            "KICK": CommandHandler(parameters: 2) { $0.handleKick($1, $2) },
            "INVITE": CommandHandler { $0.handleInvite($1, $2) },
            // Modes (Modes.swift)
            "MODE": CommandHandler(parameters: 1) { $0.handleMode($1, $2) },
            // Queries (Queries.swift)
            "WHO": CommandHandler { $0.handleWho($1, $2) },
            "WHOIS": CommandHandler(parameters: 1) { $0.handleWhois($1, $2) },
            "WHOWAS": CommandHandler(parameters: 1) { $0.handleWhowas($1, $2) },
            "ISON": CommandHandler(parameters: 1) { $0.handleIson($1, $2) },
            "USERHOST": CommandHandler(parameters: 1) { $0.handleUserhost($1, $2) },
            "LUSERS": CommandHandler { s, c, _ in s.sendLusers(c) },
            "MOTD": CommandHandler { $0.handleMotd($1, $2) },
            "VERSION": CommandHandler { $0.handleVersion($1, $2) },
            "TIME": CommandHandler { $0.handleTime($1, $2) },
            "ADMIN": CommandHandler { $0.handleAdmin($1, $2) },
            "INFO": CommandHandler { $0.handleInfo($1, $2) },
            "LINKS": CommandHandler { $0.handleLinks($1, $2) },
            // IRC operators' commands (OperCommands.swift): this server has no IRC operators.
            "OPER": CommandHandler(parameters: 2) { s, c, _ in s.reply(c, .errNoOperHost, "No O-lines for your host") },
            "KILL": CommandHandler { $0.refuseOperCommand($1, $2) },
            "WALLOPS": CommandHandler { $0.refuseOperCommand($1, $2) },
            "REHASH": CommandHandler { $0.refuseOperCommand($1, $2) },
            "RESTART": CommandHandler { $0.refuseOperCommand($1, $2) },
            "DIE": CommandHandler { $0.refuseOperCommand($1, $2) },
            "SQUIT": CommandHandler { $0.refuseOperCommand($1, $2) },
            "CONNECT": CommandHandler { $0.refuseOperCommand($1, $2) },
            "USERS": CommandHandler { s, c, _ in s.reply(c, .errUsersDisabled, "USERS has been disabled") },
            "SUMMON": CommandHandler { s, c, _ in s.reply(c, .errSummonDisabled, "SUMMON has been disabled") },
            // Presence (Presence.swift)
            "AWAY": CommandHandler { $0.handleAway($1, $2) },
            "SETNAME": CommandHandler(parameters: 1) { $0.handleSetname($1, $2) },
            "MONITOR": CommandHandler(parameters: 1) { $0.handleMonitor($1, $2) },
            "CHGHOST": CommandHandler(parameters: 2) { $0.handleChghost($1, $2) },
        ]
    }
}
