import IRCProtocol

/// The conditions of a `LIST` command (ISUPPORT `ELIST=MNU`), as a
/// comma-separated list: channel names and globs (`#help`, `#web*`), the same
/// negated (`!#test*`), and user counts (`>5`: more than five users, `<20`:
/// fewer than twenty). A channel is listed when it has the users every count
/// asks for, matches one of the names or globs if there are any, and none of
/// the negated ones. An empty list lists every channel.
struct ListFilter {
    /// Names and globs on the channel name; a name without '*' or '?' is a glob
    /// that matches just that name.
    private var included: [IRCGlob] = []
    private var excluded: [IRCGlob] = []
    private var moreThan: Int?
    private var fewerThan: Int?

    init(_ list: String, casemapping: Casemapping) {
        for item in list.split(separator: ",") {
            if let count = Self.count(after: ">", in: item) {
                moreThan = max(moreThan ?? count, count)
            } else if let count = Self.count(after: "<", in: item) {
                fewerThan = min(fewerThan ?? count, count)
            } else if item.first == "!", item.count > 1 {
                excluded.append(IRCGlob(String(item.dropFirst()), casemapping: casemapping))
            } else {
                included.append(IRCGlob(String(item), casemapping: casemapping))
            }
        }
    }

    func accepts(_ channel: IRCChannel, users: Int) -> Bool {
        if let moreThan, users <= moreThan { return false }
        if let fewerThan, users >= fewerThan { return false }
        if !included.isEmpty, !included.contains(where: { $0.matches(channel.name) }) { return false }
        return !excluded.contains { $0.matches(channel.name) }
    }

    /// The number in `>5` or `<20`; nil for anything else (which is then a name).
    private static func count(after sign: Character, in item: Substring) -> Int? {
        guard item.first == sign, item.count > 1 else { return nil }
        let digits = item.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits) ?? Int.max
    }
}
