import HNAWire

extension Tunnel {
    /// Bytes the outer headers add in front of the tunnel header: outer IP + UDP or GRE, plus the HNA
    /// header allowance (the tunnel header itself is counted by `tunnelHeaderLength`).
    @inlinable
    func outerOverhead(hnaAllowance: Int) -> Int {
        let ip: Int
        switch peer {
        case .v4: ip = IPv4Packet.minimumHeaderLength
        case .v6: ip = IPv6Packet.headerLength
        }
        let transport = encapsulation == .mplsOverGRE ? GREPacket.minimumHeaderLength : UDPDatagram.headerLength
        return ip + transport + hnaAllowance
    }

    @inlinable var tunnelHeaderLength: Int {
        encapsulation == .vxlan ? VXLANPacket.headerLength : MPLSLabelStackEntry.length
    }
}

extension Router {
    /// Routed packet → tunnel: TTL, MTU check (ICMP error or fragmentation), inner rewrite, tunnel header.
    @usableFromInline
    mutating func encapsulate(_ b: PacketBuffer, _ s: inout PacketState, nextHop: NextHopID, tunnel: Tunnel,
                              output: inout RouterOutput) {
        if s.routed, !decrementTTL(b, &s, output: &output) { return }
        let ethernet = tunnel.encapsulation.carriesEthernet
        // The largest inner IP packet the tunnel carries without fragmenting the outer one.
        let ipLimit = tunnel.mtu - tunnel.outerOverhead(hnaAllowance: configuration.hnaHeaderAllowance)
            - tunnel.tunnelHeaderLength - (ethernet ? EthernetFrame.minimumHeaderLength : 0)
        var ipLength = b.length - s.l3
        if _slowPath(b.meta.gsoSize > 0) {
            // A super-frame leaves as segments: each must fit, not the whole.
            guard let layout = try? TCPOffload.Layout(packet: b.readableBytes, l3: s.l3) else {
                return drop(b, &s, .malformedPacket, output: &output)
            }
            ipLength = layout.headerLength - s.l3 + min(Int(b.meta.gsoSize), layout.payloadLength)
        }
        if _slowPath(ipLength > ipLimit) {
            return tooBig(b, &s, nextHop: nextHop, tunnel: tunnel, ipLimit: ipLimit, output: &output)
        }
        pushTunnel(b, &s, nextHop: nextHop, tunnel: tunnel, output: &output)
    }

    /// Inner rewrite + tunnel header + descriptor, for a packet that fits.
    @usableFromInline
    mutating func pushTunnel(_ b: PacketBuffer, _ s: inout PacketState, nextHop: NextHopID, tunnel: Tunnel,
                             output: inout RouterOutput) {
        switch tunnel.encapsulation {
        case .vxlan:
            if s.routed {
                let mac = tunnel.innerDestinationMAC == .zero ? configuration.gatewayMAC : tunnel.innerDestinationMAC
                guard rewriteEthernet(b, &s, destination: mac) else { return drop(b, &s, .noHeadroom, output: &output) }
            }
            guard let h = b.prepend(VXLANPacket.headerLength) else { return drop(b, &s, .noHeadroom, output: &output) }
            VXLANHeader(vni: tunnel.label).emit(into: h)
        case .mplsOverGRE, .mplsOverUDP:
            // MPLS carries the IP packet: the Ethernet header goes.
            b.trimFront(s.l3)
            s.l3 = 0
            guard let h = b.prepend(MPLSLabelStackEntry.length) else { return drop(b, &s, .noHeadroom, output: &output) }
            MPLSLabelStackEntry(label: MPLSLabel(rawValue: tunnel.label), bottomOfStack: true, ttl: configuration.tunnelTTL)
                .emit(into: h)
        }
        countNextHop(nextHop, b.length)
        instances[slot(s.vrf)].counters.txPackets &+= 1
        instances[slot(s.vrf)].counters.txBytes &+= UInt64(b.length)
        let hash32 = UInt32(truncatingIfNeeded: s.hash >> 32)
        let d = TunnelDescriptor(peer: tunnel.peer, encapsulation: tunnel.encapsulation, priority: tunnel.priority,
                                 sourcePort: UDPHeader.entropySourcePort(flowHash: hash32), nextHop: nextHop,
                                 flowHash: hash32)
        s.next = .done
        trace(b, .encap, "\(tunnel.encapsulation) label \(tunnel.label) to \(tunnel.peer) sport \(d.sourcePort)", output: &output)
        output.toFabric.append(TunnelPacket(buffer: b, tunnel: d))
    }
}
