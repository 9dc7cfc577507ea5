import HNAWire

/// What a packet is for the metrics: data carries application bytes; everything else is feedback.
public enum PacketKind: UInt8, Sendable, BitwiseCopyable {
    case data
    /// Acks and NACKs sent on their own (not piggybacked on data).
    case control
    /// Flow-control heartbeats (FIG. 6).
    case heartbeat
    /// Congestion notifications of the ECN baseline.
    case congestionNotification
}

/// A packet in the simulator: a descriptor, never bytes, and plain data (no references), so moving it
/// costs a few register moves. The fabric reads only the routing fields; the hosts read the HNA header
/// value their controller produced and the application fields.
///
/// 64 bytes. In flight the event queue carries its `Frame` (the header waits in a `HeaderStore`).
/// Sizes are stored in 16 bits (a frame is at most a few kilobytes); where the packet is travels in
/// its event (the link it is on).
public struct Packet: Sendable, BitwiseCopyable {
    public var src: Int32
    public var dst: Int32
    /// Application flow (index into the flow table), -1 for packets without application data.
    public var flow: Int32
    /// Input to the ECMP hash: the outer UDP source port a real HNA would derive from the inner flow.
    public var hash: UInt32
    @usableFromInline var wire: UInt16
    @usableFromInline var payload: UInt16
    public var kind: PacketKind
    @usableFromInline var bits: UInt8 = 0
    @usableFromInline var carried: SimHeader

    @usableFromInline static let ectBit: UInt8 = 1
    @usableFromInline static let ceBit: UInt8 = 2
    @usableFromInline static let headerBit: UInt8 = 4

    @inlinable
    public init(src: Int32, dst: Int32, wireBytes: Int32, flow: Int32, payloadBytes: Int32, kind: PacketKind,
                hash: UInt32, header: SimHeader? = nil) {
        precondition(wireBytes >= 0 && wireBytes <= Int32(UInt16.max) && payloadBytes >= 0 && payloadBytes <= wireBytes,
                     "a simulated frame is at most 65535 bytes")
        self.src = src
        self.dst = dst
        self.flow = flow
        self.hash = hash
        wire = UInt16(truncatingIfNeeded: wireBytes)
        payload = UInt16(truncatingIfNeeded: payloadBytes)
        self.kind = kind
        if let header {
            carried = header
            bits = Self.headerBit
        } else {
            carried = SimHeader()
        }
    }

    @inlinable
    init(src: Int32, dst: Int32, flow: Int32, hash: UInt32, wire: UInt16, payload: UInt16, kind: PacketKind,
         bits: UInt8, carried: SimHeader) {
        self.src = src
        self.dst = dst
        self.flow = flow
        self.hash = hash
        self.wire = wire
        self.payload = payload
        self.kind = kind
        self.bits = bits
        self.carried = carried
    }

    /// Bytes on the wire, every header included.
    @inlinable public var wireBytes: Int32 { Int32(wire) }
    /// Application bytes carried.
    @inlinable public var payloadBytes: Int32 { Int32(payload) }

    /// ECN-capable transport (switches mark only these).
    @inlinable public var ect: Bool {
        get { bits & Self.ectBit != 0 }
        set { bits = newValue ? bits | Self.ectBit : bits & ~Self.ectBit }
    }

    /// Congestion experienced: set by a switch whose queue was over the marking threshold.
    @inlinable public var ce: Bool {
        get { bits & Self.ceBit != 0 }
        set { bits = newValue ? bits | Self.ceBit : bits & ~Self.ceBit }
    }

    /// The HNA header this packet carries, as the controller produced it (nil for packets without one).
    @inlinable public var header: SimHeader? {
        get { bits & Self.headerBit != 0 ? carried : nil }
        set {
            if let h = newValue {
                carried = h
                bits |= Self.headerBit
            } else {
                bits &= ~Self.headerBit
            }
        }
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
