/// RPL_ISUPPORT tokens. Each one describes what the server really does.
enum ISupport {
    static let nickLength = 30
    static let channelLength = 64
    static let topicLength = 390
    static let awayLength = 390
    static let kickLength = 390
    static let userLength = 18
    static let realnameLength = 128
    static let hostLength = 64
    static let keyLength = 23
    /// The longest ban mask: a nick, a user name and a host each as long as they can be, with '!' and '@'.
    static let banMaskLength = nickLength + userLength + hostLength + 2
    static let channelLimit = 100
    static let maxTargets = 4
    /// irssi's /notify asks WHOIS of every watched nick that came online in one command.
    static let whoisTargets = 10
    static let modesPerCommand = 6
    static let monitorLimit = 100
    static let maxBans = 100

    static func tokens(config: IRCServerConfiguration) -> [String] {
        [
            "AWAYLEN=\(awayLength)",
            "BOT=B",
            "CASEMAPPING=ascii",
            "CHANLIMIT=#:\(channelLimit)",
            "CHANMODES=b,k,l,imnst",
            "CHANNELLEN=\(channelLength)",
            "CHANTYPES=#",
            "CHATHISTORY=\(ServerState.chatHistoryLimit)",
            "ELIST=MNU",
            "HOSTLEN=\(hostLength)",
            "KEYLEN=\(keyLength)",
            "KICKLEN=\(kickLength)",
            "MAXLIST=b:\(maxBans)",
            "MAXTARGETS=\(maxTargets)",
            "MODES=\(modesPerCommand)",
            "MONITOR=\(monitorLimit)",
            "MSGREFTYPES=timestamp,msgid",
            "NAMELEN=\(realnameLength)",
            "NETWORK=\(config.network)",
            "NICKLEN=\(nickLength)",
            "PREFIX=(ov)@+",
            "TARGMAX=JOIN:,KICK:,LIST:,MONITOR:,NAMES:,NOTICE:\(maxTargets),PART:,PRIVMSG:\(maxTargets),TAGMSG:\(maxTargets),WHOIS:\(whoisTargets)",
            "TOPICLEN=\(topicLength)",
            "USERLEN=\(userLength)",
            "UTF8ONLY",
            "WHOX",
        ]
    }
}
