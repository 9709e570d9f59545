/// Tag value escaping per IRCv3 message-tags: ';' -> "\:", ' ' -> "\s", '\' -> "\\", CR -> "\r", LF -> "\n".
public enum TagEscaping {
    /// Escapes a raw tag value for the wire.
    public static func escape(_ value: String) -> String {
        var value = value
        let escaped: String? = value.withUTF8 { bytes in
            var extra = 0
            for byte in bytes {
                switch byte {
                case WireByte.semicolon, WireByte.space, WireByte.backslash, WireByte.cr, WireByte.lf: extra += 1
                default: break
                }
            }
            if extra == 0 { return nil }
            return String(unsafeUninitializedCapacity: bytes.count + extra) { out in
                var o = 0
                for byte in bytes {
                    let replacement: UInt8
                    switch byte {
                    case WireByte.semicolon: replacement = WireByte.colon
                    case WireByte.space: replacement = UInt8(ascii: "s")
                    case WireByte.backslash: replacement = WireByte.backslash
                    case WireByte.cr: replacement = UInt8(ascii: "r")
                    case WireByte.lf: replacement = UInt8(ascii: "n")
                    default:
                        out[o] = byte
                        o += 1
                        continue
                    }
                    out[o] = WireByte.backslash
                    out[o + 1] = replacement
                    o += 2
                }
                return o
            }
        }
        return escaped ?? value
    }

    /// Unescapes a tag value from the wire. An unknown escape "\x" becomes "x"; a trailing lone '\' is dropped.
    public static func unescape(_ value: String) -> String {
        var value = value
        let unescaped: String? = value.withUTF8 { bytes in
            var hasEscape = false
            for byte in bytes where byte == WireByte.backslash {
                hasEscape = true
                break
            }
            return hasEscape ? unescapeBytes(bytes) : nil
        }
        return unescaped ?? value
    }

    static func unescapeBytes(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.isEmpty { return "" }
        return String(unsafeUninitializedCapacity: bytes.count) { out in
            var o = 0
            var i = 0
            let n = bytes.count
            while i < n {
                let byte = bytes[i]
                if byte != WireByte.backslash {
                    out[o] = byte
                    o += 1
                    i += 1
                    continue
                }
                i += 1
                if i == n { break }  // trailing lone backslash: dropped
                let next = bytes[i]
                switch next {
                case WireByte.colon: out[o] = WireByte.semicolon
                case UInt8(ascii: "s"): out[o] = WireByte.space
                case UInt8(ascii: "r"): out[o] = WireByte.cr
                case UInt8(ascii: "n"): out[o] = WireByte.lf
                default: out[o] = next  // "\\" -> "\", unknown "\x" -> "x"
                }
                o += 1
                i += 1
            }
            return o
        }
    }
}
