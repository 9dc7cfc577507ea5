import HNACore
import HNAWire

/// What the simulator's hosts queue: a descriptor of one application segment. The controller never
/// looks inside; its wire length is what the fabric carries besides the HNA header.
public struct SimPayload: FabricPayload, Sendable {
    public var flow: Int32
    public var bytes: Int32

    @inlinable
    public init(flow: Int32, bytes: Int32) {
        self.flow = flow
        self.bytes = bytes
    }

    /// Outer headers, the tunnelled packet's encapsulation and the application bytes.
    @inlinable
    public var wireLength: Int { Framing.outerHeaderBytes + Framing.innerEncapsulationBytes + Int(bytes) }
    @inlinable
    public var nextProtocol: HNANextProtocol { .vxlan }
}

/// A host running HNACore's communications controller: VOQs, scheduler, reliability, and, depending on
/// the mode, HNA's flow control (Eq. 3/4), none (line rate), or a DCQCN-like rate per destination that
/// this adapter computes from congestion notifications and hands to the controller as a rate limit.
public struct HNAHost: SimHost {
    public let id: Int
    public let mode: FlowControlMode
    public private(set) var controller: FlowController<SimPayload>
    var dcqcn: DCQCN?
    /// `mode == .dcqcn`: tested instead of `dcqcn != nil`, which copies the optional (and its arrays).
    let hasDCQCN: Bool
    let peers: Int

    /// The controller configuration the simulator uses: one priority (the workloads have one class of
    /// traffic, and it keeps per-pair state small at thousands of hosts), wire units for the line rate;
    /// everything else is HNACore's default.
    /// The rate unit is the finest power of two whose 16-bit range still reaches the line rate: the
    /// default unit (16 MiB/s) would round a 1/64 share of 100 Gb/s down by 6%.
    public static func controllerConfig(lineRate: Double) -> FlowControlConfig {
        var c = FlowControlConfig()
        c.priorities = 1
        c.minimumPriorityShare = 0
        var unit: UInt64 = 1
        while Double(unit) * Double(FlowUnits.maxEncoded) < lineRate { unit <<= 1 }
        c.units = FlowUnits(queueUnitBytes: c.units.queueUnitBytes, rateUnitBytesPerSecond: unit)
        return c
    }

    public init(id: Int, fabric: Fabric, mode: FlowControlMode, config: FlowControlConfig? = nil) {
        self.id = id
        self.mode = mode
        hasDCQCN = mode == .dcqcn
        peers = fabric.hosts
        let rate = fabric.links[fabric.hostUplink(id)].bytesPerSecond
        let config = config ?? Self.controllerConfig(lineRate: rate)
        controller = FlowController(config: config, peerCount: fabric.hosts, txBandwidth: rate, rxBandwidth: rate, now: 0)
        switch mode {
        case .hna:
            break
        case .none:
            controller.setFlowControl(enabled: false)
        case .dcqcn:
            controller.setFlowControl(enabled: false)
            dcqcn = DCQCN(lineRate: rate, hosts: fabric.hosts)
        }
    }

    public mutating func enqueue(dst: Int, flow: Int32, payloadBytes: Int, now: SimTime) -> Bool {
        if case .queued = controller.enqueue(SimPayload(flow: flow, bytes: Int32(payloadBytes)), to: dst, priority: 0, now: now) {
            return true
        }
        return false
    }

    @inline(__always)
    public func queuedBytes(to dst: Int) -> Int { controller.queuedBytes(to: dst, priority: 0) }

    public mutating func receive(_ packet: Packet, now: SimTime, io: inout HostIO) {
        let src = Int(packet.src)
        if packet.kind == .congestionNotification {
            if hasDCQCN { dcqcn!.notified(by: src, now: now, controller: &controller) }
            return
        }
        guard let carried = packet.header else { return }
        let nacks = io.takeNacks(carried.nackSlot)
        let payload = packet.kind == .data ? SimPayload(flow: packet.flow, bytes: packet.payloadBytes) : nil
        controller.receive(carried.flowHeader(nackCount: nacks.count), nacks: nacks, payload: payload, from: src,
                           now: now)
        if packet.ce, hasDCQCN, dcqcn!.shouldNotify(src, now: now) {
            let wire = Framing.outerHeaderBytes + HNAHeader.length(priorities: 1, data: false, acks: false, nacks: 0)
            io.sends.append(Packet(src: Int32(id), dst: packet.src, wireBytes: Int32(wire), flow: -1, payloadBytes: 0,
                                   kind: .congestionNotification, hash: Self.hash(id, src, -1)))
        }
        collect(&io)
    }

    public mutating func poll(now: SimTime, io: inout HostIO) {
        if hasDCQCN && dcqcn!.nextTick <= now {
            dcqcn!.tick(now: now, controller: &controller)
        }
        controller.poll(now: now)
        collect(&io)
    }

    /// Mutating (see `SimHost.nextDeadline`).
    public var nextDeadline: SimTime? {
        @inline(__always) mutating get {
        let c = controller.nextDeadline
        let tick = hasDCQCN ? dcqcn!.nextTick : .max
        return tick == .max ? c : min(c ?? .max, tick)
        }
    }

    public var prefetcher: FlowPrefetcher? { controller.prefetcher }

    public var stats: HostStats {
        let c = controller.counters
        var s = HostStats()
        s.ingressDrops = c.ingressDrops.reduce(0, +)
        s.retransmissions = c.retransmissions
        s.reorderOverflows = c.reorderOverflows
        s.duplicates = c.duplicates
        s.heartbeats = c.heartbeatsSent
        return s
    }

    @inline(__always)
    static func hash(_ src: Int, _ dst: Int, _ flow: Int32) -> UInt32 {
        UInt32(truncatingIfNeeded: src &* 0x9E37_79B1 ^ dst &* 0x85EB_CA77 ^ Int(flow) &* 0xC2B2_AE3D)
    }

    /// Turns the controller's actions into packets and deliveries.
    mutating func collect(_ io: inout HostIO) {
        let ect = mode == .dcqcn
        let id = self.id
        controller.takeActions(send: { peer, full, nacks, payload in
            let header = SimHeader(full, nackSlot: nacks.isEmpty ? -1 : io.storeNacks(nacks))
            if let p = payload {
                var pkt = Packet(src: Int32(id), dst: Int32(peer), wireBytes: Int32(p.wireLength + Int(header.encodedLength)),
                                 flow: p.flow, payloadBytes: p.bytes, kind: .data,
                                 hash: Self.hash(id, peer, p.flow), header: header)
                pkt.ect = ect
                io.sends.append(pkt)
            } else {
                let kind: PacketKind = !header.hasAcks && header.nackSlot < 0 ? .heartbeat : .control
                io.sends.append(Packet(src: Int32(id), dst: Int32(peer),
                                    wireBytes: Int32(Framing.outerHeaderBytes + Int(header.encodedLength)),
                                    flow: -1, payloadBytes: 0, kind: kind, hash: Self.hash(id, peer, -1),
                                    header: header))
            }
        }, deliver: { _, _, payload in
            io.deliveries.append(Delivery(flow: payload.flow, bytes: payload.bytes))
        })

    }
}
