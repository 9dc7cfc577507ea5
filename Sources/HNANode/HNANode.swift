import HNACore
import HNARouter
import HNAWire

/// One host network accelerator, sans-I/O: the virtual router and the communications controller wired
/// together (FIG. 4 items 128 and 147). The driver feeds it batches — Ethernet frames from VM ports,
/// UDP payloads from the underlay — with the current time, and writes what comes out; it calls `poll`
/// at `nextDeadline`. Design: docs/daemon.md ("The node").
///
/// Towards an HNA peer a tunnel packet waits in the controller's queue for (peer, priority) and leaves
/// with an HNA header in front of its tunnel header, to UDP port `WellKnownPort.hna`. Towards a plain
/// peer it leaves at once as standard VXLAN or MPLS-over-UDP. Ownership of buffers follows the router's
/// rule: every buffer given to the node comes back once, in a `NodeOutput` (to be recycled by the
/// driver) or into `pool`.
public struct HNANode {
    public private(set) var configuration: NodeConfiguration
    public private(set) var router: Router
    /// Nil when no peer speaks HNA.
    public private(set) var controller: FlowController<FabricPacket>?
    public private(set) var peers: [PeerState] = []
    /// Drops by `NodeDropReason` (router drops are in `router.drops`).
    public private(set) var drops = [UInt64](repeating: 0, count: NodeDropReason.allCases.count)
    /// Times a reload had to replace the controller (its queues and in-flight state were dropped).
    public private(set) var controllerResets: UInt64 = 0
    /// The controller's priority count, 0 without a controller: what the per-packet paths test, since
    /// `controller != nil` and `controller!.config` on the optional can copy the whole controller.
    @usableFromInline var priorities = 0
    /// Buffers the driver should take received packets from and recycle into.
    @inlinable public var pool: PacketPool { router.pool }

    @usableFromInline var peerByAddress: [IPAddress: Int] = [:]
    @usableFromInline var peerByControllerID: [Int] = []
    // Reusable scratch: nothing here is allocated per batch in steady state.
    @usableFromInline var routerOutput = RouterOutput()
    @usableFromInline var actions: [NodeAction] = []
    @usableFromInline var fabricBatch: [PacketBuffer] = []
    @usableFromInline var runSingles: [FabricDatagram] = []
    /// Buffers lent to the controller for resending; recycled once the controller lets go (acked).
    @usableFromInline var lent: [PacketBuffer] = []
    @usableFromInline var lentScanAt = 256
    /// Packets still to be traced (`trace(count:)`).
    @usableFromInline var traceBudget = 0
    @usableFromInline var nextTraceID: UInt64 = 1
    // What the last `apply` installed, so the next one can remove what disappeared.
    var installedRoutes: [VRFID: Set<IPPrefix>] = [:]
    var installedBridge: [VRFID: Set<MACAddress>] = [:]
    var installedVNIs: Set<UInt32> = []
    var installedLabels: Set<UInt32> = []
    var nextHopIDs: [NextHop: NextHopID] = [:]

    public init(configuration: NodeConfiguration, routerConfiguration: RouterConfiguration = RouterConfiguration(),
                pool: PacketPool = PacketPool(preallocate: 512), now: UInt64) throws(NodeConfigurationError) {
        self.configuration = configuration
        router = Router(configuration: routerConfiguration, pool: pool)
        try apply(configuration, now: now, force: true)
    }

    // MARK: Configuration

    /// Applies a new configuration between batches: router tables and peers change, flows and the
    /// controller's queues stay — unless the set of HNA peers or the controller settings changed, in
    /// which case the controller starts afresh (`controllerResets`). A refused configuration changes
    /// nothing.
    public mutating func apply(_ new: NodeConfiguration, now: UInt64) throws(NodeConfigurationError) {
        try apply(new, now: now, force: false)
    }

    mutating func apply(_ new: NodeConfiguration, now: UInt64, force: Bool) throws(NodeConfigurationError) {
        if let problem = new.validate() { throw problem }
        let old = configuration
        configuration = new
        let networks = Dictionary(uniqueKeysWithValues: new.networks.map { ($0.name, $0) })

        // Peers and the controller.
        let oldHNA = old.peers.filter(\.hna).map(\.underlay)
        let newHNA = new.peers.filter(\.hna).map(\.underlay)
        let controllerChanged = force || oldHNA != newHNA || old.flowControl != new.flowControl
            || old.peers.filter(\.hna).map(\.rxBandwidth) != new.peers.filter(\.hna).map(\.rxBandwidth)
            || old.txBandwidth != new.txBandwidth || old.rxBandwidth != new.rxBandwidth || old.rateLimits != new.rateLimits
        var counters: [IPAddress: PeerCounters] = [:]
        for p in peers { counters[p.configuration.underlay] = p.counters }
        peers = []
        peerByAddress = [:]
        peerByControllerID = []
        for p in new.peers {
            var state = PeerState(configuration: p)
            state.counters = counters[p.underlay] ?? PeerCounters()
            if p.hna {
                state.controllerID = peerByControllerID.count
                peerByControllerID.append(peers.count)
            }
            peerByAddress[p.underlay] = peers.count
            peers.append(state)
        }
        if controllerChanged {
            if controller != nil { controllerResets += 1 }
            if newHNA.isEmpty {
                controller = nil
                priorities = 0
            } else {
                let tx = new.rateLimits ? new.txBandwidth : NodeConfiguration.unlimitedBandwidth
                let rx = new.rateLimits ? new.rxBandwidth : NodeConfiguration.unlimitedBandwidth
                // The safe rate towards a peer needs its B_j; one we were not told defaults as in the
                // controller (min of our own bandwidths).
                let peerRx = new.peers.filter(\.hna).map { p in
                    new.rateLimits ? p.rxBandwidth ?? min(tx, rx) : NodeConfiguration.unlimitedBandwidth
                }
                priorities = new.flowControl.priorities
                controller = FlowController(config: new.flowControl, peerCount: newHNA.count, txBandwidth: tx,
                                            rxBandwidth: rx, peerRxBandwidth: peerRx, now: now)
            }
        }

        // VRFs, label/VNI maps.
        var vnis = Set<UInt32>(), labels = Set<UInt32>()
        for n in new.networks {
            var v4: [IPv4Address] = [], v6: [IPv6Address] = []
            for g in n.gateways {
                switch g {
                case let .v4(a): v4.append(a)
                case let .v6(a): v6.append(a)
                }
            }
            router.addVRF(n.vrf, gatewayIPv4: v4, gatewayIPv6: v6, policy: n.policy)
            router.mapVNI(n.vni, to: .vrf(n.vrf))
            router.mapLabel(n.label, to: .vrf(n.vrf))
            vnis.insert(n.vni)
            labels.insert(n.label)
        }
        for v in installedVNIs.subtracting(vnis) { router.mapVNI(v, to: nil) }
        for l in installedLabels.subtracting(labels) { router.mapLabel(l, to: nil) }
        installedVNIs = vnis
        installedLabels = labels

        // Ports, endpoints: host routes and bridge entries.
        var routes: [VRFID: [IPPrefix: NextHopID]] = [:]
        var bridge: [VRFID: [MACAddress: NextHopID]] = [:]
        for p in new.ports {
            let n = networks[p.network]!
            router.addInterface(p.id, InterfaceConfiguration(vrf: n.vrf, mac: p.mac))
            let nh = nextHop(.interface(p.id))
            for a in p.addresses { routes[n.vrf, default: [:]][Self.hostPrefix(a)] = nh }
            bridge[n.vrf, default: [:]][p.mac] = nh
        }
        let livePorts = Set(new.ports.map(\.id))
        for p in old.ports where !livePorts.contains(p.id) {
            // The router has no interface removal: point the port at VRF 0, which never exists, so
            // anything still arriving on it is dropped as `unknownVRF`.
            router.addInterface(p.id, InterfaceConfiguration(vrf: 0, mac: p.mac))
        }
        let peersByName = Dictionary(uniqueKeysWithValues: new.peers.map { ($0.name, $0) })
        for e in new.endpoints {
            let n = networks[e.network]!
            let peer = peersByName[e.peer]!
            let id = n.encapsulation == .vxlan ? n.vni : n.label
            let nh = nextHop(.tunnel(Tunnel(peer: peer.underlay, encapsulation: n.encapsulation, label: id,
                                            mtu: new.underlayMTU, innerDestinationMAC: e.mac)))
            for a in e.addresses { routes[n.vrf, default: [:]][Self.hostPrefix(a)] = nh }
            bridge[n.vrf, default: [:]][e.mac] = nh
        }
        for (vrf, prefixes) in installedRoutes {
            for p in prefixes where routes[vrf]?[p] == nil { Self.remove(&router, vrf, p) }
        }
        for (vrf, macs) in installedBridge {
            for m in macs where bridge[vrf]?[m] == nil { router.removeBridgeEntry(vrf, m) }
        }
        installedRoutes = [:]
        for (vrf, table) in routes {
            for (p, nh) in table {
                switch p {
                case let .v4(x): router.addRoute(vrf, x, nextHop: nh)
                case let .v6(x): router.addRoute(vrf, x, nextHop: nh)
                }
            }
            installedRoutes[vrf] = Set(table.keys)
        }
        installedBridge = [:]
        for (vrf, table) in bridge {
            for (m, nh) in table { router.addBridgeEntry(vrf, m, nextHop: nh) }
            installedBridge[vrf] = Set(table.keys)
        }
    }

    /// Next hops are shared by value, so reloads reuse them instead of adding new ones each time.
    mutating func nextHop(_ nh: NextHop) -> NextHopID {
        if let id = nextHopIDs[nh] { return id }
        let id = router.addNextHop(nh)
        nextHopIDs[nh] = id
        return id
    }

    static func hostPrefix(_ a: IPAddress) -> IPPrefix {
        switch a {
        case let .v4(x): return .v4(IPv4Prefix(x, 32))
        case let .v6(x): return .v6(IPv6Prefix(x, 128))
        }
    }

    static func remove(_ router: inout Router, _ vrf: VRFID, _ p: IPPrefix) {
        switch p {
        case let .v4(x): router.removeRoute(vrf, x)
        case let .v6(x): router.removeRoute(vrf, x)
        }
    }

    // MARK: Queries

    public func drops(_ reason: NodeDropReason) -> UInt64 { drops[reason.rawValue] }

    /// The peer with this underlay address.
    public func peer(at address: IPAddress) -> PeerState? { peerByAddress[address].map { peers[$0] } }

    /// Bytes the controller's queues can still take; a driver stops reading VM ports while it is low.
    @inlinable public var freeQueueBytes: Int { controller?.freeQueueBytes ?? .max }

    /// True while `queue`'s VOQ has less than the pause room left.
    @inlinable public func isCrowded(_ queue: CrowdedQueue) -> Bool {
        controller?.isCrowded(peer: queue.peer, priority: queue.priority) ?? false
    }

    /// Bytes waiting in `queue`'s VOQ.
    @inlinable public func queuedBytes(_ queue: CrowdedQueue) -> Int {
        controller?.queuedBytes(to: queue.peer, priority: queue.priority) ?? 0
    }

    /// Room under which the driver stops reading VM ports (`FlowControlConfig.ingressPauseBytes`).
    @inlinable public var ingressPauseBytes: Int { configuration.flowControl.ingressPauseBytes }

    /// When `poll` must next run.
    @inlinable public var nextDeadline: UInt64? { controller?.nextDeadline }

    /// Traces the next `count` packets that enter the node (from VM ports or the underlay).
    public mutating func trace(count: Int) { traceBudget = max(0, count) }

    public var pendingTraces: Int { traceBudget }

    // MARK: Datapath

    /// Ethernet frames from VM ports (`meta.ingressInterface` set on each buffer).
    public mutating func processFromInterfaces(_ batch: [PacketBuffer], now: UInt64, output: inout NodeOutput) {
        if traceBudget > 0 { for b in batch { markTrace(b) } }
        router.processFromInterfaces(batch, now: now, output: &routerOutput)
        finish(now: now, output: &output)
    }

    /// Datagrams from the underlay: each buffer holds a UDP payload (`port` the UDP destination port it
    /// arrived on) or a GRE packet (`transport == .gre`), `address` its source.
    public mutating func processFromFabric(_ batch: [FabricDatagram], now: UInt64, output: inout NodeOutput) {
        fabricBatch.removeAll(keepingCapacity: true)
        // A batch is mostly runs from one peer (a GRO burst is one sender): look the address up once per run.
        var lastAddress: IPAddress?
        var lastPeer: Int?
        for d in batch {
            let b = d.buffer
            if traceBudget > 0 { markTrace(b) }
            if d.address != lastAddress {
                lastAddress = d.address
                lastPeer = peerByAddress[d.address]
            }
            guard let pi = lastPeer else {
                drop(b, .unknownPeer, output: &output)
                continue
            }
            peers[pi].counters.rxPackets &+= 1
            peers[pi].counters.rxBytes &+= UInt64(b.length)
            if d.transport == .gre {
                receiveGRE(b, from: d.address, peer: pi, now: now, output: &output)
                continue
            }
            switch d.port {
            case WellKnownPort.hna:
                receiveHNA(b, peer: pi, transport: .udp, now: now, output: &output)
            case WellKnownPort.vxlan, WellKnownPort.mplsOverUDP:
                // A plain tunnel packet: the router parses from the outer IP header, which the kernel
                // has stripped, so write one back in the headroom (a few dozen bytes, no copy of data).
                let e: Encapsulation = d.port == WellKnownPort.vxlan ? .vxlan : .mplsOverUDP
                if toRouter(b, from: d.address, encapsulation: e) { fabricBatch.append(b) } else { drop(b, .noRoom, output: &output) }
            default:
                drop(b, .unknownPort, output: &output)
            }
        }
        if !fabricBatch.isEmpty { router.processFromFabric(fabricBatch, now: now, output: &routerOutput) }
        finish(now: now, output: &output)
    }

    /// A run of datagrams from one sender to one UDP port, back to back, all `segmentSize` bytes but the
    /// last (what UDP GRO hands over), still in the driver's memory: the node copies what it keeps.
    /// HNA data datagrams that carry consecutive segments of one TCP stream, at the sequence number the
    /// controller expects next, become one train — a super-frame built while copying (GRO) — that the
    /// controller delivers and the router forwards once; everything else goes on as single datagrams.
    public mutating func processFromFabric(run bytes: UnsafeRawBufferPointer, segmentSize: Int, from address: IPAddress,
                                           sourcePort: UInt16, port: UInt16, now: UInt64, output: inout NodeOutput) {
        let size = segmentSize > 0 ? segmentSize : max(bytes.count, 1)
        runSingles.removeAll(keepingCapacity: true)
        var offset = 0
        if port == WellKnownPort.hna, traceBudget == 0, priorities > 0, let pi = peerByAddress[address],
           let cid = peers[pi].controllerID {
            while offset < bytes.count {
                let taken = receiveTrain(bytes, at: offset, size: size, peer: pi, controllerID: cid, now: now)
                if taken > 0 {
                    offset += taken * size
                    continue
                }
                // Not the start of a train: this datagram on its own, right away, so the controller
                // sees everything in the order it came.
                let d = bytes.slice(offset, min(size, bytes.count - offset))
                offset += size
                guard let b = copyIn(d, output: &output) else { continue }
                peers[pi].counters.rxPackets &+= 1
                peers[pi].counters.rxBytes &+= UInt64(d.count)
                receiveHNA(b, peer: pi, transport: .udp, now: now, output: &output)
            }
            return finish(now: now, output: &output)
        }
        while offset < bytes.count {
            let d = bytes.slice(offset, min(size, bytes.count - offset))
            offset += size
            guard let b = copyIn(d, output: &output) else { continue }
            runSingles.append(FabricDatagram(address: address, port: port, buffer: b, sourcePort: sourcePort))
        }
        processFromFabric(runSingles, now: now, output: &output)
        runSingles.removeAll(keepingCapacity: true)
    }

    /// A datagram from the driver's memory in a pool buffer (nil, counted `noRoom`, when it does not fit).
    @inline(__always)
    mutating func copyIn(_ d: UnsafeRawBufferPointer, output: inout NodeOutput) -> PacketBuffer? {
        let b = pool.take()
        guard b.load(d) else {
            drop(b, .noRoom, output: &output)
            return nil
        }
        return b
    }

    /// Builds a train from the datagrams of `run` starting at `offset` and hands it to the controller;
    /// returns how many datagrams it took (0: none, the first is not the start of a train of two or more).
    mutating func receiveTrain(_ run: UnsafeRawBufferPointer, at offset: Int, size: Int, peer pi: Int, controllerID cid: Int,
                               now: UInt64) -> Int {
        guard offset + size < run.count else { return 0 }
        let first = run.slice(offset, size)
        guard let view = try? HNAHeaderView(checking: first), view.hasData, view.priorityCount == priorities,
              view.nextProtocol == .vxlan || view.nextProtocol == .mpls, let sequence = view.sequence,
              Int(view.priority) < priorities,
              sequence == controller!.expectedSequence(from: cid, priority: Int(view.priority)) else { return 0 }
        let headerLength = view.headerLength
        let sequenceOffset = view.sequenceOffset
        // Cheap refusals before any copy: the next datagram continues the numbering, and TCP is inside.
        let l3 = headerLength + Self.innerL3(view.nextProtocol)
        guard first.count > l3 + IPv6Packet.headerLength, offset + size + sequenceOffset + 2 <= run.count,
              run.u16(at: offset + size + sequenceOffset) == sequence &+ 1 else { return 0 }
        let version = first.u8(at: l3) >> 4
        let inner = version == IPv4Packet.version ? first.u8(at: l3 + IPv4Packet.Field.protocol)
            : version == IPv6Packet.version ? first.u8(at: l3 + IPv6Packet.Field.nextHeader) : 0
        guard inner == IPProtocol.tcp.rawValue else { return 0 }
        let out = pool.takeLarge()
        guard let room = out.append(out.tailroom),
              var coalescer = TCPOffload.Coalescer(first: first.tail(from: headerLength), l3: Self.innerL3(view.nextProtocol),
                                                   into: room, limit: Self.trainLimit) else {
            pool.recycle(out)
            return 0
        }
        var count = 1
        var at = offset + size
        while at < run.count, count < FlowController<FabricPacket>.maxSegments {
            let next = run.slice(at, min(size, run.count - at))
            // The same header but for the next sequence number, then the next piece of the stream.
            guard next.count > headerLength,
                  next.u16(at: sequenceOffset) == sequence &+ UInt16(count),
                  TCPOffload.Coalescer.equal(first, next, 0, sequenceOffset),
                  TCPOffload.Coalescer.equal(first, next, sequenceOffset + 2, headerLength - sequenceOffset - 2),
                  coalescer.append(next.tail(from: headerLength)) else { break }
            count += 1
            at += size
        }
        guard count > 1 else {
            pool.recycle(out)
            return 0
        }
        let frame = coalescer.finish()
        out.truncate(to: frame.count)
        out.meta.gsoSize = UInt16(coalescer.segmentSize)
        let train = FabricPacket(train: out, nextProtocol: view.nextProtocol, transport: .udp,
                                 framingBytes: FabricPacket.framingBytes(underlay: configuration.underlay),
                                 headerBytes: coalescer.layout.headerLength, segmentSize: coalescer.segmentSize,
                                 segmentCount: count)
        peers[pi].counters.rxPackets &+= UInt64(count)
        peers[pi].counters.rxBytes &+= UInt64(at - offset)
        controller!.receive(HNAHeader(view), payload: train, from: cid, now: now)
        return count
    }

    /// The largest train the node builds from received datagrams: its outer IPv4 header (written back
    /// for the router, `toRouter`) must still hold its length in 16 bits, as must an IPv6 payload length.
    static let trainLimit = 65535 - IPv6Packet.headerLength - UDPDatagram.headerLength

    /// Runs the controller's timers and sends what its rates allow.
    public mutating func poll(now: UInt64, output: inout NodeOutput) {
        finish(now: now, output: &output)
    }

    /// Expires idle flows, at most `budget` entries examined (call now and then; bounded work).
    public mutating func age(now: UInt64, budget: Int = 65536, output: inout NodeOutput) {
        _ = router.age(now: now, budget: budget, output: &routerOutput)
        drainRouter(now: now, output: &output)
        report(into: &output)
    }

    /// Gives every buffer in `output` back to the pool and empties it (keeping capacity). Mutating only
    /// so that a driver holding the node in a class property calls it in place instead of on a copy.
    public mutating func recycle(_ output: inout NodeOutput) {
        for p in output.toInterfaces { pool.recycle(p.buffer) }
        for d in output.toFabric {
            if d.isLent { d.buffer.meta.headerInHeadroom = false } else { pool.recycle(d.buffer) }
        }
        output.toInterfaces.removeAll(keepingCapacity: true)
        output.toFabric.removeAll(keepingCapacity: true)
        output.traces.removeAll(keepingCapacity: true)
        output.crowding.removeAll(keepingCapacity: true)
    }

    /// Lists `b`'s VM port in `output.crowding` when the VOQ it went to (or was refused by) is crowded.
    @inline(__always)
    func noteCrowding(_ b: PacketBuffer, peer cid: Int, priority: Int, output: inout NodeOutput) {
        let port = b.meta.ingressInterface
        guard port != PacketMetadata.fabric, controller?.isCrowded(peer: cid, priority: priority) == true else { return }
        let q = CrowdedQueue(port: port, peer: cid, priority: priority)
        if output.crowding.last != q { output.crowding.append(q) }
    }

    // MARK: Stages

    @inline(__always)
    mutating func markTrace(_ b: PacketBuffer) {
        guard traceBudget > 0 else { return }
        traceBudget -= 1
        b.meta.trace = true
        b.meta.traceID = nextTraceID
        nextTraceID &+= 1
    }

    /// A GRE packet (the raw socket's kernel stripped the outer IP header): 0x88B5 carries an HNA
    /// header, 0x8847 a plain MPLS-over-GRE packet for the router.
    mutating func receiveGRE(_ b: PacketBuffer, from source: IPAddress, peer pi: Int, now: UInt64, output: inout NodeOutput) {
        let parsed: (EtherType, Int)?
        do {
            let view = try GREPacket(checking: b.readableBytes)
            parsed = (view.protocolType, view.headerLength)
        } catch {
            parsed = nil
        }
        guard let (protocolType, length) = parsed else { return drop(b, .malformedGRE, output: &output) }
        switch protocolType {
        case .hna:
            b.trimFront(length)
            receiveHNA(b, peer: pi, transport: .gre, now: now, output: &output)
        case .mplsUnicast:
            // The router parses from the outer IP header: write IP and GRE back (OuterHeader's one
            // GRE form; a received checksum or key is not needed past this point).
            b.trimFront(length)
            if toRouter(b, from: source, encapsulation: .mplsOverGRE) { fabricBatch.append(b) } else { drop(b, .noRoom, output: &output) }
        default:
            drop(b, .unknownPort, output: &output)
        }
    }

    mutating func receiveHNA(_ b: PacketBuffer, peer pi: Int, transport: FabricTransport, now: UInt64, output: inout NodeOutput) {
        guard let cid = peers[pi].controllerID, priorities > 0 else {
            return drop(b, .hnaFromPlainPeer, output: &output)
        }
        let parsed: (HNAHeader, Int)?
        do {
            let view = try HNAHeaderView(checking: b.readableBytes)
            parsed = (HNAHeader(view), view.headerLength)
        } catch {
            parsed = nil
        }
        guard let (header, length) = parsed else { return drop(b, .malformedHNAHeader, output: &output) }
        guard header.priorityCount == priorities else {
            return drop(b, .priorityMismatch, output: &output)
        }
        if header.sequence != nil {
            guard header.nextProtocol == .vxlan || header.nextProtocol == .mpls, b.length > length else {
                return drop(b, .badHNAPayload, output: &output)
            }
            b.trimFront(length)
            if b.meta.trace {
                output.traces.append(NodeTrace(traceID: b.meta.traceID, stage: "hna-rx",
                    detail: "hna seq \(header.sequence!) prio \(header.priority) from \(peers[pi].configuration.name)"))
            }
            let packet = FabricPacket(buffer: b, nextProtocol: header.nextProtocol, transport: transport,
                                      framingBytes: FabricPacket.framingBytes(underlay: configuration.underlay, transport: transport))
            controller!.receive(header, payload: packet, from: cid, now: now)
        } else {
            controller!.receive(header, payload: nil, from: cid, now: now)
            pool.recycle(b)
        }
    }

    /// Writes the outer IP and UDP/GRE headers the kernel stripped, so the router sees a whole tunnel
    /// packet.
    @inline(__always)
    func toRouter(_ b: PacketBuffer, from source: IPAddress, encapsulation: Encapsulation) -> Bool {
        let t = TunnelDescriptor(peer: configuration.underlay, encapsulation: encapsulation, sourcePort: 0)
        return OuterHeader.write(into: b, tunnel: t, source: source, hna: nil)
    }

    /// Writes the outer headers for a GRE transmission with `OuterHeader` (GRE, and the HNA header when
    /// given) and drops the outer IP header again: the raw socket's kernel writes that one, as the UDP
    /// socket's does for UDP.
    @inline(__always)
    func greOuter(_ b: PacketBuffer, to peer: IPAddress, hna: HNAHeader?) -> Bool {
        let t = TunnelDescriptor(peer: peer, encapsulation: .mplsOverGRE, sourcePort: 0)
        guard OuterHeader.write(into: b, tunnel: t, source: configuration.underlay, hna: hna) else { return false }
        return b.trimFront(OuterHeader.length(t, hna: nil) - GREPacket.minimumHeaderLength)
    }

    @inline(__always)
    mutating func drop(_ b: PacketBuffer, _ reason: NodeDropReason, output: inout NodeOutput) {
        drops[reason.rawValue] &+= 1
        if b.meta.trace {
            output.traces.append(NodeTrace(traceID: b.meta.traceID, stage: "drop", detail: "node: \(reason.name)"))
        }
        pool.recycle(b)
    }

    /// Drains the router's output (held packets released by the slow path included), queues tunnel
    /// packets, lets the controller send and deliver, and hands deliveries back to the router.
    mutating func finish(now: UInt64, output: inout NodeOutput) {
        // Two rounds cover every chain: VM → router → controller, and controller delivery → router →
        // VM. A delivered packet never goes back into the fabric (the router's `fabricHairpin`).
        for _ in 0 ..< 2 {
            _ = router.runSlowPath(now: now, output: &routerOutput)
            drainRouter(now: now, output: &output)
            guard priorities > 0 else { return report(into: &output) }
            controller!.poll(now: now)
            // The actions go into a local array of a concrete type (the closures capture it, not the
            // node): `FlowAction` values are generic, and copying and destroying them cost runtime
            // metadata look-ups per action.
            var taken = actions
            actions = []
            controller!.takeActions(send: { peer, header, nacks, payload in
                taken.append(.send(peer: peer, header: header, nacks: nacks, payload: payload))
            }, deliver: { peer, _, payload in
                taken.append(.deliver(peer: peer, payload: payload))
            })
            fabricBatch.removeAll(keepingCapacity: true)
            for a in taken {
                switch a {
                case let .send(peer, header, nacks, payload):
                    send(header.header(nacks: nacks), payload, to: peer, output: &output)
                case let .deliver(peer, payload):
                    let b = payload.buffer
                    let address = peers[peerByControllerID[peer]].configuration.underlay
                    let e: Encapsulation = payload.nextProtocol == .vxlan ? .vxlan
                        : payload.transport == .gre ? .mplsOverGRE : .mplsOverUDP
                    if toRouter(b, from: address, encapsulation: e) { fabricBatch.append(b) } else { drop(b, .noRoom, output: &output) }
                }
            }
            taken.removeAll(keepingCapacity: true)
            actions = taken
            if fabricBatch.isEmpty { break }
            router.processFromFabric(fabricBatch, now: now, output: &routerOutput)
            fabricBatch.removeAll(keepingCapacity: true)
        }
        _ = router.runSlowPath(now: now, output: &routerOutput)
        drainRouter(now: now, output: &output)
        reclaimLent()
        report(into: &output)
    }

    /// The deadline and queue room, for the driver.
    @inline(__always)
    func report(into output: inout NodeOutput) {
        output.nextDeadline = nextDeadline
        output.freeQueueBytes = freeQueueBytes
    }

    mutating func drainRouter(now: UInt64, output: inout NodeOutput) {
        if routerOutput.isEmpty && routerOutput.traces.isEmpty { return }
        output.toInterfaces.append(contentsOf: routerOutput.toInterfaces)
        for t in routerOutput.traces { output.traces.append(NodeTrace(t)) }
        for b in routerOutput.toAgent { drop(b, .toAgent, output: &output) }
        for d in routerOutput.dropped { pool.recycle(d.buffer) }
        for t in routerOutput.toFabric { tunnel(t, now: now, output: &output) }
        routerOutput.removeAll()
    }

    /// A tunnel packet from the router (starting at its VXLAN header or MPLS label).
    mutating func tunnel(_ t: TunnelPacket, now: UInt64, output: inout NodeOutput) {
        let b = t.buffer
        guard let pi = peerByAddress[t.tunnel.peer] else { return drop(b, .tunnelToUnknownPeer, output: &output) }
        let next: HNANextProtocol = t.tunnel.encapsulation == Encapsulation.vxlan ? HNANextProtocol.vxlan : HNANextProtocol.mpls
        let gre = t.tunnel.encapsulation == .mplsOverGRE
        if _slowPath(b.meta.gsoSize > 0) {
            return tunnelTrain(t, next: next, peer: pi, now: now, output: &output)
        }
        if let cid = peers[pi].controllerID, priorities > 0 {
            let priority = min(Int(t.tunnel.priority), priorities - 1)
            let transport: FabricTransport = gre ? .gre : .udp
            let packet = FabricPacket(buffer: b, nextProtocol: next, transport: transport,
                                      sourcePort: gre ? 0 : t.tunnel.sourcePort,
                                      framingBytes: FabricPacket.framingBytes(underlay: configuration.underlay, transport: transport))
            let result = controller!.enqueue(packet, to: cid, priority: priority, now: now)
            noteCrowding(b, peer: cid, priority: priority, output: &output)
            switch result {
            case .queued:
                lent.append(b)
                if b.meta.trace {
                    output.traces.append(NodeTrace(traceID: b.meta.traceID, stage: "hna-tx",
                        detail: "hna queue peer \(peers[pi].configuration.name) prio \(priority)"))
                }
            case let .dropped(reason):
                // The controller counted it too; the node's counter names it next to its own drops.
                drop(b, NodeDropReason(reason), output: &output)
            }
        } else if gre {
            guard greOuter(b, to: t.tunnel.peer, hna: nil) else { return drop(b, .noRoom, output: &output) }
            peers[pi].counters.txPackets &+= 1
            peers[pi].counters.txBytes &+= UInt64(b.length)
            output.toFabric.append(FabricDatagram(address: t.tunnel.peer, port: 0, buffer: b, transport: .gre))
        } else {
            let port = next == .vxlan ? WellKnownPort.vxlan : WellKnownPort.mplsOverUDP
            peers[pi].counters.txPackets &+= 1
            peers[pi].counters.txBytes &+= UInt64(b.length)
            output.toFabric.append(FabricDatagram(address: t.tunnel.peer, port: port, buffer: b, sourcePort: t.tunnel.sourcePort))
        }
    }

    /// Where the inner IP header starts in a tunnel packet the router built: VXLAN carries the inner
    /// Ethernet frame, MPLS (over UDP or GRE) the bare IP packet behind one label.
    @inline(__always)
    static func innerL3(_ next: HNANextProtocol) -> Int {
        next == .vxlan ? VXLANPacket.headerLength + EthernetFrame.minimumHeaderLength : MPLSLabelStackEntry.length
    }

    /// A super-frame from the router: towards an HNA peer it is queued whole, as a train; towards a
    /// plain peer it is cut into its datagrams at once.
    mutating func tunnelTrain(_ t: TunnelPacket, next: HNANextProtocol, peer pi: Int, now: UInt64, output: inout NodeOutput) {
        let b = t.buffer
        let gre = t.tunnel.encapsulation == .mplsOverGRE
        let transport: FabricTransport = gre ? .gre : .udp
        let gso = Int(b.meta.gsoSize)
        guard let layout = try? TCPOffload.Layout(packet: b.readableBytes, l3: Self.innerL3(next)) else {
            return drop(b, .badPayload, output: &output)
        }
        let count = max(1, (layout.payloadLength + gso - 1) / gso)
        guard count <= FlowController<FabricPacket>.maxSegments else { return drop(b, .badPayload, output: &output) }
        let train = FabricPacket(train: b, nextProtocol: next, transport: transport, sourcePort: gre ? 0 : t.tunnel.sourcePort,
                                 framingBytes: FabricPacket.framingBytes(underlay: configuration.underlay, transport: transport),
                                 headerBytes: layout.headerLength, segmentSize: gso, segmentCount: count)
        if let cid = peers[pi].controllerID, priorities > 0 {
            let priority = min(Int(t.tunnel.priority), priorities - 1)
            // A train leaves in one burst, so none may be larger than the pacers' buckets let through at
            // once (the fabric in front of a slow receiver is sized for those bursts): longer ones go as
            // several trains, slices of the one buffer.
            let perSegment = layout.headerLength + gso + train.framingBytes
                + HNAHeader.length(priorities: priorities, data: true, acks: true, nacks: 0)
            let burst = min(configuration.flowControl.rateBurstBytes, configuration.flowControl.nicBurstBytes)
            let most = max(1, min(count, burst / perSegment))
            var queued = false
            for first in stride(from: 0, to: count, by: most) {
                let slice = most >= count ? train : train.segments(first ..< min(count, first + most))
                switch controller!.enqueue(slice, to: cid, priority: priority, now: now) {
                case .queued:
                    queued = true
                case let .dropped(reason):
                    drops[NodeDropReason(reason).rawValue] &+= 1
                }
            }
            noteCrowding(b, peer: cid, priority: priority, output: &output)
            if queued {
                lent.append(b)
                if b.meta.trace {
                    output.traces.append(NodeTrace(traceID: b.meta.traceID, stage: "hna-tx",
                        detail: "hna queue train of \(count) (\(most) per burst) peer \(peers[pi].configuration.name) prio \(priority)"))
                }
            } else {
                // Every slice refused (and counted by its reason): the buffer goes back.
                pool.recycle(b)
            }
            return
        }
        // A plain peer: standard VXLAN / MPLS datagrams, no HNA header.
        let port = next == .vxlan ? WellKnownPort.vxlan : WellKnownPort.mplsOverUDP
        cut(train, header: nil, to: pi, port: port, output: &output)
        pool.recycle(b)
    }

    /// Cuts segments of a train into datagrams: each is the HNA header (when given; numbered from its
    /// sequence on) and one segment — tunnel header, inner headers with their lengths, identification,
    /// sequence number, flags and checksums as the kernel's GSO would write them, and the payload. To
    /// an HNA peer over UDP by reference (`cutByReference`); to a plain peer back to back in one large
    /// buffer (one UDP GSO burst); over GRE (no GSO on a raw socket) one buffer each.
    mutating func cut(_ p: FabricPacket, header: HNAHeader?, to pi: Int, port: UInt16, output: inout NodeOutput) {
        let address = peers[pi].configuration.underlay
        let train = p.buffer.readableBytes
        guard let layout = try? TCPOffload.Layout(packet: train, l3: Self.innerL3(p.nextProtocol)),
              let segmenter = try? TCPOffload.Segmenter(frame: train, layout: layout, segmentSize: Int(p.segmentSize)) else {
            drops[NodeDropReason.badPayload.rawValue] &+= 1
            return
        }
        let first = Int(p.firstSegment)
        let range = first ..< min(first + p.segmentCount, segmenter.segmentCount)
        if p.transport == .gre {
            for i in range {
                let b = pool.take()
                var h = header
                h?.sequence = header?.sequence.map { $0 &+ UInt16(i - first) }
                guard let room = b.append(segmenter.length(of: i)), segmenter.write(i, into: room) != nil,
                      greOuter(b, to: address, hna: h) else { drop(b, .noRoom, output: &output); continue }
                peers[pi].counters.txPackets &+= 1
                peers[pi].counters.txBytes &+= UInt64(b.length)
                output.toFabric.append(FabricDatagram(address: address, port: 0, buffer: b, transport: .gre))
            }
            return
        }
        if let header { return cutByReference(p, header: header, segmenter: segmenter, range: range, to: pi, output: &output) }
        // A plain peer's datagrams: copied back to back (interop traffic; HNA peers' go by reference).
        let out = pool.takeLarge()
        var datagram = 0
        for i in range {
            guard let room = out.append(segmenter.length(of: i)), let n = segmenter.write(i, into: room) else { break }
            if datagram == 0 { datagram = n }
        }
        peers[pi].counters.txPackets &+= UInt64(range.count)
        peers[pi].counters.txBytes &+= UInt64(out.length)
        var d = FabricDatagram(address: address, port: port, buffer: out, sourcePort: p.sourcePort)
        if range.count > 1 { d.segmentSize = datagram }
        output.toFabric.append(d)
    }

    /// HNA datagrams of a train over UDP: only their headers are written (back to back, in a buffer of
    /// their own); the payloads stay in the train, which the controller keeps anyway, and the driver
    /// sends each datagram as its headers plus its payload (`FabricDatagram.gather`).
    mutating func cutByReference(_ p: FabricPacket, header: HNAHeader, segmenter: TCPOffload.Segmenter, range: Range<Int>,
                                 to pi: Int, output: inout NodeOutput) {
        let hnaLength = header.encodedLength
        let stride = hnaLength + segmenter.layout.headerLength
        let out = range.count * stride <= pool.bufferCapacity - PacketBuffer.defaultHeadroom ? pool.take() : pool.takeLarge()
        guard let all = out.append(range.count * stride) else { return drop(out, .noRoom, output: &output) }
        let sequenceOffset = HNAHeaderView.sequenceOffset(priorities: header.priorityCount)
        header.emit(into: all.slice(0, hnaLength))
        let first = range.lowerBound
        for i in range {
            let h = all.slice((i - first) * stride, stride)
            if i != first {
                // Every datagram's header is the first one's with the next sequence number.
                h.baseAddress!.copyMemory(from: all.baseAddress!, byteCount: hnaLength)
                h.setU16(header.sequence! &+ UInt16(i - first), at: sequenceOffset)
            }
            _ = segmenter.writeHeaders(i, into: h.slice(hnaLength, stride - hnaLength))
        }
        let payloadStart = segmenter.layout.headerLength + first * segmenter.segmentSize
        let plan = GatherPlan(train: p.buffer, payloadStart: payloadStart, payloadSize: segmenter.segmentSize,
                              payloadEnd: segmenter.layout.headerLength + segmenter.layout.payloadLength,
                              headerLength: stride, count: range.count)
        let bytes = range.count * stride + p.payloadBytes(range)
        peers[pi].counters.txPackets &+= UInt64(range.count)
        peers[pi].counters.txBytes &+= UInt64(bytes)
        var d = FabricDatagram(address: peers[pi].configuration.underlay, port: WellKnownPort.hna, buffer: out,
                               sourcePort: p.sourcePort)
        d.segmentSize = stride + segmenter.segmentSize
        d.gather = plan
        output.toFabric.append(d)
    }

    /// A controller `.send`: the HNA header, then (for data) the tunnel packet, which the controller
    /// keeps for resending — so the header is written into the packet's headroom and the datagram lent
    /// to the driver (`FabricDatagram.isLent`), or, when the headroom is taken, the packet is copied
    /// behind a new header. Data of an MPLS-over-GRE network goes as GRE 0x88B5 with the header written
    /// by `OuterHeader`; heartbeats and standalone acks always go to UDP port 6650.
    mutating func send(_ header: HNAHeader, _ payload: FabricPacket?, to cid: Int, output: inout NodeOutput) {
        let pi = peerByControllerID[cid]
        if let payload, payload.isTrain {
            traceSend(header, payload, to: pi, output: &output)
            return cut(payload, header: header, to: pi, port: WellKnownPort.hna, output: &output)
        }
        if let payload, payload.transport == .gre {
            let b = pool.take()
            guard b.append(contentsOf: payload.buffer.readableBytes),
                  greOuter(b, to: peers[pi].configuration.underlay, hna: header) else { return drop(b, .noRoom, output: &output) }
            traceSend(header, payload, to: pi, output: &output)
            peers[pi].counters.txPackets &+= 1
            peers[pi].counters.txBytes &+= UInt64(b.length)
            output.toFabric.append(FabricDatagram(address: peers[pi].configuration.underlay, port: 0, buffer: b, transport: .gre))
            return
        }
        let length = header.encodedLength
        if let payload, let data = payload.buffer.bytes.baseAddress, payload.buffer.headroom >= length,
           !payload.buffer.meta.headerInHeadroom {
            // Zero-copy: the header goes in the headroom in front of the packet the controller keeps,
            // and the driver sends both from there; the packet's own bytes stay as they are.
            let p = payload.buffer
            header.emit(into: UnsafeMutableRawBufferPointer(start: data - length, count: length))
            p.meta.headerInHeadroom = true
            traceSend(header, payload, to: pi, output: &output)
            peers[pi].counters.txPackets &+= 1
            peers[pi].counters.txBytes &+= UInt64(p.length + length)
            output.toFabric.append(FabricDatagram(address: peers[pi].configuration.underlay, port: WellKnownPort.hna, buffer: p,
                                                  sourcePort: payload.sourcePort, headerLength: length, isLent: true))
            return
        }
        let b = pool.take()
        guard let room = b.append(length) else { return drop(b, .noRoom, output: &output) }
        header.emit(into: room)
        if let payload {
            guard b.append(contentsOf: payload.buffer.readableBytes) else { return drop(b, .noRoom, output: &output) }
            traceSend(header, payload, to: pi, output: &output)
        }
        peers[pi].counters.txPackets &+= 1
        peers[pi].counters.txBytes &+= UInt64(b.length)
        output.toFabric.append(FabricDatagram(address: peers[pi].configuration.underlay, port: WellKnownPort.hna, buffer: b,
                                              sourcePort: payload?.sourcePort ?? 0))
    }

    @inline(__always)
    func traceSend(_ header: HNAHeader, _ payload: FabricPacket, to pi: Int, output: inout NodeOutput) {
        guard payload.buffer.meta.trace else { return }
        output.traces.append(NodeTrace(traceID: payload.buffer.meta.traceID, stage: "hna-tx",
            detail: "hna seq \(header.sequence ?? 0)\(header.isRetransmission ? " resend" : "") to \(peers[pi].configuration.name)"))
    }

    /// Returns buffers the controller no longer holds (acked) to the pool. The controller drops its
    /// reference without telling anyone, so the node keeps its own and checks for sole ownership now
    /// and then — amortised O(1) per packet, since it scans only once the list has doubled.
    mutating func reclaimLent() {
        guard lent.count >= lentScanAt else { return }
        var kept = 0
        for i in lent.indices {
            if isKnownUniquelyReferenced(&lent[i]) {
                pool.recycle(lent[i])
            } else {
                lent.swapAt(i, kept)
                kept += 1
            }
        }
        lent.removeLast(lent.count - kept)
        lentScanAt = max(256, 2 * kept)
    }
}
