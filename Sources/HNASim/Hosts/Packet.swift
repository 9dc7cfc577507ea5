import HNAWire

/// What a packet is for the metrics: data carries application bytes; everything else is feedback.
public enum PacketKind: UInt8, Sendable {
    case data
    /// Acks and NACKs sent on their own (not piggybacked on data).
    case control
    /// Flow-control heartbeats (FIG. 6).
    case heartbeat
    /// Congestion notifications of the ECN baseline.
    case congestionNotification
}

/// A packet in the simulator: a descriptor, never bytes, and plain data (no references), so moving it
/// costs a few register moves. The fabric reads only the routing fields; the
/// hosts read the HNA header value their controller produced and the application fields.
public struct Packet: Sendable {
    public var src: Int32
    public var dst: Int32
    /// Node the packet travels to next (set by the simulator).
    public var node: Int32 = 0
    /// Link it is on (set by the simulator, for link counters).
    public var link: Int32 = 0
    /// Bytes on the wire, every header included.
    public var wireBytes: Int32
    /// Application flow (index into the flow table), -1 for packets without application data.
    public var flow: Int32
    /// Application bytes carried.
    public var payloadBytes: Int32
    public var kind: PacketKind
    /// ECN-capable transport (switches mark only these).
    public var ect: Bool = false
    /// Congestion experienced: set by a switch whose queue was over the marking threshold.
    public var ce: Bool = false
    /// Input to the ECMP hash: the outer UDP source port a real HNA would derive from the inner flow.
    public var hash: UInt32
    /// The HNA header this packet carries, as the controller produced it (nil for packets without one).
    public var header: SimHeader?

    @inlinable
    public init(src: Int32, dst: Int32, wireBytes: Int32, flow: Int32, payloadBytes: Int32, kind: PacketKind,
                hash: UInt32, header: SimHeader? = nil) {
        self.src = src
        self.dst = dst
        self.wireBytes = wireBytes
        self.flow = flow
        self.payloadBytes = payloadBytes
        self.kind = kind
        self.hash = hash
        self.header = header
    }
}

/// Fixed sizes of what wraps a fabric packet, one home for the simulator. A packet's size on the wire
/// is its frame from the outer Ethernet header on; preamble, FCS and inter-frame gap are not modelled,
/// so a link's bytes and the host controller's pacing count exactly the same thing.
public enum Framing {
    /// Ethernet (14) + IPv4 (20) + UDP (8) around every fabric packet.
    public static let outerHeaderBytes = 42
    /// What a tenant packet adds inside the tunnel (VXLAN 8 + inner Ethernet 14).
    public static let innerEncapsulationBytes = 22
    /// Application bytes per packet: with the outer headers, the HNA header and the inner
    /// encapsulation it stays within a 1514-byte frame.
    public static let segmentBytes = 1400
}
