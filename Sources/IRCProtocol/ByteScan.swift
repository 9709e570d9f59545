/// Word-at-a-time (SWAR) byte searches used on the hot paths.
enum ByteScan {
    @inline(__always)
    static func broadcast(_ byte: UInt8) -> UInt64 { UInt64(byte) &* 0x0101_0101_0101_0101 }

    /// Whether any byte of `v` is zero (exact, no false positives for the boolean result).
    @inline(__always)
    static func hasZeroByte(_ v: UInt64) -> Bool {
        (v &- 0x0101_0101_0101_0101) & ~v & 0x8080_8080_8080_8080 != 0
    }

    /// Whether `bytes` contains any of the given bytes (repeat a needle to search for fewer).
    @inline(__always)
    static func containsAny(
        _ bytes: UnsafeBufferPointer<UInt8>,
        _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8
    ) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let n = bytes.count
        let raw = UnsafeRawPointer(base)
        let wa = broadcast(a), wb = broadcast(b), wc = broadcast(c)
        let wd = broadcast(d), we = broadcast(e), wf = broadcast(f)
        var i = 0
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if hasZeroByte(w ^ wa) || hasZeroByte(w ^ wb) || hasZeroByte(w ^ wc)
                || hasZeroByte(w ^ wd) || hasZeroByte(w ^ we) || hasZeroByte(w ^ wf)
            {
                return true
            }
            i += 8
        }
        while i < n {
            let x = base[i]
            if x == a || x == b || x == c || x == d || x == e || x == f { return true }
            i += 1
        }
        return false
    }

    /// NUL, CR or LF: bytes that must never reach the wire unescaped.
    @inline(__always)
    static func containsLineBreakOrNUL(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        containsAny(bytes, 0, WireByte.cr, WireByte.lf, 0, WireByte.cr, WireByte.lf)
    }

    /// Bytes that tag value escaping changes: ';', ' ', '\', CR, LF and NUL.
    @inline(__always)
    static func containsTagSpecial(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        containsAny(bytes, WireByte.semicolon, WireByte.space, WireByte.backslash, WireByte.cr, WireByte.lf, 0)
    }
}
