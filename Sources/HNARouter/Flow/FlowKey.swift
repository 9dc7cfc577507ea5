import HNAWire

/// A flow's identity: VRF, addresses, protocol and ports. Five 64-bit words, so comparing two keys is
/// five integer compares and hashing them is a few multiplies. IPv4 addresses sit in the low words with
/// the high words zero; the family bit keeps an IPv4 key distinct from an IPv4-compatible IPv6 one.
public struct FlowKey: Hashable, Sendable, CustomStringConvertible {
    public var sourceHigh: UInt64
    public var sourceLow: UInt64
    public var destinationHigh: UInt64
    public var destinationLow: UInt64
    /// vrf (16) | family (8) | protocol (8) | source port (16) | destination port (16).
    public var packed: UInt64

    @inlinable
    public init(vrf: VRFID, source: IPv4Address, destination: IPv4Address, protocol proto: IPProtocol,
                sourcePort: UInt16, destinationPort: UInt16) {
        sourceHigh = 0
        sourceLow = UInt64(source.rawValue)
        destinationHigh = 0
        destinationLow = UInt64(destination.rawValue)
        packed = Self.pack(vrf: vrf, v6: false, proto: proto.rawValue, sport: sourcePort, dport: destinationPort)
    }

    @inlinable
    public init(vrf: VRFID, source: IPv6Address, destination: IPv6Address, protocol proto: IPProtocol,
                sourcePort: UInt16, destinationPort: UInt16) {
        sourceHigh = source.high
        sourceLow = source.low
        destinationHigh = destination.high
        destinationLow = destination.low
        packed = Self.pack(vrf: vrf, v6: true, proto: proto.rawValue, sport: sourcePort, dport: destinationPort)
    }

    @inlinable @inline(__always)
    static func pack(vrf: VRFID, v6: Bool, proto: UInt8, sport: UInt16, dport: UInt16) -> UInt64 {
        UInt64(vrf) << 48 | (v6 ? 1 << 40 : 0) | UInt64(proto) << 32 | UInt64(sport) << 16 | UInt64(dport)
    }

    @inlinable public var vrf: VRFID { VRFID(truncatingIfNeeded: packed >> 48) }
    @inlinable public var isIPv6: Bool { packed >> 40 & 1 != 0 }
    @inlinable public var proto: IPProtocol { IPProtocol(rawValue: UInt8(truncatingIfNeeded: packed >> 32)) }
    @inlinable public var sourcePort: UInt16 { UInt16(truncatingIfNeeded: packed >> 16) }
    @inlinable public var destinationPort: UInt16 { UInt16(truncatingIfNeeded: packed) }

    public var source: IPAddress {
        isIPv6 ? .v6(IPv6Address(high: sourceHigh, low: sourceLow)) : .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: sourceLow)))
    }

    public var destination: IPAddress {
        isIPv6 ? .v6(IPv6Address(high: destinationHigh, low: destinationLow))
            : .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: destinationLow)))
    }

    /// The key of the return traffic: addresses and ports swapped.
    @inlinable
    public var reversed: FlowKey {
        var r = self
        r.sourceHigh = destinationHigh
        r.sourceLow = destinationLow
        r.destinationHigh = sourceHigh
        r.destinationLow = sourceLow
        r.packed = packed & ~0xFFFF_FFFF | UInt64(destinationPort) << 16 | UInt64(sourcePort)
        return r
    }

    /// A well-mixed 64-bit hash (multiply-fold rounds, as in wyhash). Not keyed: flow keys come from
    /// tenants, so a deployment worried about crafted collisions bounds probe lengths (the table does).
    @inlinable
    public var hash: UInt64 {
        let a = Self.fold(sourceHigh ^ 0xA076_1D64_78BD_642F, sourceLow ^ 0xE703_7ED1_A0B4_28DB)
        let b = Self.fold(destinationHigh ^ 0x8EBC_6AF0_9C88_C6E3, destinationLow ^ 0x5899_65CC_7537_4CC3)
        return Self.fold(a ^ packed, b ^ 0x1D8E_4E27_C47D_124F)
    }

    @inlinable @inline(__always)
    static func fold(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let r = x.multipliedFullWidth(by: y)
        return r.high ^ r.low
    }

    public var description: String {
        let (s, d) = (source, destination)
        return "vrf \(vrf) \(proto) \(s):\(sourcePort) -> \(d):\(destinationPort)"
    }
}
