import HNAWire

/// An address the FIB can index: a fixed-width bit string read most significant bit first.
public protocol FIBAddress: Hashable, Sendable, CustomStringConvertible {
    static var bitWidth: Int { get }
    /// `count` bits (1 to 16) starting `offset` bits from the most significant end, as an integer.
    func bits(_ offset: Int, _ count: Int) -> Int
    /// The address with every bit from `length` on cleared.
    func masked(to length: Int) -> Self
}

extension IPv4Address: FIBAddress {
    public static var bitWidth: Int { 32 }

    @inlinable @inline(__always)
    public func bits(_ offset: Int, _ count: Int) -> Int {
        Int(truncatingIfNeeded: (rawValue &<< UInt32(offset)) &>> UInt32(32 - count))
    }

    @inlinable
    public func masked(to length: Int) -> IPv4Address {
        if length <= 0 { return .any }
        if length >= 32 { return self }
        return IPv4Address(rawValue: rawValue & ~(UInt32.max >> UInt32(length)))
    }
}

extension IPv6Address: FIBAddress {
    public static var bitWidth: Int { 128 }

    @inlinable @inline(__always)
    public func bits(_ offset: Int, _ count: Int) -> Int {
        if offset + count <= 64 {
            return Int(truncatingIfNeeded: (high &<< UInt64(offset)) &>> UInt64(64 - count))
        }
        if offset >= 64 {
            return Int(truncatingIfNeeded: (low &<< UInt64(offset - 64)) &>> UInt64(64 - count))
        }
        // Straddles the halves: the tail of `high` then the head of `low`.
        let fromHigh = 64 - offset
        let fromLow = count - fromHigh
        let h = high & (UInt64.max >> UInt64(offset))
        return Int(truncatingIfNeeded: h &<< UInt64(fromLow) | low &>> UInt64(64 - fromLow))
    }

    @inlinable
    public func masked(to length: Int) -> IPv6Address {
        if length <= 0 { return .any }
        if length >= 128 { return self }
        if length <= 64 {
            return IPv6Address(high: length == 64 ? high : high & ~(UInt64.max >> UInt64(length)), low: 0)
        }
        return IPv6Address(high: high, low: low & ~(UInt64.max >> UInt64(length - 64)))
    }
}

/// An address and a prefix length, with the host bits cleared.
public struct Prefix<Address: FIBAddress>: Hashable, Sendable, CustomStringConvertible {
    public let address: Address
    public let length: Int

    /// Clears the host bits of `address`; `length` is clamped to the address width.
    public init(_ address: Address, _ length: Int) {
        let l = max(0, min(length, Address.bitWidth))
        self.address = address.masked(to: l)
        self.length = l
    }

    public func contains(_ a: Address) -> Bool { a.masked(to: length) == address }

    public var description: String { "\(address)/\(length)" }
}

public typealias IPv4Prefix = Prefix<IPv4Address>
public typealias IPv6Prefix = Prefix<IPv6Address>

extension Prefix where Address == IPv4Address {
    /// Parses `a.b.c.d/len` (a bare address is a /32).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1 ... 2).contains(parts.count), let a = IPv4Address(String(parts[0])) else { return nil }
        var len = 32
        if parts.count == 2 { guard let l = Int(parts[1]), (0 ... 32).contains(l) else { return nil }; len = l }
        self.init(a, len)
    }
}

extension Prefix where Address == IPv6Address {
    /// Parses `addr/len` (a bare address is a /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1 ... 2).contains(parts.count), let a = IPv6Address(String(parts[0])) else { return nil }
        var len = 128
        if parts.count == 2 { guard let l = Int(parts[1]), (0 ... 128).contains(l) else { return nil }; len = l }
        self.init(a, len)
    }
}

/// A prefix of either family, for policy rules and configuration.
public enum IPPrefix: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Prefix)
    case v6(IPv6Prefix)

    public static let anyV4 = IPPrefix.v4(IPv4Prefix(.any, 0))
    public static let anyV6 = IPPrefix.v6(IPv6Prefix(.any, 0))

    public init?(_ text: String) {
        if let p = IPv4Prefix(text) { self = .v4(p) } else if let p = IPv6Prefix(text) { self = .v6(p) } else { return nil }
    }

    public var description: String {
        switch self {
        case let .v4(p): return p.description
        case let .v6(p): return p.description
        }
    }
}
