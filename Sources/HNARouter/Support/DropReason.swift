/// Why the router dropped a packet. Every drop increments exactly one of these (tf-vrouter's dropstats,
/// VPP's error counters); `name` is the stable key in `hna` output and JSON.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// The headers did not parse (truncated, bad length, bad version...).
    case malformedPacket
    /// An EtherType or IP protocol the router does not forward.
    case unsupportedProtocol
    /// The packet arrived on an interface the router has no configuration for.
    case unknownInterface
    /// The interface or label points at a VRF that does not exist.
    case unknownVRF
    /// No FIB entry matched the destination.
    case noRoute
    /// The route's next hop is a discard next hop.
    case discardNextHop
    /// The VRF's L2 table has no entry for the destination MAC.
    case noBridgeEntry
    /// Broadcast or multicast that the router does not answer itself (no flooding in the overlay).
    case floodSuppressed
    /// The flow's action is drop (a policy rule denied it).
    case policyDeny
    /// A new flow could not be created: the flow table is at capacity.
    case flowTableFull
    /// The flow is being set up and its held-packet queue (per flow or global) is full.
    case holdQueueFull
    /// The slow path's queue of flows waiting for set-up is full.
    case setupQueueFull
    /// A held packet's flow was removed before it was set up.
    case flowRemoved
    /// TTL or hop limit would reach zero.
    case ttlExpired
    /// Too big for the tunnel MTU with DF set (or IPv6): an ICMP error went back to the sender.
    case packetTooBig
    /// A tunnel packet whose outer header is not one of ours (wrong port, GRE protocol or version).
    case unknownTunnel
    /// A tunnel packet whose MPLS label or VNI maps to nothing.
    case unknownLabel
    /// A decapsulated packet routed back into the fabric (the router does not hairpin tunnels).
    case fabricHairpin
    /// Not enough headroom to push the tunnel headers.
    case noHeadroom
    /// A next hop that no longer exists, or an ECMP group with no members.
    case invalidNextHop
    /// An ARP request or neighbour solicitation the router has no answer for.
    case neighborUnanswered

    public var name: String {
        switch self {
        case .malformedPacket: return "malformedPacket"
        case .unsupportedProtocol: return "unsupportedProtocol"
        case .unknownInterface: return "unknownInterface"
        case .unknownVRF: return "unknownVRF"
        case .noRoute: return "noRoute"
        case .discardNextHop: return "discardNextHop"
        case .noBridgeEntry: return "noBridgeEntry"
        case .floodSuppressed: return "floodSuppressed"
        case .policyDeny: return "policyDeny"
        case .flowTableFull: return "flowTableFull"
        case .holdQueueFull: return "holdQueueFull"
        case .setupQueueFull: return "setupQueueFull"
        case .flowRemoved: return "flowRemoved"
        case .ttlExpired: return "ttlExpired"
        case .packetTooBig: return "packetTooBig"
        case .unknownTunnel: return "unknownTunnel"
        case .unknownLabel: return "unknownLabel"
        case .fabricHairpin: return "fabricHairpin"
        case .noHeadroom: return "noHeadroom"
        case .invalidNextHop: return "invalidNextHop"
        case .neighborUnanswered: return "neighborUnanswered"
        }
    }

    public var description: String { name }
}

/// Drop counters by reason, indexed by the reason's raw value (no hashing on the hot path).
public struct DropCounters: Sendable, Equatable {
    @usableFromInline var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    @inlinable public subscript(reason: DropReason) -> UInt64 { counts[reason.rawValue] }

    @inlinable mutating func count(_ reason: DropReason) { counts[reason.rawValue] &+= 1 }

    public var total: UInt64 { counts.reduce(0, &+) }

    /// Every reason with a non-zero count, in declaration order.
    public var nonZero: [(DropReason, UInt64)] {
        DropReason.allCases.compactMap { counts[$0.rawValue] == 0 ? nil : ($0, counts[$0.rawValue]) }
    }
}

/// Packet and byte counts in both directions, for an interface or a VRF.
public struct TrafficCounters: Sendable, Equatable {
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var drops: UInt64 = 0
    public init() {}
}

/// Packets and bytes sent through one next hop.
public struct NextHopCounters: Sendable, Equatable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public init() {}
}
