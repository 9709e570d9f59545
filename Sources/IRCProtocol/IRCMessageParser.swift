extension IRCMessage {
    /// Parses one line WITHOUT its trailing "\r\n" / "\n" (the caller strips them).
    ///
    /// Enforces `IRCLimits`: the tag section may be at most `maxClientTagBytes` bytes and the rest of the
    /// line at most `maxLineBytes - 2` bytes; both are checked before anything else. The whole line must be
    /// valid UTF-8 and must not contain NUL, CR or LF. Leading spaces and runs of spaces between parts are
    /// skipped. Duplicate tag keys are collapsed: the tag keeps the position of its first occurrence and
    /// the value of its last.
    public static func parse(_ line: some Collection<UInt8>) throws(IRCParseError) -> IRCMessage {
        let fast = line.withContiguousStorageIfAvailable { IRCLineParser.parseResult($0) }
        if let fast { return try fast.get() }
        let copy = Array(line)
        return try copy.withUnsafeBufferPointer { IRCLineParser.parseResult($0) }.get()
    }

    /// The tags of a line that `parse` refused (too long, not UTF-8, malformed),
    /// when its tag section on its own is within the limit and well formed: a
    /// labeled-response error reply still carries the line's `label`. Empty otherwise.
    public static func tags(ofRefusedLine line: some Collection<UInt8>) -> [IRCTag] {
        let bytes = Array(line)
        return bytes.withUnsafeBufferPointer { IRCLineParser.tagsOnly($0) } ?? []
    }

    /// Parses one line given as a String (convenience for tests and tools).
    public static func parse(_ line: String) throws(IRCParseError) -> IRCMessage {
        var line = line
        return try line.withUTF8 { IRCLineParser.parseResult($0) }.get()
    }
}

/// The byte-level, single-pass line parser behind `IRCMessage.parse`.
enum IRCLineParser {
    static func parseResult(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<IRCMessage, IRCParseError> {
        do throws(IRCParseError) {
            return .success(try parse(bytes))
        } catch {
            return .failure(error)
        }
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) throws(IRCParseError) -> IRCMessage {
        let n = b.count
        var i = 0
        while i < n && b[i] == WireByte.space { i += 1 }
        if i == n { throw .empty }

        // 1. Length checks, before any other work.
        var tagStart = 0
        var tagEnd = 0
        let hasTags = b[i] == WireByte.at
        if hasTags {
            tagStart = i + 1
            // Never scan further than one byte past the limit.
            let scanLimit = min(n, tagStart + IRCLimits.maxClientTagBytes + 1)
            var j = tagStart
            while j < scanLimit && b[j] != WireByte.space { j += 1 }
            if j - tagStart > IRCLimits.maxClientTagBytes { throw .tagsTooLong }
            tagEnd = j
            i = j
            while i < n && b[i] == WireByte.space { i += 1 }
        }
        if n - i > IRCLimits.maxLineBytes - 2 { throw .lineTooLong }

        // 2. Encoding: valid UTF-8, no NUL / CR / LF.
        try UTF8Check.validate(b)

        if i == n {
            throw .malformed(tagEnd == tagStart ? "'@' with no tags and nothing after" : "tags with no command")
        }

        // 3. Tags.
        var tags: [IRCTag] = []
        if tagEnd > tagStart {
            try parseTags(b, from: tagStart, to: tagEnd, into: &tags)
        }

        // 4. Source.
        var source: String? = nil
        if b[i] == WireByte.colon {
            let start = i + 1
            var j = start
            while j < n && b[j] != WireByte.space { j += 1 }
            if j == start { throw .malformed("empty source") }
            source = string(b, start, j)
            i = j
            while i < n && b[i] == WireByte.space { i += 1 }
            if i == n { throw .malformed("source with no command") }
        }

        // 5. Command (upper-cased ASCII letters). One that starts with '@' could not be
        // written back (the line would read as tags), so it is refused like any other
        // malformed line.
        let commandStart = i
        if b[i] == WireByte.at { throw .malformed("a command cannot start with '@'") }
        while i < n && b[i] != WireByte.space { i += 1 }
        let command = upperCasedString(b, commandStart, i)

        // 6. Params.
        var params: [String] = []
        while true {
            while i < n && b[i] == WireByte.space { i += 1 }
            if i == n { break }
            // Room for the usual few at once, not one growth step per parameter.
            if params.isEmpty { params.reserveCapacity(4) }
            if b[i] == WireByte.colon {
                params.append(string(b, i + 1, n))
                break
            }
            let start = i
            while i < n && b[i] != WireByte.space { i += 1 }
            params.append(string(b, start, i))
        }

        return IRCMessage(tags: tags, source: source, command: command, params: params)
    }

    // MARK: Tags

    /// The tag section alone, as `parse` would read it; nil when there is none or it is invalid.
    static func tagsOnly(_ b: UnsafeBufferPointer<UInt8>) -> [IRCTag]? {
        var start = 0
        while start < b.count && b[start] == WireByte.space { start += 1 }
        guard start < b.count, b[start] == WireByte.at else { return nil }
        start += 1
        let limit = min(b.count, start + IRCLimits.maxClientTagBytes + 1)
        var end = start
        while end < limit && b[end] != WireByte.space { end += 1 }
        guard end > start, end - start <= IRCLimits.maxClientTagBytes else { return nil }
        let section = UnsafeBufferPointer(rebasing: b[start..<end])
        do throws(IRCParseError) {
            try UTF8Check.validate(section)
            var tags: [IRCTag] = []
            try parseTags(section, from: 0, to: section.count, into: &tags)
            return tags
        } catch {
            return nil
        }
    }

    private static func parseTags(
        _ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, into tags: inout [IRCTag]
    ) throws(IRCParseError) {
        var index: [String: Int]? = nil   // built only when there are many tags
        var p = start
        while p < end {
            var q = p
            var equals = -1
            while q < end && b[q] != WireByte.semicolon {
                if equals < 0 && b[q] == WireByte.equals { equals = q }
                q += 1
            }
            if q > p {
                let keyEnd = equals < 0 ? q : equals
                guard isValidTagKey(b, p, keyEnd) else {
                    throw .malformed("invalid tag key '\(string(b, p, keyEnd))'")
                }
                let key = string(b, p, keyEnd)
                let value = equals < 0 ? "" : unescapedTagValue(b, equals + 1, q)
                insert(IRCTag(key, value), into: &tags, index: &index)
            }
            p = q + 1
        }
    }

    /// Appends the tag, or replaces the value of an earlier tag with the same key (last value wins).
    private static func insert(_ tag: IRCTag, into tags: inout [IRCTag], index: inout [String: Int]?) {
        if index == nil && tags.count >= 16 {
            var built: [String: Int] = [:]
            built.reserveCapacity(tags.count * 2)
            for (position, existing) in tags.enumerated() { built[existing.key] = position }
            index = built
        }
        if index != nil {
            if let position = index![tag.key] {
                tags[position].value = tag.value
            } else {
                index![tag.key] = tags.count
                tags.append(tag)
            }
            return
        }
        for position in tags.indices where tags[position].key == tag.key {
            tags[position].value = tag.value
            return
        }
        tags.append(tag)
    }

    /// `['+'] [vendor '/'] name`, vendor = letters, digits, '-', '.'; name = letters, digits, '-'.
    private static func isValidTagKey(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var k = start
        if k < end && b[k] == WireByte.plus { k += 1 }
        var nameStart = k
        var slash = -1
        for x in k..<max(k, end) where b[x] == WireByte.slash {
            slash = x
            break
        }
        if slash >= 0 {
            if slash == k { return false }
            for x in k..<slash {
                let c = b[x]
                if !(isAlphanumeric(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")) { return false }
            }
            nameStart = slash + 1
        }
        if nameStart >= end { return false }
        for x in nameStart..<end {
            let c = b[x]
            if !(isAlphanumeric(c) || c == UInt8(ascii: "-")) { return false }
        }
        return true
    }

    @inline(__always)
    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    private static func unescapedTagValue(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        var hasEscape = false
        for x in start..<max(start, end) where b[x] == WireByte.backslash {
            hasEscape = true
            break
        }
        if !hasEscape { return string(b, start, end) }
        return TagEscaping.unescapeBytes(UnsafeBufferPointer(rebasing: b[start..<end]))
    }

    // MARK: Strings

    @inline(__always)
    static func string(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        if end <= start { return "" }
        return String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self)
    }

    private static func upperCasedString(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        var hasLower = false
        for x in start..<end where b[x] >= UInt8(ascii: "a") && b[x] <= UInt8(ascii: "z") {
            hasLower = true
            break
        }
        if !hasLower { return string(b, start, end) }
        return String(unsafeUninitializedCapacity: end - start) { out in
            for x in start..<end {
                let c = b[x]
                out[x - start] = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) ? c &- 0x20 : c
            }
            return end - start
        }
    }
}

/// Strict UTF-8 validation on bytes (rejects overlongs, surrogates, code points above U+10FFFF,
/// truncated sequences and stray continuation bytes), which also rejects NUL, CR and LF.
enum UTF8Check {
    static func validate(_ b: UnsafeBufferPointer<UInt8>) throws(IRCParseError) {
        let n = b.count
        guard let base = b.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i < n {
            // Fast path: eight ASCII bytes with no NUL, CR or LF at a time.
            if i + 8 <= n {
                let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if word & 0x8080_8080_8080_8080 == 0
                    && !ByteScan.hasZeroByte(word)
                    && !ByteScan.hasZeroByte(word ^ 0x0D0D_0D0D_0D0D_0D0D)
                    && !ByteScan.hasZeroByte(word ^ 0x0A0A_0A0A_0A0A_0A0A)
                {
                    i += 8
                    continue
                }
            }
            let c = b[i]
            if c < 0x80 {
                if c == 0 || c == WireByte.cr || c == WireByte.lf {
                    throw .malformed("line contains NUL, CR or LF")
                }
                i += 1
                continue
            }
            if c < 0xC2 {
                // Stray continuation byte, or overlong 2-byte lead (C0, C1).
                throw .invalidUTF8
            } else if c < 0xE0 {
                guard i + 1 < n, isContinuation(b[i + 1]) else { throw .invalidUTF8 }
                i += 2
            } else if c < 0xF0 {
                guard i + 2 < n else { throw .invalidUTF8 }
                let c1 = b[i + 1]
                let low: UInt8 = c == 0xE0 ? 0xA0 : 0x80   // E0: no overlongs
                let high: UInt8 = c == 0xED ? 0x9F : 0xBF  // ED: no surrogates
                guard c1 >= low, c1 <= high, isContinuation(b[i + 2]) else { throw .invalidUTF8 }
                i += 3
            } else if c < 0xF5 {
                guard i + 3 < n else { throw .invalidUTF8 }
                let c1 = b[i + 1]
                let low: UInt8 = c == 0xF0 ? 0x90 : 0x80   // F0: no overlongs
                let high: UInt8 = c == 0xF4 ? 0x8F : 0xBF  // F4: nothing above U+10FFFF
                guard c1 >= low, c1 <= high, isContinuation(b[i + 2]), isContinuation(b[i + 3]) else {
                    throw .invalidUTF8
                }
                i += 4
            } else {
                throw .invalidUTF8
            }
        }
    }

    @inline(__always)
    private static func isContinuation(_ c: UInt8) -> Bool { c & 0xC0 == 0x80 }
}
