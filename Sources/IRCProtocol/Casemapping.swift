/// How nick and channel names are compared case-insensitively (the ISUPPORT CASEMAPPING token).
public enum Casemapping: String, Sendable, CaseIterable {
    /// Only A-Z fold to a-z.
    case ascii
    /// A-Z fold to a-z, and also '[' ']' '\' '~' fold to '{' '}' '|' '^'.
    case rfc1459

    /// Lower-cases `s` per the mapping. Returns the same string (no allocation) when nothing changes.
    public func fold(_ s: String) -> String {
        var s = s
        let mapping = self
        let folded: String? = s.withUTF8 { bytes in
            var changes = false
            for byte in bytes where mapping.fold(byte) != byte {
                changes = true
                break
            }
            if !changes { return nil }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                for (i, byte) in bytes.enumerated() { out[i] = mapping.fold(byte) }
                return bytes.count
            }
        }
        return folded ?? s
    }

    /// Folds one byte. Bytes outside the mapping (including all non-ASCII bytes) are unchanged.
    @inline(__always)
    public func fold(_ byte: UInt8) -> UInt8 {
        if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { return byte | 0x20 }
        if self == .rfc1459 {
            switch byte {
            case UInt8(ascii: "["): return UInt8(ascii: "{")
            case UInt8(ascii: "]"): return UInt8(ascii: "}")
            case UInt8(ascii: "\\"): return UInt8(ascii: "|")
            case UInt8(ascii: "~"): return UInt8(ascii: "^")
            default: return byte
            }
        }
        return byte
    }

    /// Whether `a` and `b` are equal after folding, without allocating.
    public func equals(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        let mapping = self
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard x.count == y.count else { return false }
                for i in 0..<x.count where mapping.fold(x[i]) != mapping.fold(y[i]) {
                    return false
                }
                return true
            }
        }
    }
}
