import Foundation
import IRCProtocol
import Storage

/// A channel's membership prefix modes.
struct MemberModes: OptionSet, Sendable {
    let rawValue: UInt8
    static let op = MemberModes(rawValue: 1)
    static let voice = MemberModes(rawValue: 2)

    /// Highest prefix first, as multi-prefix wants them.
    func prefixes(all: Bool) -> String {
        var result = ""
        if contains(.op) { result.append("@") }
        if contains(.voice), all || result.isEmpty { result.append("+") }
        return result
    }
}

struct ChannelModes: Sendable {
    var inviteOnly = false
    var moderated = false
    var noExternal = true
    var secret = false
    var topicLocked = true
    var key: String?
    var limit: Int?

    /// "+ntk secret" style; the key and the limit are shown only to members (`showParameters`), others get
    /// the letters alone.
    func modeString(showParameters: Bool) -> (String, [String]) {
        var letters = "+"
        var params: [String] = []
        if inviteOnly { letters.append("i") }
        if let key {
            letters.append("k")
            params.append(key)
        }
        if let limit {
            letters.append("l")
            params.append(String(limit))
        }
        if moderated { letters.append("m") }
        if noExternal { letters.append("n") }
        if secret { letters.append("s") }
        if topicLocked { letters.append("t") }
        return (letters, showParameters ? params : [])
    }
}

final class IRCChannel {
    let name: String
    let folded: String
    let createdAt: Date
    var members: [Client: MemberModes] = [:]
    var modes = ChannelModes()
    var topic: String?
    var topicSetBy: String?
    var topicSetAt: Date?
    var bans: [(mask: IRCMask, setBy: String, setAt: Date)] = []
    var invited: Set<String> = []   // folded nicks invited past +i
    /// Channels declared in the config stay when empty.
    var isPermanent = false
    /// Set on the live chat channels of the config.
    var liveChat: IRCServerConfiguration.LiveChatChannel?
    /// Set on a conversation's channel (`#website-17`).
    weak var conversation: Conversation?
    /// The channel's place in the archive's pending batch (a hint, see
    /// `ChannelHistoryBatch.Slot`).
    var archiveSlot: ChannelHistoryBatch.Slot = -1

    init(name: String, folded: String, createdAt: Date = Date()) {
        self.name = name
        self.folded = folded
        self.createdAt = createdAt
    }

    func isBanned(_ client: Client) -> Bool {
        guard !bans.isEmpty else { return false }
        let mask = client.hostmask
        if bans.contains(where: { $0.mask.matches(mask) }) { return true }
        // A host changed by CHGHOST does not hide the address behind it from a ban on that address.
        let address = client.ipAddress.hasPrefix(":") ? "0" + client.ipAddress : client.ipAddress
        guard address != client.host else { return false }
        let real = "\(client.nick)!\(client.user ?? "*")@\(address)"
        return bans.contains { $0.mask.matches(real) }
    }

    func modes(of client: Client) -> MemberModes? { members[client] }
    func isOp(_ client: Client) -> Bool { members[client]?.contains(.op) ?? false }
}
