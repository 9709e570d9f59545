/// One IRCv3 message tag. A tag without a value has `value == ""` ("key" and "key=" are the same).
public struct IRCTag: Sendable, Hashable {
    /// The key, e.g. "time", "+typing", "draft/reply".
    public var key: String
    /// The unescaped value; "" when the tag has no value.
    public var value: String

    public init(_ key: String, _ value: String = "") {
        self.key = key
        self.value = value
    }
}

/// One IRC protocol message: optional tags and source, a command and its parameters.
public struct IRCMessage: Sendable, Hashable {
    /// Tags in wire order.
    public var tags: [IRCTag]
    /// The source (prefix) without the leading ':'.
    public var source: String?
    /// The command. `parse` upper-cases ASCII letters ("privmsg" -> "PRIVMSG"); numerics stay as they are ("001").
    public var command: String
    /// The parameters; the trailing parameter is included as the last element, without its ':'.
    public var params: [String]

    public init(tags: [IRCTag] = [], source: String? = nil, command: String, params: [String] = []) {
        self.tags = tags
        self.source = source
        self.command = command
        self.params = params
    }

    /// The value of the first tag with that key, or nil if there is none.
    public func tag(_ key: String) -> String? {
        for tag in tags where tag.key == key {
            return tag.value
        }
        return nil
    }
}

// MARK: - Serialising

extension IRCMessage {
    /// Serialises the message without the line ending.
    ///
    /// The last param is written as trailing (":" + text) when it is empty, contains a space, or starts
    /// with ':'; every other param is written as a middle param (the caller must not put spaces in them).
    /// Tag values are escaped; a tag with an empty value is written as just its key.
    ///
    /// As a safety net against line injection, NUL, CR and LF anywhere outside tag values are written as
    /// spaces (inside tag values CR and LF are escaped and NUL is dropped), so the result is always one line.
    public func serialized() -> String {
        let lastIsTrailing = lastParamNeedsTrailing
        var counter = SerialCounter()
        emit(into: &counter, lastIsTrailing: lastIsTrailing)
        let count = counter.count
        if count == 0 { return "" }
        return String(unsafeUninitializedCapacity: count) { buffer in
            var writer = SerialWriter(base: buffer.baseAddress!)
            emit(into: &writer, lastIsTrailing: lastIsTrailing)
            return writer.offset
        }
    }

    /// Appends `serialized()` followed by "\r\n" as UTF-8 bytes.
    public func write(into bytes: inout [UInt8]) {
        let lastIsTrailing = lastParamNeedsTrailing
        var counter = SerialCounter()
        emit(into: &counter, lastIsTrailing: lastIsTrailing)
        let count = counter.count
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: count + 2))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var writer = SerialWriter(base: buffer.baseAddress! + start)
            emit(into: &writer, lastIsTrailing: lastIsTrailing)
            writer.put(WireByte.cr)
            writer.put(WireByte.lf)
        }
    }

    /// The number of bytes `writeLine(to:)` writes: `serialized()` plus CR LF.
    public var lineByteCount: Int { serializedByteCount + 2 }

    /// The number of bytes `writeLine(to:includingTags:)` writes.
    public func lineByteCount(includingTags: Bool) -> Int {
        var counter = SerialCounter()
        emit(into: &counter, lastIsTrailing: lastParamNeedsTrailing, includingTags: includingTags)
        return counter.count + 2
    }

    /// Writes `serialized()` followed by "\r\n" at the start of `destination`, which must
    /// hold at least `lineByteCount` bytes; returns the number of bytes written. Lets a
    /// caller serialise straight into its own buffer (a NIO `ByteBuffer`) without a copy.
    /// With `includingTags: false` the tags are left out (for a recipient that takes none),
    /// without making a copy of the message to remove them.
    public func writeLine(to destination: UnsafeMutableRawBufferPointer, includingTags: Bool = true) -> Int {
        var lineBreak = false
        return writeLine(to: destination, includingTags: includingTags, foundLineBreak: &lineBreak)
    }

    /// `writeLine(to:includingTags:)`, also telling whether a parameter held a CR or LF
    /// (written as a space): found while writing, at no cost when there is none, so a
    /// caller can write the message again as several lines (`fittedToLineLimit`).
    public func writeLine(to destination: UnsafeMutableRawBufferPointer, includingTags: Bool, foundLineBreak: inout Bool) -> Int {
        let lastIsTrailing = lastParamNeedsTrailing
        var counter = SerialCounter()
        emit(into: &counter, lastIsTrailing: lastIsTrailing, includingTags: includingTags)
        precondition(destination.count >= counter.count + 2, "destination too small for the line")
        guard let base = destination.baseAddress else { return 0 }
        var writer = SerialWriter(base: base.assumingMemoryBound(to: UInt8.self))
        emit(into: &writer, lastIsTrailing: lastIsTrailing, includingTags: includingTags)
        writer.put(WireByte.cr)
        writer.put(WireByte.lf)
        foundLineBreak = writer.replacedLineBreak
        return writer.offset
    }

    /// The number of bytes `serialized()` produces (without CRLF), computed without allocating.
    public var serializedByteCount: Int {
        var counter = SerialCounter()
        emit(into: &counter, lastIsTrailing: lastParamNeedsTrailing)
        return counter.count
    }

    private var lastParamNeedsTrailing: Bool {
        guard let last = params.last else { return false }
        return withUTF8Bytes(last) { IRCMessage.needsTrailing($0) }
    }

    static func needsTrailing(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first else { return true }
        if first == WireByte.colon { return true }
        return ByteScan.containsAny(bytes, WireByte.space, 0, WireByte.cr, WireByte.lf, WireByte.space, 0)
    }

    private func emit<Sink: SerialSink>(into sink: inout Sink, lastIsTrailing: Bool, includingTags: Bool = true) {
        if includingTags, !tags.isEmpty {
            sink.put(WireByte.at)
            var first = true
            for tag in tags {
                if !first { sink.put(WireByte.semicolon) }
                first = false
                sink.putRaw(tag.key)
                if !tag.value.isEmpty {
                    sink.put(WireByte.equals)
                    sink.putEscapedTagValue(tag.value)
                }
            }
            sink.put(WireByte.space)
        }
        if let source {
            sink.put(WireByte.colon)
            sink.putRaw(source)
            sink.put(WireByte.space)
        }
        sink.putRaw(command)
        let lastIndex = params.count - 1
        for (index, param) in params.enumerated() {
            sink.put(WireByte.space)
            if index == lastIndex && lastIsTrailing { sink.put(WireByte.colon) }
            sink.putRaw(param)
        }
    }
}

// MARK: - Byte sinks used by the serialiser

/// Byte constants shared by the parser and the serialiser.
enum WireByte {
    static let space = UInt8(ascii: " ")
    static let colon = UInt8(ascii: ":")
    static let semicolon = UInt8(ascii: ";")
    static let equals = UInt8(ascii: "=")
    static let at = UInt8(ascii: "@")
    static let bang = UInt8(ascii: "!")
    static let plus = UInt8(ascii: "+")
    static let slash = UInt8(ascii: "/")
    static let backslash = UInt8(ascii: "\\")
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
}

/// The serialiser runs twice over the same logic: once counting, once writing, so the output is
/// produced with exactly one allocation of exactly the right size.
protocol SerialSink {
    mutating func put(_ byte: UInt8)
    /// Writes bytes as-is, except NUL, CR and LF which become spaces (a 1:1 replacement).
    mutating func putRaw(_ bytes: UnsafeBufferPointer<UInt8>)
    /// Writes a tag value with IRCv3 escaping; NUL (not representable) is dropped.
    mutating func putEscapedTagValue(_ string: String)
}

extension SerialSink {
    @inline(__always) mutating func putRaw(_ string: String) {
        withUTF8Bytes(string) { putRaw($0) }
    }

    @inline(__always) mutating func putRaw(_ string: StaticString) {
        putRaw(UnsafeBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }
}

/// Calls `body` with the string's UTF-8 bytes, without copying native strings.
@inline(__always)
func withUTF8Bytes<R>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = string.utf8.withContiguousStorageIfAvailable(body) { return result }
    var copy = string
    return copy.withUTF8(body)
}

struct SerialCounter: SerialSink {
    var count = 0

    @inline(__always) mutating func put(_ byte: UInt8) { count += 1 }

    @inline(__always) mutating func putRaw(_ bytes: UnsafeBufferPointer<UInt8>) { count += bytes.count }

    @inline(__always) mutating func putEscapedTagValue(_ string: String) {
        count += withUTF8Bytes(string) { bytes in
            guard ByteScan.containsTagSpecial(bytes) else { return bytes.count }
            var total = 0
            for byte in bytes {
                switch byte {
                case WireByte.semicolon, WireByte.space, WireByte.backslash, WireByte.cr, WireByte.lf: total += 2
                case 0: break
                default: total += 1
                }
            }
            return total
        }
    }
}

struct SerialWriter: SerialSink {
    let base: UnsafeMutablePointer<UInt8>
    var offset = 0
    /// A CR or LF outside tag values was written as a space.
    var replacedLineBreak = false

    init(base: UnsafeMutablePointer<UInt8>) { self.base = base }

    @inline(__always) mutating func put(_ byte: UInt8) {
        base[offset] = byte
        offset += 1
    }

    @inline(__always) mutating func putRaw(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        let destination = base + offset
        destination.update(from: source, count: bytes.count)
        if ByteScan.containsLineBreakOrNUL(bytes) {
            for i in 0..<bytes.count where destination[i] == 0 || destination[i] == WireByte.cr || destination[i] == WireByte.lf {
                if destination[i] != 0 { replacedLineBreak = true }
                destination[i] = WireByte.space
            }
        }
        offset += bytes.count
    }

    @inline(__always) mutating func putEscapedTagValue(_ string: String) {
        offset = withUTF8Bytes(string) { [base, offset] bytes in
            guard let source = bytes.baseAddress, bytes.count > 0 else { return offset }
            if !ByteScan.containsTagSpecial(bytes) {
                (base + offset).update(from: source, count: bytes.count)
                return offset + bytes.count
            }
            var o = offset
            for byte in bytes {
                let replacement: UInt8
                switch byte {
                case WireByte.semicolon: replacement = WireByte.colon
                case WireByte.space: replacement = UInt8(ascii: "s")
                case WireByte.backslash: replacement = WireByte.backslash
                case WireByte.cr: replacement = UInt8(ascii: "r")
                case WireByte.lf: replacement = UInt8(ascii: "n")
                case 0: continue
                default:
                    base[o] = byte
                    o += 1
                    continue
                }
                base[o] = WireByte.backslash
                base[o + 1] = replacement
                o += 2
            }
            return o
        }
    }
}
