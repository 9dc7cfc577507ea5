import CHNALinux
import HNAWire

/// An underlay endpoint: an IPv4 or IPv6 address and a UDP port.
///
/// Uses HNAWire's address types so the daemon passes the same values to the core and to the socket; the
/// conversion to the C `hna_sockaddr` is a few stores, done per message inside the batch calls.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address, port: UInt16)
    case v6(IPv6Address, port: UInt16, scopeID: UInt32 = 0)

    public var port: UInt16 {
        switch self {
        case let .v4(_, port), let .v6(_, port, _): return port
        }
    }

    /// Parses "1.2.3.4:5" or "[::1]:5"; nil on anything else.
    public init?(_ text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":"),
                  let a = IPv6Address(String(text[text.index(after: text.startIndex) ..< close])),
                  let p = UInt16(text[text.index(close, offsetBy: 2)...]) else { return nil }
            self = .v6(a, port: p)
        } else {
            guard let colon = text.lastIndex(of: ":"),
                  let a = IPv4Address(String(text[..<colon])),
                  let p = UInt16(text[text.index(after: colon)...]) else { return nil }
            self = .v4(a, port: p)
        }
    }

    public var description: String {
        switch self {
        case let .v4(a, port): return "\(a):\(port)"
        case let .v6(a, port, scope): return "[\(a)\(scope == 0 ? "" : "%\(scope)")]:\(port)"
        }
    }

    @inlinable
    init(_ raw: hna_sockaddr) {
        var raw = raw
        if raw.family == 4 {
            let a = withUnsafeBytes(of: &raw.addr) { IPv4Address(reading: $0, at: 0) }
            self = .v4(a, port: raw.port)
        } else {
            let a = withUnsafeBytes(of: &raw.addr) { IPv6Address(reading: $0, at: 0) }
            self = .v6(a, port: raw.port, scopeID: raw.scope_id)
        }
    }

    @inlinable
    var raw: hna_sockaddr {
        var r = hna_sockaddr()
        switch self {
        case let .v4(a, port):
            r.family = 4
            r.port = port
            withUnsafeMutableBytes(of: &r.addr) { a.write(to: $0, at: 0) }
        case let .v6(a, port, scope):
            r.family = 6
            r.port = port
            r.scope_id = scope
            withUnsafeMutableBytes(of: &r.addr) { a.write(to: $0, at: 0) }
        }
        return r
    }
}
