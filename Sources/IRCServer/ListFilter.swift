import IRCProtocol

/// The conditions of a `LIST` command (ISUPPORT `ELIST=MNU`), as a
/// comma-separated list: channel names and globs (`#help`, `#web*`), the same
/// negated (`!#test*`), and user counts (`>5`: more than five users, `<20`:
/// fewer than twenty). A channel is listed when it has the users every count
/// asks for, matches one of the names or globs if there are any, and none of
/// the negated ones. An empty list lists every channel.
struct ListFilter {
    private var included: [Pattern] = []
    private var excluded: [Pattern] = []
    private var moreThan: Int?
    private var fewerThan: Int?

    /// A channel name or a glob, compared with the folded channel name.
    private struct Pattern {
        let folded: String
        let glob: IRCMask?

        init(_ text: Substring, casemapping: Casemapping) {
            folded = casemapping.fold(String(text))
            // A glob matches channel names, which hold no '!' or '@': give it the
            // shape of a mask that matches any user and host.
            glob = text.contains(where: { $0 == "*" || $0 == "?" })
                ? IRCMask(String(text) + "!*@*", casemapping: casemapping) : nil
        }

        func matches(_ channel: IRCChannel) -> Bool {
            if let glob { return glob.matches(channel.folded + "!*@*") }
            return folded == channel.folded
        }
    }

    init(_ list: String, casemapping: Casemapping) {
        for item in list.split(separator: ",") {
            if let count = Self.count(after: ">", in: item) {
                moreThan = max(moreThan ?? count, count)
            } else if let count = Self.count(after: "<", in: item) {
                fewerThan = min(fewerThan ?? count, count)
            } else if item.first == "!", item.count > 1 {
                excluded.append(Pattern(item.dropFirst(), casemapping: casemapping))
            } else {
                included.append(Pattern(item, casemapping: casemapping))
            }
        }
    }

    func accepts(_ channel: IRCChannel, users: Int) -> Bool {
        if let moreThan, users <= moreThan { return false }
        if let fewerThan, users >= fewerThan { return false }
        if !included.isEmpty, !included.contains(where: { $0.matches(channel) }) { return false }
        return !excluded.contains { $0.matches(channel) }
    }

    /// The number in `>5` or `<20`; nil for anything else (which is then a name).
    private static func count(after sign: Character, in item: Substring) -> Int? {
        guard item.first == sign, item.count > 1 else { return nil }
        let digits = item.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits) ?? Int.max
    }
}
