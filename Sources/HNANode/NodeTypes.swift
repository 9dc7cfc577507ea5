import HNACore
import HNARouter
import HNAWire

/// A tunnel packet inside the communications controller: the buffer starts at the tunnel header
/// (VXLAN or MPLS). The controller keeps it for resending until acked and never touches the bytes.
public struct FabricPacket: FabricPayload {
    public let buffer: PacketBuffer
    public let nextProtocol: HNANextProtocol
    /// Bytes the underlay adds around the UDP payload (Ethernet, IP and UDP headers), which the fabric
    /// carries and the controller must pace like the rest: without them a receiver granting 90 % of a
    /// port would be sent about 93 % of it.
    public let framingBytes: Int

    @inlinable public init(buffer: PacketBuffer, nextProtocol: HNANextProtocol, framingBytes: Int = 0) {
        self.buffer = buffer
        self.nextProtocol = nextProtocol
        self.framingBytes = framingBytes
    }

    /// Ethernet (14), IPv4 (20) or IPv6 (40), and UDP (8): the framing of an HNA datagram on the underlay.
    @inlinable public static func framingBytes(underlay: IPAddress) -> Int {
        if case .v6 = underlay { return 14 + 40 + 8 }
        return 14 + 20 + 8
    }

    @inlinable public var wireLength: Int { buffer.length + framingBytes }
}

/// A UDP datagram on the underlay, without its IP and UDP headers (the kernel's UDP socket adds and
/// strips those). Outbound, `address` is the destination; inbound, the source.
public struct FabricDatagram {
    public var address: IPAddress
    /// The UDP destination port: `WellKnownPort.hna`, `.vxlan` or `.mplsOverUDP`.
    public var port: UInt16
    /// The UDP payload: an HNA header, a VXLAN header or an MPLS label first.
    public var buffer: PacketBuffer

    @inlinable public init(address: IPAddress, port: UInt16, buffer: PacketBuffer) {
        self.address = address
        self.port = port
        self.buffer = buffer
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

    public init() {}

    public var isEmpty: Bool { toInterfaces.isEmpty && toFabric.isEmpty }
}

/// Why the node itself (not the router, not the controller) dropped a packet. Router drops are counted
/// in `Router.drops`; controller refusals appear here as the three ingress reasons.
public enum NodeDropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// A datagram from an underlay address that is no configured peer.
    case unknownPeer
    /// A datagram to a UDP port that carries none of our tunnels.
    case unknownPort
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
    /// An encapsulation this node cannot send (MPLS-over-GRE needs a raw socket the driver lacks).
    case unsupportedEncapsulation
    /// Controller ingress drops (docs/flow-control.md).
    case voqFull
    case voqMemoryFull
    case badDestination
    /// Not enough headroom or tailroom to add a header or copy a payload.
    case noRoom
    /// A packet the router handed to the agent (receive next hop); the node has no agent yet.
    case toAgent

    public var name: String {
        switch self {
        case .unknownPeer: return "unknown-peer"
        case .unknownPort: return "unknown-port"
        case .malformedHNAHeader: return "malformed-hna-header"
        case .priorityMismatch: return "priority-mismatch"
        case .hnaFromPlainPeer: return "hna-from-plain-peer"
        case .badHNAPayload: return "bad-hna-payload"
        case .tunnelToUnknownPeer: return "tunnel-to-unknown-peer"
        case .unsupportedEncapsulation: return "unsupported-encapsulation"
        case .voqFull: return "voq-full"
        case .voqMemoryFull: return "voq-memory-full"
        case .badDestination: return "bad-destination"
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
