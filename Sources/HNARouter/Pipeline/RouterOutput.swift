import HNAWire

/// What the outer header of a tunnel packet must say. The router pushes the tunnel header itself
/// (VXLAN or MPLS) and leaves the outer IP/UDP/GRE headers to the sender, because the communications
/// controller queues packets per destination HNA and slips its HNA header in just before transmission
/// (`OuterHeader.write` writes them all).
public struct TunnelDescriptor: Sendable, Equatable {
    /// The remote HNA's underlay address.
    public var peer: IPAddress
    public var encapsulation: Encapsulation
    /// The priority to queue at.
    public var priority: UInt8
    /// The outer UDP source port: the inner flow's entropy (ignored for GRE).
    public var sourcePort: UInt16
    /// The tunnel next hop the packet left through.
    public var nextHop: NextHopID
    /// The inner packet's flow hash (for the controller's own spreading decisions).
    public var flowHash: UInt32

    public init(peer: IPAddress, encapsulation: Encapsulation, priority: UInt8 = 0, sourcePort: UInt16,
                nextHop: NextHopID = 0, flowHash: UInt32 = 0) {
        self.peer = peer
        self.encapsulation = encapsulation
        self.priority = priority
        self.sourcePort = sourcePort
        self.nextHop = nextHop
        self.flowHash = flowHash
    }
}

/// A packet for a remote HNA: the buffer starts at the tunnel header (VXLAN or MPLS).
public struct TunnelPacket {
    public var buffer: PacketBuffer
    public var tunnel: TunnelDescriptor
}

/// A packet for a local VM port: the buffer holds a complete Ethernet frame.
public struct InterfacePacket {
    public var interface: InterfaceID
    public var buffer: PacketBuffer
}

/// A dropped packet and the reason, so the driver can recycle the buffer (and tools can show why).
public struct DroppedPacket {
    public var buffer: PacketBuffer
    public var reason: DropReason
}

/// A pipeline stage, for traces.
public enum TraceStage: String, Sendable {
    case parse, decap, classify, service, flow, slowPath, lookup, nextHop, rewrite, encap, drop
}

/// One stage's decision about one traced packet.
public struct TraceRecord: Sendable, Equatable, CustomStringConvertible {
    public var traceID: UInt64
    public var stage: TraceStage
    public var detail: String

    public var description: String { "[\(traceID)] \(stage.rawValue): \(detail)" }
}

/// Everything one call into the router produced. The driver owns this value and passes it back in each
/// time after handling (and clearing) it, so its arrays keep their capacity: no allocation per batch.
///
/// Ownership: every buffer handed to the router comes back in exactly one of these lists, or is held
/// (a flow being set up) and comes back from a later call, or was consumed by the router (an oversized
/// packet it fragmented), in which case it went back to `Router.pool`.
public struct RouterOutput {
    public var toInterfaces: [InterfacePacket] = []
    public var toFabric: [TunnelPacket] = []
    /// Packets for the agent (receive next hops).
    public var toAgent: [PacketBuffer] = []
    public var dropped: [DroppedPacket] = []
    /// Only for packets whose `meta.trace` is set.
    public var traces: [TraceRecord] = []

    public init() {}

    public var isEmpty: Bool {
        toInterfaces.isEmpty && toFabric.isEmpty && toAgent.isEmpty && dropped.isEmpty
    }

    /// Empties every list, keeping capacity.
    public mutating func removeAll() {
        toInterfaces.removeAll(keepingCapacity: true)
        toFabric.removeAll(keepingCapacity: true)
        toAgent.removeAll(keepingCapacity: true)
        dropped.removeAll(keepingCapacity: true)
        traces.removeAll(keepingCapacity: true)
    }

    /// Gives every buffer in the lists back to `pool` and empties them (benchmarks, simple drivers).
    public mutating func recycle(into pool: PacketPool) {
        for p in toInterfaces { pool.recycle(p.buffer) }
        for p in toFabric { pool.recycle(p.buffer) }
        for b in toAgent { pool.recycle(b) }
        for d in dropped { pool.recycle(d.buffer) }
        removeAll()
    }
}
