import HNAWire

/// The tunnel formats a tunnel next hop can use.
public enum Encapsulation: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// RFC 4023: an MPLS label stack over GRE (protocol 0x8847); the payload is the inner IP packet.
    case mplsOverGRE
    /// RFC 7510: an MPLS label stack over UDP port 6635; the payload is the inner IP packet.
    case mplsOverUDP
    /// RFC 7348: VXLAN over UDP port 4789; the payload is the inner Ethernet frame.
    case vxlan

    public var description: String {
        switch self {
        case .mplsOverGRE: return "mpls-over-gre"
        case .mplsOverUDP: return "mpls-over-udp"
        case .vxlan: return "vxlan"
        }
    }

    /// True when the tunnel carries an Ethernet frame rather than an IP packet.
    @inlinable public var carriesEthernet: Bool { self == .vxlan }
}

/// A remote HNA reached through the fabric.
public struct Tunnel: Hashable, Sendable {
    /// The remote HNA's underlay address.
    public var peer: IPAddress
    public var encapsulation: Encapsulation
    /// The MPLS label (20 bits) or VNI (24 bits) the remote HNA maps to the destination.
    public var label: UInt32
    /// The largest outer IP packet the underlay carries towards this peer.
    public var mtu: Int
    /// The destination MAC of the inner frame for VXLAN (the remote VM's, or the remote router's).
    public var innerDestinationMAC: MACAddress
    /// The scheduling priority the communications controller queues this tunnel's packets at.
    public var priority: UInt8

    public init(peer: IPAddress, encapsulation: Encapsulation, label: UInt32, mtu: Int = 1500,
                innerDestinationMAC: MACAddress = .zero, priority: UInt8 = 0) {
        self.peer = peer
        self.encapsulation = encapsulation
        self.label = label
        self.mtu = mtu
        self.innerDestinationMAC = innerDestinationMAC
        self.priority = priority
    }
}

/// Where a route sends a packet.
public enum NextHop: Hashable, Sendable {
    /// Drop (counted as `discardNextHop`).
    case discard
    /// Hand to the agent (addresses the router itself owns).
    case receive
    /// Deliver to a local VM port.
    case interface(InterfaceID)
    /// Encapsulate towards a remote HNA.
    case tunnel(Tunnel)
    /// Spread flows over several next hops by flow hash; a flow keeps its member (recorded in its
    /// flow entry) for its lifetime.
    case ecmp([NextHopID])
}

/// The datapath form of a next hop: fixed-size, no references, so reading one costs no retain.
@usableFromInline
struct CompiledNextHop: Sendable {
    @usableFromInline enum Kind: UInt8, Sendable { case invalid, discard, receive, interface, tunnel, ecmp }
    @usableFromInline var kind: Kind = .invalid
    /// Interface id, tunnel index, or first ECMP member index.
    @usableFromInline var index: UInt32 = 0
    /// ECMP member count.
    @usableFromInline var count: UInt32 = 0
}

/// Every next hop of a router, indexed by `NextHopID` (0 is reserved), with their counters.
public struct NextHopTable: Sendable {
    @usableFromInline var compiled: [CompiledNextHop] = [CompiledNextHop()]
    @usableFromInline var tunnels: [Tunnel] = []
    @usableFromInline var ecmpMembers: [NextHopID] = []
    public private(set) var definitions: [NextHop?] = [nil]
    public internal(set) var counters: [NextHopCounters] = [NextHopCounters()]

    public init() {}

    public var count: Int { compiled.count - 1 }

    public subscript(id: NextHopID) -> NextHop? {
        Int(id) < definitions.count ? definitions[Int(id)] : nil
    }

    /// Adds a next hop and returns its id.
    public mutating func add(_ nh: NextHop) -> NextHopID {
        let id = NextHopID(compiled.count)
        precondition(id <= MultibitTrie<IPv4Address>.maxNextHop, "next-hop index space exhausted")
        compiled.append(CompiledNextHop())
        definitions.append(nil)
        counters.append(NextHopCounters())
        set(id, nh)
        return id
    }

    /// Redefines a next hop in place: routes pointing at it follow without being touched.
    public mutating func set(_ id: NextHopID, _ nh: NextHop) {
        precondition(id != 0 && Int(id) < compiled.count, "unknown next hop \(id)")
        var c = CompiledNextHop()
        switch nh {
        case .discard: c.kind = .discard
        case .receive: c.kind = .receive
        case let .interface(i): c.kind = .interface; c.index = i
        case let .tunnel(t):
            c.kind = .tunnel
            if case let old = compiled[Int(id)], old.kind == .tunnel {
                tunnels[Int(old.index)] = t
                c.index = old.index
            } else {
                c.index = UInt32(tunnels.count)
                tunnels.append(t)
            }
        case let .ecmp(members):
            c.kind = .ecmp
            let old = compiled[Int(id)]
            if old.kind == .ecmp, Int(old.count) == members.count {
                for (k, m) in members.enumerated() { ecmpMembers[Int(old.index) + k] = m }
                c.index = old.index
            } else {
                c.index = UInt32(ecmpMembers.count)
                ecmpMembers.append(contentsOf: members)
            }
            c.count = UInt32(members.count)
        }
        compiled[Int(id)] = c
        definitions[Int(id)] = nh
    }

    /// The tunnel of a tunnel next hop.
    public func tunnel(_ id: NextHopID) -> Tunnel? {
        guard Int(id) < compiled.count, compiled[Int(id)].kind == .tunnel else { return nil }
        return tunnels[Int(compiled[Int(id)].index)]
    }
}
