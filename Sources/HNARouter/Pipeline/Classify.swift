import HNAWire

extension Router {
    /// Parse + classify for a frame from a VM port: the VRF comes from the port (never from the packet),
    /// ARP and neighbour solicitations go to the proxy service, IP goes on to the flow stage, routed when
    /// addressed to the gateway MAC and bridged otherwise.
    @inline(__always)
    mutating func classifyFromInterface(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        let ingress = b.meta.ingressInterface
        guard Int(ingress) < interfaces.count, let ifc = interfaces[Int(ingress)] else {
            return drop(b, &s, .unknownInterface, output: &output)
        }
        interfaceCounters[Int(ingress)].rxPackets &+= 1
        interfaceCounters[Int(ingress)].rxBytes &+= UInt64(b.length)
        guard Int(ifc.vrf) < vrfs.count, vrfs[Int(ifc.vrf)] != nil else {
            return drop(b, &s, .unknownVRF, output: &output)
        }
        s.vrf = ifc.vrf
        s.vrfKnown = true
        b.meta.vrf = ifc.vrf
        vrfs[Int(ifc.vrf)]!.counters.rxPackets &+= 1
        vrfs[Int(ifc.vrf)]!.counters.rxBytes &+= UInt64(b.length)
        classifyFrame(b, &s, output: &output)
    }

    /// Classifies an Ethernet frame already placed in `s.vrf` (from a port, or decapsulated from VXLAN).
    @inline(__always)
    mutating func classifyFrame(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        let gateway = configuration.gatewayMAC
        var kind = 0 // 0 drop(unsupported) 1 arp 2 ip
        var l3 = 0
        var dst = MACAddress.zero
        do {
            let eth = try EthernetFrame(checking: b.readableBytes)
            l3 = eth.headerLength
            dst = eth.destination
            let et = eth.etherType
            if et == .arp { kind = 1 } else if et == .ipv4 || et == .ipv6 { kind = 2 }
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        s.destinationMAC = dst
        s.l3 = l3
        if kind == 1 {
            s.next = .arp
            trace(b, .classify, "arp", output: &output)
            return
        }
        guard kind == 2 else { return drop(b, &s, .unsupportedProtocol, output: &output) }
        s.routed = dst == gateway
        if !s.routed, dst.isMulticast {
            // Multicast IP is only taken for IPv6 neighbour discovery; everything else would need
            // flooding, which the overlay avoids by answering on the VMs' behalf.
            parseIP(b, &s, output: &output)
            if s.next == .neighborSolicitation { return }
            if s.next != .done { drop(b, &s, .floodSuppressed, output: &output) }
            return
        }
        parseIP(b, &s, output: &output)
    }

    /// Reads the flow key from the IP packet at `s.l3`. Non-first fragments carry no ports: every
    /// fragment of a datagram is keyed with ports 0 (documented in docs/router.md).
    @inline(__always)
    mutating func parseIP(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        let raw = b.readableBytes.tail(from: s.l3)
        guard raw.count > 0 else { return drop(b, &s, .malformedPacket, output: &output) }
        let version = raw.u8(at: 0) >> 4
        do {
            if version == IPv4Packet.version {
                let ip = try IPv4Packet(checking: raw)
                s.isIPv6 = false
                let proto = ip.protocol
                var sport: UInt16 = 0, dport: UInt16 = 0
                if !ip.isFragment {
                    (sport, dport) = try Self.ports(proto, ip.payload)
                }
                s.key = FlowKey(vrf: s.vrf, source: ip.source, destination: ip.destination, protocol: proto,
                                sourcePort: sport, destinationPort: dport)
                // Trailing link-layer padding is not part of the packet.
                b.truncate(to: s.l3 + ip.totalLength)
            } else if version == IPv6Packet.version {
                let ip = try IPv6Packet(checking: raw)
                s.isIPv6 = true
                let upper = try ip.upperLayer()
                var sport: UInt16 = 0, dport: UInt16 = 0
                if upper.fragment == nil {
                    let l4 = raw.tail(from: upper.offset)
                    if upper.protocol == .icmpv6, l4.count >= ICMPv6Packet.headerLength,
                       ICMPv6Type(rawValue: l4.u8(at: ICMPv6Packet.Field.type)) == .neighborSolicitation {
                        s.next = .neighborSolicitation
                        trace(b, .classify, "neighbour solicitation", output: &output)
                        return
                    }
                    (sport, dport) = try Self.ports(upper.protocol, l4)
                }
                s.key = FlowKey(vrf: s.vrf, source: ip.source, destination: ip.destination, protocol: upper.protocol,
                                sourcePort: sport, destinationPort: dport)
                b.truncate(to: s.l3 + IPv6Packet.headerLength + ip.payloadLength)
            } else {
                return drop(b, &s, .malformedPacket, output: &output)
            }
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        s.next = .flow
        if b.meta.trace { trace(b, .classify, "\(s.routed ? "routed" : "bridged") \(s.key)", output: &output) }
    }

    /// The flow's ports: TCP/UDP ports; for ICMP echo the identifier on both sides (so a reply matches
    /// the request's reverse entry); 0 otherwise.
    @inline(__always)
    static func ports(_ proto: IPProtocol, _ l4: UnsafeRawBufferPointer) throws(WireError) -> (UInt16, UInt16) {
        switch proto {
        case .tcp:
            try WireError.require(TCPSegment.Field.destinationPort + 2, in: l4, header: TCPSegment.header)
            return (l4.u16(at: TCPSegment.Field.sourcePort), l4.u16(at: TCPSegment.Field.destinationPort))
        case .udp:
            try WireError.require(UDPDatagram.Field.destinationPort + 2, in: l4, header: UDPDatagram.header)
            return (l4.u16(at: UDPDatagram.Field.sourcePort), l4.u16(at: UDPDatagram.Field.destinationPort))
        case .icmp:
            try WireError.require(ICMPv4Packet.headerLength, in: l4, header: ICMPv4Packet.header)
            let t = ICMPv4Type(rawValue: l4.u8(at: ICMPv4Packet.Field.type))
            guard t == .echoRequest || t == .echoReply else { return (0, 0) }
            let id = l4.u16(at: ICMPv4Packet.Field.identifier)
            return (id, id)
        case .icmpv6:
            try WireError.require(ICMPv6Packet.headerLength, in: l4, header: ICMPv6Packet.header)
            let t = ICMPv6Type(rawValue: l4.u8(at: ICMPv6Packet.Field.type))
            guard t == .echoRequest || t == .echoReply else { return (0, 0) }
            let id = l4.u16(at: ICMPv6Packet.Field.identifier)
            return (id, id)
        default:
            return (0, 0)
        }
    }

    // MARK: Drops and traces

    /// Drops with a named reason: counts it (globally, per VRF, per ingress port) and hands the buffer
    /// back in `output.dropped`.
    @usableFromInline
    mutating func drop(_ b: PacketBuffer, _ s: inout PacketState, _ reason: DropReason, output: inout RouterOutput) {
        s.next = .done
        drops.count(reason)
        if s.vrfKnown, Int(s.vrf) < vrfs.count, vrfs[Int(s.vrf)] != nil { vrfs[Int(s.vrf)]!.counters.drops &+= 1 }
        let i = Int(b.meta.ingressInterface)
        if i < interfaceCounters.count { interfaceCounters[i].drops &+= 1 }
        if b.meta.trace { trace(b, .drop, reason.name, output: &output) }
        output.dropped.append(DroppedPacket(buffer: b, reason: reason))
    }

    @inline(__always)
    func trace(_ b: PacketBuffer, _ stage: TraceStage, _ detail: @autoclosure () -> String, output: inout RouterOutput) {
        if _slowPath(b.meta.trace) {
            output.traces.append(TraceRecord(traceID: b.meta.traceID, stage: stage, detail: detail()))
        }
    }
}
