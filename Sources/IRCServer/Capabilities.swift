import IRCProtocol

/// The IRCv3 capabilities the server offers. A client's negotiated set is a bit set,
/// so checking a capability on the fan-out path is a single AND.
enum Capability: Int, CaseIterable, Sendable {
    case accountNotify
    case accountTag
    case awayNotify
    case batch
    case capNotify
    case chghost
    case chatHistory
    case readMarker
    case echoMessage
    case extendedJoin
    case inviteNotify
    case labeledResponse
    case messageTags
    case multiPrefix
    case sasl
    case serverTime
    case setname
    case standardReplies
    case userhostInNames

    var name: String {
        switch self {
        case .accountNotify: "account-notify"
        case .accountTag: "account-tag"
        case .awayNotify: "away-notify"
        case .batch: "batch"
        case .capNotify: "cap-notify"
        case .chghost: "chghost"
        case .chatHistory: "draft/chathistory"
        case .readMarker: "draft/read-marker"
        case .echoMessage: "echo-message"
        case .extendedJoin: "extended-join"
        case .inviteNotify: "invite-notify"
        case .labeledResponse: "labeled-response"
        case .messageTags: "message-tags"
        case .multiPrefix: "multi-prefix"
        case .sasl: "sasl"
        case .serverTime: "server-time"
        case .setname: "setname"
        case .standardReplies: "standard-replies"
        case .userhostInNames: "userhost-in-names"
        }
    }

    static let byName: [String: Capability] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })
}

struct CapabilitySet: Sendable, Equatable {
    private(set) var bits: UInt32 = 0

    func contains(_ capability: Capability) -> Bool {
        bits & (1 << capability.rawValue) != 0
    }

    mutating func insert(_ capability: Capability) {
        bits |= 1 << capability.rawValue
    }

    mutating func remove(_ capability: Capability) {
        bits &= ~(1 << capability.rawValue)
    }

    var names: [String] {
        Capability.allCases.filter(contains).map(\.name)
    }
}

/// Which tags a client may receive: the few variants of one outgoing message that a
/// fan-out has to serialise (a handful at most, usually one or two).
struct TagShape: Hashable {
    let bits: UInt8

    static let messageTags: UInt8 = 1
    static let serverTime: UInt8 = 2
    static let accountTag: UInt8 = 4
    static let batch: UInt8 = 8

    /// Every tag: for lines already shaped for their recipient.
    static let all = TagShape(bits: .max)

    private init(bits: UInt8) { self.bits = bits }

    init(_ caps: CapabilitySet) {
        var bits: UInt8 = 0
        if caps.contains(.messageTags) { bits |= TagShape.messageTags }
        if caps.contains(.serverTime) { bits |= TagShape.serverTime }
        if caps.contains(.accountTag) { bits |= TagShape.accountTag }
        if caps.contains(.batch) { bits |= TagShape.batch }
        self.bits = bits
    }

    /// Whether a tag of an outgoing message goes to a client of this shape.
    func allows(_ key: String) -> Bool {
        switch key {
        case "time": return bits & TagShape.serverTime != 0
        case "account": return bits & TagShape.accountTag != 0
        case "batch": return bits & TagShape.batch != 0
        default: return bits & TagShape.messageTags != 0
        }
    }

    /// The relay tags a client of this shape takes (as `allows` says for each).
    func filter(_ tags: RelayTags) -> RelayTags {
        RelayTags(time: allows("time") ? tags.time : nil, msgid: allows("msgid") ? tags.msgid : nil,
                  account: allows("account") ? tags.account : nil, bot: tags.bot && allows("bot"))
    }
}
