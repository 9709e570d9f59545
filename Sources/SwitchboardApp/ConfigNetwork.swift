#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks on the network values of the configuration: addresses, CIDR
/// blocks, origins. Each returns a reason when the value is wrong.
enum ConfigNetwork {
    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    static func isHostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    enum AddressResult {
        case success(host: String, port: Int)
        case failure(String)
    }

    /// Splits `"host:port"` (IPv6 as `"[::1]:6697"`); the host comes back
    /// without brackets.
    static func parseAddress(_ text: String) -> AddressResult {
        let hint = "expected \"host:port\", e.g. \"0.0.0.0:6697\" or \"[::1]:6697\""
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure("invalid address \"\(text)\": missing ']' after the IPv6 address; \(hint)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return .failure("invalid address \"\(text)\": missing port; \(hint)")
            }
            portText = rest.dropFirst()
            guard isIPv6(String(host)) else {
                return .failure("invalid address \"\(text)\": \"\(host)\" is not an IPv6 address")
            }
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons > 1 {
                return .failure("invalid address \"\(text)\": write an IPv6 address in brackets, e.g. \"[::1]:6697\"")
            }
            guard colons == 1, let colon = text.firstIndex(of: ":") else {
                return .failure("invalid address \"\(text)\": missing port; \(hint)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.isEmpty else {
                return .failure("invalid address \"\(text)\": missing host; \(hint)")
            }
            let hostString = String(host)
            let looksNumeric = hostString.allSatisfy { $0.isNumber || $0 == "." }
            guard looksNumeric ? isIPv4(hostString) : isHostname(hostString) else {
                return .failure("invalid address \"\(text)\": \"\(host)\" is not an IP address or host name")
            }
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
            let port = Int(portText)
        else {
            return .failure("invalid address \"\(text)\": invalid port \"\(portText)\"; \(hint)")
        }
        guard (0...65535).contains(port) else {
            return .failure("invalid address \"\(text)\": port \(port) is out of range 0-65535")
        }
        return .success(host: String(host), port: port)
    }

    /// Formats a host and port back as an address, with brackets around IPv6 hosts.
    static func formatAddress(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why `text` is not an IPv4/IPv6 address or CIDR block, or `nil`.
    static func cidrProblem(_ text: String) -> String? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return "invalid address or CIDR block \"\(text)\"" }
        let address = String(parts[0])
        let maxPrefix: Int
        if isIPv4(address) {
            maxPrefix = 32
        } else if isIPv6(address) {
            maxPrefix = 128
        } else {
            return "invalid address or CIDR block \"\(text)\" (use e.g. \"192.0.2.0/24\", \"2001:db8::/32\" or \"::1\")"
        }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let prefix = Int(parts[1]),
                prefix <= maxPrefix
            else {
                return "invalid CIDR block \"\(text)\": the prefix length must be 0-\(maxPrefix)"
            }
        }
        return nil
    }

    /// Why `text` is not a web origin (`https://www.example.com[:port]`), or `nil`.
    static func originProblem(_ text: String) -> String? {
        let hint = "an origin is a scheme, a host and an optional port, e.g. \"https://www.example.com\", without a path"
        let scheme: String
        if text.hasPrefix("https://") {
            scheme = "https://"
        } else if text.hasPrefix("http://") {
            scheme = "http://"
        } else {
            return "invalid origin \"\(text)\": \(hint)"
        }
        let rest = String(text.dropFirst(scheme.count))
        if rest.isEmpty || rest.contains("/") || rest.contains("?") || rest.contains("#") || rest.contains("@") {
            return "invalid origin \"\(text)\": \(hint)"
        }
        // The host part, with an optional port.
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), isIPv6(String(rest[rest.index(after: rest.startIndex)..<close]))
            else { return "invalid origin \"\(text)\": \(hint)" }
            let after = rest[rest.index(after: close)...]
            if after.isEmpty { return nil }
            return validPort(after.dropFirst(), prefixOK: after.hasPrefix(":")) ? nil : "invalid origin \"\(text)\": \(hint)"
        }
        let pieces = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count <= 2, isHostname(String(pieces[0])) || isIPv4(String(pieces[0])) else {
            return "invalid origin \"\(text)\": \(hint)"
        }
        if pieces.count == 2, !validPort(pieces[1], prefixOK: true) {
            return "invalid origin \"\(text)\": \(hint)"
        }
        return nil
    }

    private static func validPort(_ text: Substring, prefixOK: Bool) -> Bool {
        guard prefixOK, !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text) else {
            return false
        }
        return (1...65535).contains(port)
    }
}
