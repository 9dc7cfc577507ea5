/// Protocol numbers as open `RawRepresentable` structs: any value on the wire is representable (an
/// unknown EtherType is data, not an error), while the ones HNA knows get names. This file is the one
/// home for every protocol number and well-known port HNA uses.

/// The EtherType of an Ethernet frame or of a GRE payload.
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ipv4 = EtherType(rawValue: 0x0800)
    public static let arp = EtherType(rawValue: 0x0806)
    /// Transparent Ethernet bridging: an Ethernet frame inside GRE (NVGRE-style L2 overlay).
    public static let transparentEthernetBridging = EtherType(rawValue: 0x6558)
    public static let vlan = EtherType(rawValue: 0x8100)
    public static let ipv6 = EtherType(rawValue: 0x86DD)
    public static let mplsUnicast = EtherType(rawValue: 0x8847)
    public static let mplsMulticast = EtherType(rawValue: 0x8848)
    public static let qinq = EtherType(rawValue: 0x88A8)
    /// HNA fabric header inside GRE. IEEE 802 "Local Experimental EtherType 1": HNA fabrics are
    /// private, so no public number is claimed; see docs/wire-format.md.
    public static let hna = EtherType(rawValue: 0x88B5)

    /// Tag protocol identifiers that introduce an 802.1Q / 802.1ad tag (0x9100 is the pre-standard QinQ
    /// value some switches still send).
    @inlinable public var isVLANTag: Bool { rawValue == 0x8100 || rawValue == 0x88A8 || rawValue == 0x9100 }

    public var description: String { "0x" + String(rawValue, radix: 16, uppercase: false).leftPadded(to: 4) }
}

/// The IPv4 protocol / IPv6 next-header number.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hopByHop = IPProtocol(rawValue: 0)
    public static let icmp = IPProtocol(rawValue: 1)
    public static let ipv4 = IPProtocol(rawValue: 4)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
    public static let ipv6 = IPProtocol(rawValue: 41)
    public static let ipv6Route = IPProtocol(rawValue: 43)
    public static let ipv6Fragment = IPProtocol(rawValue: 44)
    public static let gre = IPProtocol(rawValue: 47)
    public static let esp = IPProtocol(rawValue: 50)
    public static let ah = IPProtocol(rawValue: 51)
    public static let icmpv6 = IPProtocol(rawValue: 58)
    public static let ipv6NoNext = IPProtocol(rawValue: 59)
    public static let ipv6Options = IPProtocol(rawValue: 60)
    public static let mobility = IPProtocol(rawValue: 135)
    public static let hip = IPProtocol(rawValue: 139)
    public static let shim6 = IPProtocol(rawValue: 140)

    public var description: String { String(rawValue) }
}

/// UDP ports with a meaning in HNA. All are defaults: a deployment may move them in its config.
public enum WellKnownPort {
    /// VXLAN, RFC 7348.
    public static let vxlan: UInt16 = 4789
    /// MPLS-in-UDP, RFC 7510.
    public static let mplsOverUDP: UInt16 = 6635
    /// The HNA fabric header over UDP. Not IANA-assigned (HNA fabrics are private); see
    /// docs/wire-format.md.
    public static let hna: UInt16 = 6650
    /// The range the outer UDP source port takes to carry flow entropy (RFC 7510 section 3, RFC 7348
    /// section 5): the IANA dynamic range.
    public static let entropyRange: ClosedRange<UInt16> = 49152 ... 65535
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
