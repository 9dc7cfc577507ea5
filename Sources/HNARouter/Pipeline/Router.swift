import HNAWire

/// Router-wide settings. Defaults are defined here and nowhere else.
public struct RouterConfiguration: Sendable {
    /// Flow-table capacity (entries; a connection uses two).
    public var flowCapacity = FlowTable.defaultCapacity
    /// A flow idle this long is removed by `age(now:budget:output:)` (tf-vrouter's default is 180 s).
    public var flowIdleTimeout: UInt64 = 180_000_000_000
    /// Packets held per flow while its set-up is pending; later ones are dropped (`holdQueueFull`).
    public var maxHeldPerFlow = 4
    /// Packets held over all pending flows.
    public var maxHeldTotal = 4096
    /// Flows waiting for the slow path; a new flow beyond this is refused (`setupQueueFull`).
    public var maxPendingSetups = 16384
    /// The MAC the router answers with for the VMs' gateway and for proxied addresses (tf-vrouter uses
    /// this IANA-reserved VRRP-range address for the same purpose).
    public var gatewayMAC = MACAddress(0x00, 0x00, 0x5E, 0x00, 0x01, 0x00)
    /// Bytes reserved in the tunnel MTU for the HNA header the communications controller inserts
    /// (a data header with acks for 4 priorities is 32 bytes).
    public var hnaHeaderAllowance = 32
    /// TTL / hop limit of the outer header and of the MPLS label.
    public var tunnelTTL: UInt8 = 64

    public init() {}
}

/// A VM port.
public struct InterfaceConfiguration: Sendable, Equatable {
    public var vrf: VRFID
    /// The VM's MAC: the destination of frames the router routes to this port.
    public var mac: MACAddress

    public init(vrf: VRFID, mac: MACAddress) {
        self.vrf = vrf
        self.mac = mac
    }
}

/// What a decapsulated packet's MPLS label or VNI selects.
public enum LabelTarget: Hashable, Sendable {
    /// Look the inner packet up in this VRF.
    case vrf(VRFID)
    /// Deliver straight to this interface (after the flow check), without a FIB lookup.
    case interface(InterfaceID)
}

/// One routing instance: FIBs, L2 table, policy, gateway addresses, counters.
public struct RoutingInstance: Sendable {
    public let id: VRFID
    public internal(set) var ipv4 = IPFIB<IPv4Address>.ipv4()
    public internal(set) var ipv6 = IPFIB<IPv6Address>.ipv6()
    /// MAC → next hop, for bridged (non-routed) frames.
    public internal(set) var bridge: [MACAddress: NextHopID] = [:]
    public internal(set) var policy: Policy
    /// Addresses the router answers ARP/ND for as the VMs' gateway, and sources ICMP errors from.
    public internal(set) var gatewayIPv4: [IPv4Address]
    public internal(set) var gatewayIPv6: [IPv6Address]
    public internal(set) var counters = TrafficCounters()

    init(id: VRFID, policy: Policy, gatewayIPv4: [IPv4Address], gatewayIPv6: [IPv6Address]) {
        self.id = id
        self.policy = policy
        self.gatewayIPv4 = gatewayIPv4
        self.gatewayIPv6 = gatewayIPv6
    }
}

/// The virtual router of FIG. 4 (item 128), sans-I/O: batches of packets and the current time in,
/// `RouterOutput` out. No clock, socket, thread or global: the driver calls
///
/// - `processFromInterfaces` / `processFromFabric` with each received batch,
/// - `runSlowPath` to let the agent set up the flows the batches missed (their packets are held),
/// - `age` now and then to expire idle flows,
///
/// and changes configuration between calls. Design: docs/router.md.
public struct Router {
    public let configuration: RouterConfiguration
    /// Buffers for packets the router creates (ARP/ND replies, ICMP errors, fragments) and where it puts
    /// buffers it consumed. Drivers should take their receive buffers from here too.
    public let pool: PacketPool

    @usableFromInline var vrfs: [RoutingInstance?] = []
    @usableFromInline var interfaces: [InterfaceConfiguration?] = []
    public internal(set) var interfaceCounters: [TrafficCounters] = []
    public internal(set) var nextHops = NextHopTable()
    public internal(set) var flows: FlowTable
    public internal(set) var drops = DropCounters()
    /// MPLS label → target (encoded, see `encodeTarget`), grown to the largest configured label.
    @usableFromInline var labelTargets: [UInt32] = []
    /// VNI → target, likewise.
    @usableFromInline var vniTargets: [UInt32] = []

    // Slow path state.
    @usableFromInline var setupQueue: [FlowID] = []
    @usableFromInline var setupHead = 0
    @usableFromInline var holdBuffers: [PacketBuffer?] = []
    @usableFromInline var holdStates: [PacketState] = []
    @usableFromInline var holdNext: [Int32] = []
    @usableFromInline var holdFree: [Int32] = []
    /// Flows the slow path installed, and flows it refused (policy deny).
    public internal(set) var flowsSetUp: UInt64 = 0
    /// Flows removed by aging.
    public internal(set) var flowsAged: UInt64 = 0

    /// Per-batch scratch (kept between calls so a batch allocates nothing).
    @usableFromInline var states: [PacketState] = []
    @usableFromInline var expiredScratch: [FlowID] = []

    public init(configuration: RouterConfiguration = RouterConfiguration(), pool: PacketPool = PacketPool()) {
        self.configuration = configuration
        self.pool = pool
        flows = FlowTable(capacity: configuration.flowCapacity)
        holdBuffers = Array(repeating: nil, count: configuration.maxHeldTotal)
        holdStates = Array(repeating: PacketState(), count: configuration.maxHeldTotal)
        holdNext = Array(repeating: -1, count: configuration.maxHeldTotal)
        holdFree = (0 ..< Int32(configuration.maxHeldTotal)).reversed().map { $0 }
        setupQueue.reserveCapacity(min(configuration.maxPendingSetups, 4096))
    }

    // MARK: Configuration (the agent / controller calls these between batches)

    /// Creates or reconfigures a VRF (routes are kept when it exists).
    public mutating func addVRF(_ id: VRFID, gatewayIPv4: [IPv4Address] = [], gatewayIPv6: [IPv6Address] = [],
                                policy: Policy = .allowAll) {
        if Int(id) >= vrfs.count { vrfs.append(contentsOf: repeatElement(nil, count: Int(id) + 1 - vrfs.count)) }
        if vrfs[Int(id)] != nil {
            vrfs[Int(id)]!.gatewayIPv4 = gatewayIPv4
            vrfs[Int(id)]!.gatewayIPv6 = gatewayIPv6
            vrfs[Int(id)]!.policy = policy
        } else {
            vrfs[Int(id)] = RoutingInstance(id: id, policy: policy, gatewayIPv4: gatewayIPv4, gatewayIPv6: gatewayIPv6)
        }
    }

    /// The VRF's state (routes, policy, counters), nil if it does not exist.
    public func vrf(_ id: VRFID) -> RoutingInstance? {
        Int(id) < vrfs.count ? vrfs[Int(id)] : nil
    }

    public var vrfCount: Int { vrfs.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

    /// Replaces a VRF's policy. Existing flows keep their decision until they age out (as in tf-vrouter,
    /// where a policy change re-evaluates flows from the agent, not the datapath).
    public mutating func setPolicy(_ vrf: VRFID, _ policy: Policy) {
        precondition(self.vrf(vrf) != nil, "unknown VRF \(vrf)")
        vrfs[Int(vrf)]!.policy = policy
    }

    public mutating func addInterface(_ id: InterfaceID, _ config: InterfaceConfiguration) {
        precondition(id != PacketMetadata.fabric, "reserved interface id")
        if Int(id) >= interfaces.count {
            let n = Int(id) + 1 - interfaces.count
            interfaces.append(contentsOf: repeatElement(nil, count: n))
            interfaceCounters.append(contentsOf: repeatElement(TrafficCounters(), count: n))
        }
        interfaces[Int(id)] = config
    }

    public func interface(_ id: InterfaceID) -> InterfaceConfiguration? {
        Int(id) < interfaces.count ? interfaces[Int(id)] : nil
    }

    public mutating func addNextHop(_ nh: NextHop) -> NextHopID { nextHops.add(nh) }
    public mutating func setNextHop(_ id: NextHopID, _ nh: NextHop) { nextHops.set(id, nh) }

    public mutating func addRoute(_ vrf: VRFID, _ prefix: IPv4Prefix, nextHop: NextHopID) {
        precondition(self.vrf(vrf) != nil && nextHops[nextHop] != nil)
        vrfs[Int(vrf)]!.ipv4.add(prefix, nextHop: nextHop)
    }

    public mutating func addRoute(_ vrf: VRFID, _ prefix: IPv6Prefix, nextHop: NextHopID) {
        precondition(self.vrf(vrf) != nil && nextHops[nextHop] != nil)
        vrfs[Int(vrf)]!.ipv6.add(prefix, nextHop: nextHop)
    }

    @discardableResult
    public mutating func removeRoute(_ vrf: VRFID, _ prefix: IPv4Prefix) -> NextHopID? {
        guard self.vrf(vrf) != nil else { return nil }
        return vrfs[Int(vrf)]!.ipv4.remove(prefix)
    }

    @discardableResult
    public mutating func removeRoute(_ vrf: VRFID, _ prefix: IPv6Prefix) -> NextHopID? {
        guard self.vrf(vrf) != nil else { return nil }
        return vrfs[Int(vrf)]!.ipv6.remove(prefix)
    }

    /// Adds an L2 entry: frames to `mac` that are not addressed to the gateway are bridged to `nextHop`.
    public mutating func addBridgeEntry(_ vrf: VRFID, _ mac: MACAddress, nextHop: NextHopID) {
        precondition(self.vrf(vrf) != nil && nextHops[nextHop] != nil)
        vrfs[Int(vrf)]!.bridge[mac] = nextHop
    }

    public mutating func removeBridgeEntry(_ vrf: VRFID, _ mac: MACAddress) {
        guard self.vrf(vrf) != nil else { return }
        vrfs[Int(vrf)]!.bridge[mac] = nil
    }

    /// Maps an incoming MPLS label (MPLS-over-GRE and MPLS-over-UDP) to a VRF or an interface.
    public mutating func mapLabel(_ label: UInt32, to target: LabelTarget?) {
        Self.setTarget(&labelTargets, Int(label & MPLSLabel.max), target)
    }

    /// Maps an incoming VXLAN VNI to a VRF or an interface.
    public mutating func mapVNI(_ vni: UInt32, to target: LabelTarget?) {
        Self.setTarget(&vniTargets, Int(vni & VXLANHeader.maxVNI), target)
    }

    @usableFromInline static let noTarget: UInt32 = .max
    @usableFromInline static let interfaceTargetFlag: UInt32 = 0x8000_0000

    static func setTarget(_ table: inout [UInt32], _ index: Int, _ target: LabelTarget?) {
        if index >= table.count {
            guard target != nil else { return }
            table.append(contentsOf: repeatElement(noTarget, count: index + 1 - table.count))
        }
        switch target {
        case nil: table[index] = noTarget
        case let .vrf(v): table[index] = UInt32(v)
        case let .interface(i):
            precondition(i < interfaceTargetFlag)
            table[index] = interfaceTargetFlag | i
        }
    }

    /// Flows waiting for the slow path.
    public var pendingSetups: Int { setupQueue.count - setupHead }
    /// Packets currently held for flows being set up.
    public var heldPackets: Int { configuration.maxHeldTotal - holdFree.count }
}
