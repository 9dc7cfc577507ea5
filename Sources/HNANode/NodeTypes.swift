import HNACore
import HNARouter
import HNAWire

/// A tunnel packet inside the communications controller: the buffer starts at the tunnel header
/// (VXLAN or MPLS). The controller keeps it for resending until acked and never touches the bytes.
///
/// A **train** is a TCP super-frame behind its tunnel header (`buffer.meta.gsoSize` > 0): the router
/// and the controller handle it once, and the node cuts it into one datagram per segment — each with
/// its own HNA header and sequence number — only as it sends (`HNANode.send`). A resend of some of its
/// datagrams is a slice (`firstSegment`, `segmentCount`) of the same buffer.
public struct FabricPacket: FabricPayload {
    public let buffer: PacketBuffer
    public let nextProtocol: HNANextProtocol
    /// How it travels: UDP port 6650 or GRE protocol 0x88B5 (MPLS-over-GRE networks).
    public let transport: FabricTransport
    /// The outer UDP source port the router chose from the inner flow's hash (0 for GRE).
    public let sourcePort: UInt16
    /// Bytes the underlay adds around the payload (Ethernet, IP, and UDP or GRE headers), which the
    /// fabric carries and the controller must pace like the rest: without them a receiver granting 90 %
    /// of a port would be sent about 93 % of it.
    public let framingBytes: Int
    /// A train: the bytes every segment repeats (tunnel header to the end of the TCP header); 0 for a
    /// packet.
    public let trainHeaderBytes: UInt16
    /// A train: the TCP payload bytes of each segment (the last may be shorter).
    public let segmentSize: UInt16
    /// The slice of the train this payload stands for.
    public let firstSegment: UInt8
    @usableFromInline let segments: UInt8

    @inlinable public init(buffer: PacketBuffer, nextProtocol: HNANextProtocol, transport: FabricTransport = .udp,
                           sourcePort: UInt16 = 0, framingBytes: Int = 0) {
        self.buffer = buffer
        self.nextProtocol = nextProtocol
        self.transport = transport
        self.sourcePort = sourcePort
        self.framingBytes = framingBytes
        trainHeaderBytes = 0
        segmentSize = 0
        firstSegment = 0
        segments = 1
    }

    /// A train of `segmentCount` segments of `segmentSize` payload bytes behind `headerBytes` of headers.
    @inlinable public init(train buffer: PacketBuffer, nextProtocol: HNANextProtocol, transport: FabricTransport = .udp,
                           sourcePort: UInt16 = 0, framingBytes: Int = 0, headerBytes: Int, segmentSize: Int,
                           segmentCount: Int) {
        self.buffer = buffer
        self.nextProtocol = nextProtocol
        self.transport = transport
        self.sourcePort = sourcePort
        self.framingBytes = framingBytes
        trainHeaderBytes = UInt16(headerBytes)
        self.segmentSize = UInt16(segmentSize)
        firstSegment = 0
        segments = UInt8(segmentCount)
    }

    @inlinable init(slice of: FabricPacket, _ range: Range<Int>) {
        buffer = of.buffer
        nextProtocol = of.nextProtocol
        transport = of.transport
        sourcePort = of.sourcePort
        framingBytes = of.framingBytes
        trainHeaderBytes = of.trainHeaderBytes
        segmentSize = of.segmentSize
        firstSegment = of.firstSegment + UInt8(range.lowerBound)
        segments = UInt8(range.count)
    }

    /// Ethernet, IPv4 or IPv6, and UDP or GRE: the framing of an HNA packet on the underlay.
    @inlinable public static func framingBytes(underlay: IPAddress, transport: FabricTransport = .udp) -> Int {
        let ip: Int
        if case .v6 = underlay { ip = IPv6Packet.headerLength } else { ip = IPv4Packet.minimumHeaderLength }
        let tunnel = transport == .gre ? GREPacket.minimumHeaderLength : UDPDatagram.headerLength
        return EthernetFrame.minimumHeaderLength + ip + tunnel
    }

    @inlinable public var isTrain: Bool { segmentSize != 0 }

    @inlinable public var segmentCount: Int { Int(segments) }

    @inlinable public func segments(_ range: Range<Int>) -> FabricPacket { FabricPacket(slice: self, range) }

    /// TCP payload bytes of segments `range` of the whole train.
    @inlinable func payloadBytes(_ range: Range<Int>) -> Int {
        let total = buffer.length - Int(trainHeaderBytes)
        let size = Int(segmentSize)
        return Swift.min(range.upperBound * size, total) - Swift.min(range.lowerBound * size, total)
    }

    @inlinable public var wireLength: Int {
        guard isTrain else { return buffer.length + framingBytes }
        let first = Int(firstSegment), count = Int(segments)
        return count * (Int(trainHeaderBytes) + framingBytes) + payloadBytes(first ..< first + count)
    }
}

/// How a fabric datagram crosses the underlay. The kernel writes and strips the outer IP header either
/// way (a UDP socket, or a raw IPPROTO_GRE socket), so the node sees what follows it.
public enum FabricTransport: UInt8, Sendable, Equatable {
    /// `buffer` is the UDP payload; `port` the UDP destination port.
    case udp
    /// `buffer` starts at the GRE header (protocol 0x8847 plain, 0x88B5 with an HNA header); `port` is 0.
    case gre
}

/// A datagram on the underlay, without its outer IP header and, for UDP, without its UDP header (the
/// kernel's sockets add and strip those). Outbound, `address` is the destination; inbound, the source.
public struct FabricDatagram {
    public var address: IPAddress
    /// The UDP destination port: `WellKnownPort.hna`, `.vxlan` or `.mplsOverUDP` (0 for GRE).
    public var port: UInt16
    /// UDP: the payload, an HNA header, a VXLAN header or an MPLS label first. GRE: the GRE header first.
    public var buffer: PacketBuffer
    public var transport: FabricTransport
    /// Outbound UDP: the flow-entropy source port the router derived from the inner flow's hash, which
    /// the driver uses to pick its sending socket (0: no inner flow — heartbeats, standalone acks).
    /// Inbound: the UDP source port as received (any value is accepted), 0 for GRE.
    public var sourcePort: UInt16
    /// Outbound: bytes of the datagram that sit in `buffer`'s headroom, just before its data (the HNA
    /// header the node wrote in front of a tunnel packet the controller keeps for resending, instead
    /// of copying the packet behind a new header). 0 for everything else.
    public var headerLength: Int
    /// Outbound: the controller still holds `buffer` (for resending), so the driver must not recycle it
    /// (`HNANode.recycle` knows).
    public var isLent: Bool
    /// Several datagrams back to back, all of this many bytes but the last (which may be shorter), as
    /// UDP GSO sends them and UDP GRO receives them. 0: `buffer` is one datagram.
    public var segmentSize: Int = 0
    /// Outbound: a train cut by reference. Datagram k is `buffer`'s bytes
    /// `k·gather.headerLength ..< (k+1)·gather.headerLength` (its headers, HNA header first) followed by
    /// segment k's payload where it lies in the train (`gather.payload(k)`), for a driver that sends
    /// from a gather list; `segmentSize` is the size of every datagram but the last.
    public var gather: GatherPlan?

    @inlinable public init(address: IPAddress, port: UInt16, buffer: PacketBuffer, transport: FabricTransport = .udp,
                           sourcePort: UInt16 = 0, headerLength: Int = 0, isLent: Bool = false) {
        self.address = address
        self.port = port
        self.buffer = buffer
        self.transport = transport
        self.sourcePort = sourcePort
        self.headerLength = headerLength
        self.isLent = isLent
    }

    /// The whole datagram: the header in the headroom (if any), then the buffer's data. Valid until the
    /// output is recycled.
    @inlinable public var bytes: UnsafeRawBufferPointer {
        let data = buffer.readableBytes
        guard headerLength > 0, let base = data.baseAddress else { return data }
        return UnsafeRawBufferPointer(start: base - headerLength, count: data.count + headerLength)
    }
}

/// The datagrams of a train the node cut without copying its payload (`FabricDatagram.gather`). The
/// train's buffer stays alive while the plan does (the controller keeps it for resending anyway).
public struct GatherPlan {
    /// The train: TCP payload of segment k at `payloadStart + k·payloadSize`, the last one shorter.
    public let train: PacketBuffer
    public let payloadStart: Int
    public let payloadSize: Int
    public let payloadEnd: Int
    /// Bytes of headers in front of each payload (every datagram's the same).
    public let headerLength: Int
    public let count: Int

    /// Segment k's payload bytes.
    @inlinable public func payload(_ k: Int) -> UnsafeRawBufferPointer {
        let start = payloadStart + k * payloadSize
        return train.readableBytes.slice(start, Swift.min(payloadSize, payloadEnd - start))
    }
}

/// What one call into the node produced. Owned by the driver and passed back in every time, so its
/// arrays keep their capacity; hand the buffers back with `HNANode.recycle(_:)` once written.
public struct NodeOutput {
    /// Ethernet frames for local VM ports.
    public var toInterfaces: [InterfacePacket] = []
    /// Datagrams for the underlay.
    public var toFabric: [FabricDatagram] = []
    /// Stage decisions for traced packets (router stages and the node's own).
    public var traces: [NodeTrace] = []
    /// When the node must next be polled (nil: nothing pending), as of the call that filled this output.
    /// Handed out with the packets so a driver never reads it back through the node.
    public var nextDeadline: UInt64?
    /// Bytes the controller's queues can still take, as of the same call (a driver stops reading VM
    /// ports while it is low).
    public var freeQueueBytes = Int.max
    /// VM ports whose packets went into a crowded VOQ (or were refused by a full one) in this call, with
    /// that VOQ: the driver stops reading such a port until the VOQ has room again
    /// (`HNANode.isCrowded`). Consecutive packets of one port into one VOQ are listed once.
    public var crowding: [CrowdedQueue] = []

    public init() {}

    public var isEmpty: Bool { toInterfaces.isEmpty && toFabric.isEmpty }
}

/// What the controller asked the node to do, as the node keeps it between taking the actions and
/// carrying them out (a concrete type: see `HNANode.finish`).
public enum NodeAction {
    case send(peer: Int, header: FlowHeader, nacks: [HNANack], payload: FabricPacket?)
    case deliver(peer: Int, payload: FabricPacket)
}

/// A VOQ that a VM port fills: `port` is the VM port, `peer` and `priority` the VOQ's (controller peer id).
public struct CrowdedQueue: Hashable, Sendable {
    public var port: InterfaceID
    public var peer: Int
    public var priority: Int

    public init(port: InterfaceID, peer: Int, priority: Int) {
        self.port = port
        self.peer = peer
        self.priority = priority
    }
}

/// Why the node itself (not the router, not the controller) dropped a packet. Router drops are counted
/// in `Router.drops`; controller refusals appear here as the three ingress reasons.
public enum NodeDropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// A datagram from an underlay address that is no configured peer.
    case unknownPeer
    /// A datagram to a UDP port, or a GRE packet with a protocol, that carries none of our tunnels.
    case unknownPort
    /// A GRE header that does not parse (truncated, version other than 0, RFC 1701 routing bits).
    case malformedGRE
    /// An HNA header that does not parse (truncated, wrong version, bad lengths).
    case malformedHNAHeader
    /// An HNA header with a priority count other than ours.
    case priorityMismatch
    /// An HNA header from a peer configured as plain.
    case hnaFromPlainPeer
    /// A data header with no tunnel payload after it, or a payload that is not VXLAN/MPLS.
    case badHNAPayload
    /// The router chose a tunnel to an address that is no configured peer.
    case tunnelToUnknownPeer
    /// Controller ingress drops (docs/flow-control.md).
    case voqFull
    case voqMemoryFull
    case badDestination
    /// A train of no segments or of more than the controller takes (a driver bug, counted not trapped).
    case badPayload
    /// Not enough headroom or tailroom to add a header or copy a payload.
    case noRoom
    /// A packet the router handed to the agent (receive next hop); the node has no agent yet.
    case toAgent

    public var name: String {
        switch self {
        case .unknownPeer: return "unknown-peer"
        case .unknownPort: return "unknown-port"
        case .malformedGRE: return "malformed-gre"
        case .malformedHNAHeader: return "malformed-hna-header"
        case .priorityMismatch: return "priority-mismatch"
        case .hnaFromPlainPeer: return "hna-from-plain-peer"
        case .badHNAPayload: return "bad-hna-payload"
        case .tunnelToUnknownPeer: return "tunnel-to-unknown-peer"
        case .voqFull: return "voq-full"
        case .voqMemoryFull: return "voq-memory-full"
        case .badDestination: return "bad-destination"
        case .badPayload: return "bad-payload"
        case .noRoom: return "no-room"
        case .toAgent: return "to-agent"
        }
    }

    public var description: String { name }

    init(_ ingress: IngressDropReason) {
        switch ingress {
        case .voqFull: self = .voqFull
        case .memoryFull: self = .voqMemoryFull
        case .badDestination: self = .badDestination
        case .badPayload: self = .badPayload
        }
    }
}

/// Per peer traffic the node sent and received (datagrams and bytes of UDP payload).
public struct PeerCounters: Sendable, Equatable {
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public init() {}
}

/// A configured peer as the node tracks it.
public struct PeerState: Sendable {
    public var configuration: PeerConfiguration
    /// Dense id in the communications controller (HNA peers only).
    public var controllerID: Int?
    public var counters = PeerCounters()
}

/// One stage's decision about one traced packet: the router's stages plus the node's own
/// (`hna-tx`, `hna-rx`, `drop`).
public struct NodeTrace: Sendable, Equatable, CustomStringConvertible {
    public var traceID: UInt64
    public var stage: String
    public var detail: String

    public init(traceID: UInt64, stage: String, detail: String) {
        self.traceID = traceID
        self.stage = stage
        self.detail = detail
    }

    public init(_ record: TraceRecord) {
        self.init(traceID: record.traceID, stage: record.stage.rawValue, detail: record.detail)
    }

    public var description: String { "[\(traceID)] \(stage): \(detail)" }
}
