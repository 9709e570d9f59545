import Foundation
import IRCProtocol

/// MODE for channels (+n +t +i +k +l +m +s +o +v and the +b list) and users (+i +B).
extension ServerState {
    func handleMode(_ client: Client, _ message: IRCMessage) {
        let target = message.params[0]
        if IRCNames.isChannelTarget(target) {
            channelMode(client, target: target, arguments: Array(message.params.dropFirst()))
        } else {
            userMode(client, target: target, arguments: Array(message.params.dropFirst()))
        }
    }

    // MARK: User modes

    private func userMode(_ client: Client, target: String, arguments: [String]) {
        guard casemapping.fold(target) == casemapping.fold(client.nick) else {
            if self.client(named: target) == nil {
                reply(client, .errNoSuchNick, target, "No such nick/channel")
            } else {
                reply(client, .errUsersDontMatch, "Can't change mode for other users")
            }
            return
        }
        guard let changes = arguments.first else {
            var modes = "+"
            if client.invisible { modes += "i" }
            if client.bot { modes += "B" }
            reply(client, .rplUModeIs, modes)
            return
        }
        var adding = true
        var applied: [(Bool, Character)] = []
        var unknown = false
        for letter in changes {
            switch letter {
            case "+": adding = true
            case "-": adding = false
            case "i":
                if client.invisible != adding {
                    client.invisible = adding
                    applied.append((adding, letter))
                }
            case "B":
                if client.bot != adding {
                    client.bot = adding
                    applied.append((adding, letter))
                }
            default:
                unknown = true
            }
        }
        if unknown { reply(client, .errUModeUnknownFlag, "Unknown MODE flag") }
        if !applied.isEmpty {
            send(IRCMessage(source: client.hostmask, command: "MODE", params: [client.nick, modeString(applied)]), to: client)
        }
    }

    private func modeString(_ changes: [(Bool, Character)]) -> String {
        var result = ""
        var current: Bool?
        for (adding, letter) in changes {
            if adding != current {
                result.append(adding ? "+" : "-")
                current = adding
            }
            result.append(letter)
        }
        return result
    }

    // MARK: Channel modes

    private func channelMode(_ client: Client, target: String, arguments: [String]) {
        guard let channel = existingChannel(target, for: client) else { return }
        let isMember = channel.members[client] != nil
        // A secret channel's modes and bans are its members' business, as its topic is.
        guard isMember || !channel.modes.secret else {
            replyNotOnChannel(client, channel)
            return
        }
        guard let changes = arguments.first else {
            let (modes, params) = channel.modes.modeString(showParameters: isMember)
            reply(client, .rplChannelModeIs, parameters: [channel.name, modes] + params)
            reply(client, .rplCreationTime, channel.name, String(Int(channel.createdAt.timeIntervalSince1970)))
            return
        }
        var parameters = arguments.dropFirst()
        var adding = true
        var applied: [(Bool, Character)] = []
        var appliedParameters: [String] = []
        var parameterModes = 0
        var listedBans = false
        var deniedReported = false
        let isOp = channel.isOp(client)

        func denied() -> Bool {
            if isOp { return false }
            if !deniedReported {
                deniedReported = true
                if isMember {
                    reply(client, .errChanOPrivsNeeded, channel.name, "You're not a channel operator")
                } else {
                    replyNotOnChannel(client, channel)
                }
            }
            return true
        }

        // RFC 2812: a mode string may be followed by more, each after the parameters
        // of the one before ("+o alice -v bob").
        var pendingModes: String? = changes
        while let current = pendingModes {
            for letter in current {
                switch letter {
                case "+": adding = true
                case "-": adding = false
                case "b":
                    guard let mask = parameters.popFirst() else {
                        if !listedBans {
                            listedBans = true
                            sendBanList(client, channel: channel)
                        }
                        continue
                    }
                    if denied() || parameterModes >= ISupport.modesPerCommand { continue }
                    let normalized = IRCMask(mask, casemapping: casemapping)
                    var stored = normalized
                    if adding {
                        guard normalized.pattern.utf8.count <= ISupport.banMaskLength else {
                            reply(client, .errInvalidModeParam, channel.name, "b", mask,
                                  "Ban mask is too long: at most \(ISupport.banMaskLength) bytes as nick!user@host")
                            continue
                        }
                        guard !channel.bans.contains(where: { $0.mask == normalized }) else { continue }
                        guard channel.bans.count < ISupport.maxBans else {
                            // ERR_BANLISTFULL names the list's mode character, not the mask.
                            reply(client, IRCMessage(source: config.serverName, command: "478", params: [client.nick, channel.name, "b", "Channel ban list is full"]))
                            continue
                        }
                        channel.bans.append((normalized, client.hostmask, Date()))
                    } else {
                        guard let index = channel.bans.firstIndex(where: { $0.mask == normalized }) else { continue }
                        // The mask as stored, whatever its spelling here: clients remove it from their lists.
                        stored = channel.bans.remove(at: index).mask
                    }
                    parameterModes += 1
                    applied.append((adding, letter))
                    appliedParameters.append(stored.pattern)
                case "o", "v":
                    guard let nick = parameters.popFirst() else {
                        reply(client, .errNeedMoreParams, "MODE", "Not enough parameters")
                        continue
                    }
                    if denied() || parameterModes >= ISupport.modesPerCommand { continue }
                    guard let member = self.client(named: nick) else {
                        reply(client, .errNoSuchNick, nick, "No such nick/channel")
                        continue
                    }
                    guard var modes = channel.members[member] else {
                        reply(client, .errUserNotInChannel, member.nick, channel.name, "They aren't on that channel")
                        continue
                    }
                    let flag: MemberModes = letter == "o" ? .op : .voice
                    guard modes.contains(flag) != adding else { continue }
                    if adding { modes.insert(flag) } else { modes.remove(flag) }
                    channel.members[member] = modes
                    parameterModes += 1
                    applied.append((adding, letter))
                    appliedParameters.append(member.nick)
                case "k":
                    if adding {
                        guard let key = parameters.popFirst() else {
                            reply(client, .errNeedMoreParams, "MODE", "Not enough parameters")
                            continue
                        }
                        if denied() || parameterModes >= ISupport.modesPerCommand { continue }
                        // A key starting with ':' could not be sent back as a middle parameter of 324 or MODE.
                        guard !key.isEmpty, !key.contains(","), key.utf8.count <= ISupport.keyLength, !key.contains(" "),
                              !key.hasPrefix(":") else {
                            reply(client, .errInvalidKey, channel.name,
                                  "Key is not well-formed: 1 to \(ISupport.keyLength) bytes, no spaces or commas, not starting with ':'")
                            continue
                        }
                        channel.modes.key = key
                        parameterModes += 1
                        applied.append((true, letter))
                        appliedParameters.append(key)
                    } else {
                        _ = parameters.popFirst()
                        if denied() || parameterModes >= ISupport.modesPerCommand || channel.modes.key == nil { continue }
                        channel.modes.key = nil
                        parameterModes += 1
                        applied.append((false, letter))
                        appliedParameters.append("*")
                    }
                case "l":
                    if adding {
                        guard let text = parameters.popFirst() else {
                            reply(client, .errNeedMoreParams, "MODE", "Not enough parameters")
                            continue
                        }
                        if denied() || parameterModes >= ISupport.modesPerCommand { continue }
                        guard let limit = Int(text), limit > 0 else {
                            reply(client, .errInvalidModeParam, channel.name, "l", text, "Invalid limit: must be a positive number")
                            continue
                        }
                        channel.modes.limit = limit
                        parameterModes += 1
                        applied.append((true, letter))
                        appliedParameters.append(String(limit))
                    } else {
                        if denied() || channel.modes.limit == nil { continue }
                        channel.modes.limit = nil
                        applied.append((false, letter))
                    }
                case "i", "m", "n", "s", "t":
                    if denied() { continue }
                    let changed: Bool
                    switch letter {
                    case "i": changed = channel.modes.inviteOnly != adding; channel.modes.inviteOnly = adding
                    case "m": changed = channel.modes.moderated != adding; channel.modes.moderated = adding
                    case "n": changed = channel.modes.noExternal != adding; channel.modes.noExternal = adding
                    case "s": changed = channel.modes.secret != adding; channel.modes.secret = adding
                    default: changed = channel.modes.topicLocked != adding; channel.modes.topicLocked = adding
                    }
                    if changed { applied.append((adding, letter)) }
                default:
                    reply(client, .errUnknownMode, String(letter), "is an unknown mode char to me")
                }
            }
            if let next = parameters.first, next.first == "+" || next.first == "-" {
                parameters.removeFirst()
                pendingModes = next
            } else {
                pendingModes = nil
            }
        }
        guard !applied.isEmpty else { return }
        let change = event(from: client, command: "MODE", params: [channel.name, modeString(applied)] + appliedParameters)
        deliver(change, to: channel.members.keys)
    }

    private func reply(_ client: Client, _ message: IRCMessage) {
        send(message, to: client)
    }

    private func sendBanList(_ client: Client, channel: IRCChannel) {
        for ban in channel.bans {
            reply(client, .rplBanList, channel.name, ban.mask.pattern, ban.setBy, String(Int(ban.setAt.timeIntervalSince1970)))
        }
        reply(client, .rplEndOfBanList, channel.name, "End of channel ban list")
    }
}
