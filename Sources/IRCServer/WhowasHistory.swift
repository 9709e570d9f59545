import Foundation
import IRCProtocol

/// The last users who left or changed nick, for WHOWAS. Bounded: the oldest entries go first.
struct WhowasHistory {
    struct Entry {
        let nick: String
        let user: String
        let host: String
        let realname: String
        let account: String?
        let leftAt: Date
    }

    private var entries: [Entry] = []
    private var start = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        entries.reserveCapacity(capacity)
    }

    mutating func record(_ client: Client) {
        let entry = Entry(nick: client.nick, user: client.user ?? "*", host: client.host,
                          realname: client.realname, account: client.accountName, leftAt: Date())
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[start] = entry
            start = (start + 1) % capacity
        }
    }

    /// Newest first.
    func lookup(_ nick: String, casemapping: Casemapping, limit: Int) -> [Entry] {
        let folded = casemapping.fold(nick)
        var found: [Entry] = []
        for offset in stride(from: entries.count - 1, through: 0, by: -1) {
            let entry = entries[(start + offset) % entries.count]
            if casemapping.fold(entry.nick) == folded {
                found.append(entry)
                if found.count == limit { break }
            }
        }
        return found
    }
}
