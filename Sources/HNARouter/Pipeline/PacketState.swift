import HNAWire

/// What the stages learn about one packet of a batch. Kept in an array parallel to the batch, as VPP
/// keeps per-buffer opaque data: each stage reads what the previous one wrote.
@usableFromInline
struct PacketState: Sendable {
    @usableFromInline enum Next: UInt8, Sendable {
        /// Finished (emitted, held or dropped).
        case done
        /// ARP or neighbour solicitation for the proxy service.
        case arp, neighborSolicitation
        case flow
        case forward
    }

    @usableFromInline var next: Next = .done
    @usableFromInline var vrf: VRFID = 0
    /// `vrf` has been set (drops before that are not charged to any VRF).
    @usableFromInline var vrfKnown = false
    /// Offset of the (inner) IP header in the buffer's data.
    @usableFromInline var l3: Int = 0
    @usableFromInline var isIPv6 = false
    /// Addressed to the gateway (L3 routing) rather than bridged by MAC.
    @usableFromInline var routed = false
    @usableFromInline var fromFabric = false
    @usableFromInline var destinationMAC = MACAddress.zero
    @usableFromInline var key = FlowKey(vrf: 0, source: IPv4Address.any, destination: IPv4Address.any,
                                        protocol: .icmp, sourcePort: 0, destinationPort: 0)
    @usableFromInline var hash: UInt64 = 0
    @usableFromInline var flow: FlowID = PacketMetadata.noFlow
    /// A label/VNI that named an interface: deliver there without a FIB lookup.
    @usableFromInline var targetInterface: InterfaceID = PacketMetadata.fabric

    @usableFromInline init() {}
}
