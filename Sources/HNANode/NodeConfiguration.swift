import HNACore
import HNARouter
import HNAWire

/// Everything one HNA needs to know, as plain values: what the daemon builds from its YAML file and
/// what a simulator or a test builds directly. `HNANode.apply` turns it into router tables and peers;
/// applying a new one later changes only what differs (SIGHUP reload).
public struct NodeConfiguration: Sendable, Equatable {
    public var name: String
    /// This HNA's underlay address: the source of its tunnels.
    public var underlay: IPAddress
    public var peers: [PeerConfiguration]
    public var networks: [NetworkConfiguration]
    public var ports: [PortConfiguration]
    public var endpoints: [EndpointConfiguration]
    /// Controller settings (priorities, units, timers); shared by every HNA peer.
    public var flowControl: FlowControlConfig
    /// B_i and B_j of this HNA, bytes per second.
    public var txBandwidth: Double
    public var rxBandwidth: Double
    /// False runs the controller with bandwidths so large that pacing and grants never bind (the
    /// baseline): sequencing, acks and resends stay on.
    public var rateLimits: Bool
    /// The underlay's IP MTU: the largest outer IP packet a tunnel may send. Inner packets that would not
    /// fit with the outer headers get ICMP "too big" (or are fragmented) at the router.
    public var underlayMTU: Int

    /// Bandwidth used when `rateLimits` is false: 1 Tbit/s, still encodable in the default rate unit.
    public static let unlimitedBandwidth = 125e9
    /// Ethernet's standard MTU: the default underlay.
    public static let defaultUnderlayMTU = 1500
    /// Underlay MTUs accepted: IPv4's minimum to a 9,000-byte jumbo frame (what a pool buffer holds with
    /// headroom to spare).
    public static let underlayMTURange = 576 ... 9000

    public init(name: String, underlay: IPAddress, peers: [PeerConfiguration] = [],
                networks: [NetworkConfiguration] = [], ports: [PortConfiguration] = [],
                endpoints: [EndpointConfiguration] = [], flowControl: FlowControlConfig = FlowControlConfig(),
                txBandwidth: Double = 1.25e9, rxBandwidth: Double = 1.25e9, rateLimits: Bool = true,
                underlayMTU: Int = NodeConfiguration.defaultUnderlayMTU) {
        self.name = name
        self.underlay = underlay
        self.peers = peers
        self.networks = networks
        self.ports = ports
        self.endpoints = endpoints
        self.flowControl = flowControl
        self.txBandwidth = txBandwidth
        self.rxBandwidth = rxBandwidth
        self.rateLimits = rateLimits
        self.underlayMTU = underlayMTU
    }
}

/// Another HNA (or a plain tunnel endpoint) on the underlay.
public struct PeerConfiguration: Sendable, Equatable {
    public var name: String
    public var underlay: IPAddress
    /// True: HNA header, flow control, reliable delivery (UDP `WellKnownPort.hna`). False: standard
    /// VXLAN / MPLS-over-UDP, as a kernel tunnel device speaks it.
    public var hna: Bool
    /// The peer's receive bandwidth B_j (bytes/s), for the safe rate a source uses towards it before its
    /// first grant and after a grant goes stale. Nil: min(our rx, our tx) (docs/flow-control.md).
    public var rxBandwidth: Double?

    public init(name: String, underlay: IPAddress, hna: Bool = true, rxBandwidth: Double? = nil) {
        self.name = name
        self.underlay = underlay
        self.hna = hna
        self.rxBandwidth = rxBandwidth
    }
}

/// A virtual network: one VRF with its tunnel identifiers, gateway addresses and policy.
public struct NetworkConfiguration: Sendable, Equatable {
    public var name: String
    public var vrf: VRFID
    public var vni: UInt32
    public var label: UInt32
    public var encapsulation: Encapsulation
    public var subnets: [IPPrefix]
    public var gateways: [IPAddress]
    public var policy: Policy

    public init(name: String, vrf: VRFID, vni: UInt32, label: UInt32, encapsulation: Encapsulation = .vxlan,
                subnets: [IPPrefix] = [], gateways: [IPAddress] = [], policy: Policy = .allowAll) {
        self.name = name
        self.vrf = vrf
        self.vni = vni
        self.label = label
        self.encapsulation = encapsulation
        self.subnets = subnets
        self.gateways = gateways
        self.policy = policy
    }
}

/// A local VM port. `id` is the router's interface id, chosen by the driver and stable across reloads.
public struct PortConfiguration: Sendable, Equatable {
    public var name: String
    public var id: InterfaceID
    public var network: String
    public var mac: MACAddress
    public var addresses: [IPAddress]

    public init(name: String, id: InterfaceID, network: String, mac: MACAddress, addresses: [IPAddress]) {
        self.name = name
        self.id = id
        self.network = network
        self.mac = mac
        self.addresses = addresses
    }
}

/// A VM behind another HNA.
public struct EndpointConfiguration: Sendable, Equatable {
    public var network: String
    public var addresses: [IPAddress]
    public var mac: MACAddress
    public var peer: String

    public init(network: String, addresses: [IPAddress], mac: MACAddress, peer: String) {
        self.network = network
        self.addresses = addresses
        self.mac = mac
        self.peer = peer
    }
}

/// A configuration `HNANode.apply` refuses; the node keeps what it had.
public struct NodeConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension NodeConfiguration {
    /// The references and ranges the node relies on; the daemon reports file positions for the rest.
    public func validate() -> NodeConfigurationError? {
        var networkNames = Set<String>()
        var vrfs = Set<VRFID>()
        for n in networks {
            if !networkNames.insert(n.name).inserted { return .init("network \(n.name) defined twice") }
            if n.vrf == 0 || !vrfs.insert(n.vrf).inserted { return .init("network \(n.name): vrf \(n.vrf) is 0 or reused") }
            if n.vni > VXLANHeader.maxVNI { return .init("network \(n.name): vni \(n.vni) exceeds 24 bits") }
            if n.label < 16 || n.label > MPLSLabel.max { return .init("network \(n.name): label \(n.label) must be 16 to 2^20-1") }
        }
        var peerNames = Set<String>()
        var peerAddresses = Set<IPAddress>()
        for p in peers {
            if !peerNames.insert(p.name).inserted { return .init("peer \(p.name) defined twice") }
            if !peerAddresses.insert(p.underlay).inserted { return .init("peer \(p.name): underlay \(p.underlay) reused") }
            if p.underlay == underlay { return .init("peer \(p.name): underlay is this HNA's own address") }
            if !Self.sameFamily(p.underlay, underlay) { return .init("peer \(p.name): underlay family differs from ours") }
        }
        var portNames = Set<String>()
        var portIDs = Set<InterfaceID>()
        for p in ports {
            if !portNames.insert(p.name).inserted { return .init("port \(p.name) defined twice") }
            if !portIDs.insert(p.id).inserted || p.id == PacketMetadata.fabric { return .init("port \(p.name): bad interface id") }
            if !networkNames.contains(p.network) { return .init("port \(p.name): unknown network \(p.network)") }
        }
        for e in endpoints {
            if !networkNames.contains(e.network) { return .init("endpoint \(e.mac): unknown network \(e.network)") }
            if !peerNames.contains(e.peer) { return .init("endpoint \(e.mac): unknown peer \(e.peer)") }
        }
        if let problem = flowControl.validate() { return .init("flow control: \(problem)") }
        if !(txBandwidth > 0 && rxBandwidth > 0) { return .init("bandwidths must be positive") }
        if !Self.underlayMTURange.contains(underlayMTU) {
            return .init("underlay MTU \(underlayMTU) outside \(Self.underlayMTURange.lowerBound)-\(Self.underlayMTURange.upperBound)")
        }
        if peers.contains(where: { $0.rxBandwidth.map { !($0 > 0) } ?? false }) {
            return .init("peer bandwidths must be positive")
        }
        return nil
    }

    static func sameFamily(_ a: IPAddress, _ b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4, .v4), (.v6, .v6): return true
        default: return false
        }
    }
}
