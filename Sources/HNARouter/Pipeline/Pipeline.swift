import HNAWire

extension Router {
    /// Processes a batch of Ethernet frames from VM ports (`meta.ingressInterface` set on each).
    /// Stages run over the whole batch one after the other: classify, services, flow, forward.
    public mutating func processFromInterfaces(_ batch: [PacketBuffer], now: UInt64, output: inout RouterOutput) {
        prepareStates(batch.count)
        for i in batch.indices {
            var s = PacketState()
            classifyFromInterface(batch[i], &s, output: &output)
            states[i] = s
        }
        runStages(batch, now: now, output: &output)
    }

    /// Processes a batch of tunnel packets from the fabric, each starting at its outer IP header.
    public mutating func processFromFabric(_ batch: [PacketBuffer], now: UInt64, output: inout RouterOutput) {
        prepareStates(batch.count)
        for i in batch.indices {
            var s = PacketState()
            decapsulate(batch[i], &s, output: &output)
            states[i] = s
        }
        runStages(batch, now: now, output: &output)
    }

    @inline(__always)
    mutating func prepareStates(_ n: Int) {
        if states.count < n { states.append(contentsOf: repeatElement(PacketState(), count: n - states.count)) }
    }

    @inline(__always)
    mutating func runStages(_ batch: [PacketBuffer], now: UInt64, output: inout RouterOutput) {
        // The stages mutate the router while writing per-packet state: take the state array out for
        // the duration (a swap, not a copy) so the two accesses do not overlap.
        var st: [PacketState] = []
        swap(&st, &states)
        defer { swap(&st, &states) }
        for i in batch.indices {
            switch st[i].next {
            case .arp: answerARP(batch[i], &st[i], output: &output)
            case .neighborSolicitation: answerNeighborSolicitation(batch[i], &st[i], output: &output)
            default: break
            }
        }
        for i in batch.indices where st[i].next == .flow {
            flowStage(batch[i], &st[i], now: now, output: &output)
        }
        for i in batch.indices where st[i].next == .forward {
            forwardStage(batch[i], &st[i], output: &output)
        }
    }

    // MARK: Flow stage

    /// Looks the packet's flow up. A hit on an active entry applies its action; a miss creates a pending
    /// entry and queues it for the slow path; packets of a pending flow are held (bounded).
    @inline(__always)
    mutating func flowStage(_ b: PacketBuffer, _ s: inout PacketState, now: UInt64, output: inout RouterOutput) {
        s.hash = s.key.hash
        b.meta.flowHash = UInt32(truncatingIfNeeded: s.hash >> 32)
        if let id = flows.find(s.key, hash: s.hash) {
            s.flow = id
            b.meta.flow = id
            flows.touch(id, bytes: b.length, now: now)
            let e = flows[id]
            if _fastPath(e.state == .active) {
                if _slowPath(e.action == .drop) { return drop(b, &s, .policyDeny, output: &output) }
                s.next = .forward
                trace(b, .flow, "hit \(id) forward", output: &output)
                return
            }
            trace(b, .flow, "hit \(id) pending: hold", output: &output)
            return hold(b, &s, output: &output)
        }
        guard pendingSetups < configuration.maxPendingSetups else {
            return drop(b, &s, .setupQueueFull, output: &output)
        }
        guard let id = flows.insert(s.key, hash: s.hash, state: .pending, action: .drop, now: now) else {
            return drop(b, &s, .flowTableFull, output: &output)
        }
        flows.touch(id, bytes: b.length, now: now)
        s.flow = id
        b.meta.flow = id
        setupQueue.append(id)
        trace(b, .flow, "miss: new flow \(id) queued for the slow path", output: &output)
        hold(b, &s, output: &output)
    }

    // MARK: Forward stage

    /// FIB (or L2 table, or the label's interface) → next hop → rewrite/encapsulate, for one packet
    /// whose flow allows it.
    @usableFromInline
    mutating func forwardStage(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        var nh: NextHopID
        if s.targetInterface != PacketMetadata.fabric {
            return deliver(b, &s, to: s.targetInterface, nextHop: 0, output: &output)
        }
        if s.routed {
            nh = lookupRoute(s)
            if nh == 0 { return drop(b, &s, .noRoute, output: &output) }
        } else {
            guard let n = vrfs[Int(s.vrf)]!.bridge[s.destinationMAC] else {
                return drop(b, &s, .noBridgeEntry, output: &output)
            }
            nh = n
        }
        trace(b, .lookup, "next hop \(nh)", output: &output)
        var c = nextHops.compiled[Int(nh)]
        if c.kind == .ecmp {
            guard c.count > 0 else { return drop(b, &s, .invalidNextHop, output: &output) }
            var member = s.flow == PacketMetadata.noFlow ? FlowEntry.noMember : flows[s.flow].ecmpMember
            if member == FlowEntry.noMember || UInt32(member) >= c.count {
                // First packet through this group: choose by flow hash and keep the choice in the flow,
                // so the flow stays on its member even if the group is later resized.
                member = UInt16(truncatingIfNeeded: UInt32(truncatingIfNeeded: s.hash >> 32) % c.count)
                if s.flow != PacketMetadata.noFlow { flows.setECMPMember(s.flow, member) }
            }
            nh = nextHops.ecmpMembers[Int(c.index) + Int(member)]
            c = nextHops.compiled[Int(nh)]
            trace(b, .nextHop, "ecmp member \(member): next hop \(nh)", output: &output)
        }
        switch c.kind {
        case .interface:
            deliver(b, &s, to: c.index, nextHop: nh, output: &output)
        case .tunnel:
            if s.fromFabric { return drop(b, &s, .fabricHairpin, output: &output) }
            encapsulate(b, &s, nextHop: nh, tunnel: nextHops.tunnels[Int(c.index)], output: &output)
        case .receive:
            countNextHop(nh, b.length)
            s.next = .done
            trace(b, .nextHop, "receive: to the agent", output: &output)
            output.toAgent.append(b)
        case .discard:
            drop(b, &s, .discardNextHop, output: &output)
        case .invalid, .ecmp:
            drop(b, &s, .invalidNextHop, output: &output)
        }
    }

    @inline(__always)
    func lookupRoute(_ s: PacketState) -> NextHopID {
        // Through the array element in place: binding the instance to a local would copy (and retain)
        // its tables on every packet.
        if s.isIPv6 {
            return vrfs[Int(s.vrf)]!.ipv6.lookup(IPv6Address(high: s.key.destinationHigh, low: s.key.destinationLow))
        }
        return vrfs[Int(s.vrf)]!.ipv4.lookup(IPv4Address(rawValue: UInt32(truncatingIfNeeded: s.key.destinationLow)))
    }

    @inline(__always)
    mutating func countNextHop(_ nh: NextHopID, _ bytes: Int) {
        if nh != 0 {
            nextHops.counters[Int(nh)].packets &+= 1
            nextHops.counters[Int(nh)].bytes &+= UInt64(bytes)
        }
    }

    /// Decrements the inner TTL / hop limit of a routed packet; false (and a `ttlExpired` drop) when it
    /// would reach zero.
    @inline(__always)
    mutating func decrementTTL(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) -> Bool {
        let ip = UnsafeMutableRawBufferPointer(rebasing: b.bytes[s.l3...])
        let left: UInt8?
        if s.isIPv6 {
            left = UnsafeRawBufferPointer(ip).u8(at: IPv6Packet.Field.hopLimit) > 1 ? IPv6Packet.decrementHopLimit(in: ip) : nil
        } else {
            left = UnsafeRawBufferPointer(ip).u8(at: IPv4Packet.Field.ttl) > 1 ? IPv4Packet.decrementTTL(in: ip) : nil
        }
        if left == nil {
            drop(b, &s, .ttlExpired, output: &output)
            return false
        }
        return true
    }

    /// Makes the buffer hold just the IP packet, preceded by a fresh Ethernet header (routed packets).
    @inline(__always)
    func rewriteEthernet(_ b: PacketBuffer, _ s: inout PacketState, destination: MACAddress) -> Bool {
        b.trimFront(s.l3)
        s.l3 = EthernetFrame.minimumHeaderLength
        guard let h = b.prepend(EthernetFrame.minimumHeaderLength) else { return false }
        destination.write(to: h, at: EthernetFrame.Field.destination)
        configuration.gatewayMAC.write(to: h, at: EthernetFrame.Field.source)
        h.setU16((s.isIPv6 ? EtherType.ipv6 : EtherType.ipv4).rawValue, at: EthernetFrame.Field.etherType)
        return true
    }

    /// Local delivery to a VM port: routed packets get the TTL decrement and a new Ethernet header
    /// (gateway → VM MAC); bridged frames go out as they came.
    @usableFromInline
    mutating func deliver(_ b: PacketBuffer, _ s: inout PacketState, to interface: InterfaceID, nextHop: NextHopID,
                          output: inout RouterOutput) {
        guard Int(interface) < interfaces.count, let ifc = interfaces[Int(interface)] else {
            return drop(b, &s, .invalidNextHop, output: &output)
        }
        if s.routed {
            if !s.fromFabric, !decrementTTL(b, &s, output: &output) { return }
            guard rewriteEthernet(b, &s, destination: ifc.mac) else { return drop(b, &s, .noHeadroom, output: &output) }
        }
        countNextHop(nextHop, b.length)
        interfaceCounters[Int(interface)].txPackets &+= 1
        interfaceCounters[Int(interface)].txBytes &+= UInt64(b.length)
        vrfs[Int(s.vrf)]!.counters.txPackets &+= 1
        vrfs[Int(s.vrf)]!.counters.txBytes &+= UInt64(b.length)
        s.next = .done
        trace(b, .rewrite, "deliver to interface \(interface)", output: &output)
        output.toInterfaces.append(InterfacePacket(interface: interface, buffer: b))
    }
}
