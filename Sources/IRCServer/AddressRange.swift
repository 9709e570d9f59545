import NIOCore

/// An IPv4 or IPv6 network in CIDR notation ("127.0.0.0/8", "::1", "10.0.0.0/8").
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    private let network: [UInt8]
    private let prefixLength: Int

    public static let loopback: [AddressRange] = [AddressRange("127.0.0.0/8")!, AddressRange("::1")!]

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = AddressRange.bytes(of: String(parts[0])) else { return nil }
        let maxPrefix = bytes.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxPrefix).contains(value) else { return nil }
            prefix = value
        }
        self.network = AddressRange.masked(bytes, prefix: prefix)
        self.prefixLength = prefix
    }

    public var description: String {
        let address = (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network), port: 0))?.ipAddress ?? "?"
        return "\(address)/\(prefixLength)"
    }

    public func contains(_ address: SocketAddress) -> Bool {
        guard let bytes = AddressRange.bytes(of: address) else { return false }
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        if bytes.count == 16, network.count == 4, bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            return AddressRange.masked(Array(bytes[12...]), prefix: prefixLength) == network
        }
        return bytes.count == network.count && AddressRange.masked(bytes, prefix: prefixLength) == network
    }

    static func bytes(of text: String) -> [UInt8]? {
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        return bytes(of: address)
    }

    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default:
            return nil
        }
    }

    private static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsKept = max(0, min(8, prefix - index * 8))
            result[index] &= bitsKept == 8 ? 0xff : UInt8(truncatingIfNeeded: 0xff << (8 - bitsKept))
        }
        return result
    }
}
