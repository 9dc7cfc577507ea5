import HNAWire

extension Router {
    /// Outer IP → UDP (4789 VXLAN, 6635 MPLS, 6650 HNA) or GRE (0x8847 MPLS, 0x88B5 HNA) → [HNA header]
    /// → VXLAN or MPLS → the label/VNI's VRF or interface → the inner packet, classified in that VRF.
    /// The HNA header, when present, is skipped here: the communications controller has read it.
    @inline(__always)
    mutating func decapsulate(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        s.fromFabric = true
        b.meta.ingressInterface = PacketMetadata.fabric
        let raw = b.readableBytes
        var offset = 0
        var transport = IPProtocol(rawValue: 0)
        do {
            guard raw.count > 0 else { throw WireError.truncated(header: "ip", needed: 1, available: 0) }
            if raw.u8(at: 0) >> 4 == IPv4Packet.version {
                let ip = try IPv4Packet(checking: raw)
                if ip.isFragment { return drop(b, &s, .unknownTunnel, output: &output) }
                transport = ip.protocol
                offset = ip.headerLength
                b.truncate(to: ip.totalLength)
            } else {
                let ip = try IPv6Packet(checking: raw)
                transport = ip.nextHeader
                offset = IPv6Packet.headerLength
                b.truncate(to: IPv6Packet.headerLength + ip.payloadLength)
            }
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        let outer = b.readableBytes
        var vxlan = false
        do {
            var hna = false
            if transport == .udp {
                let udp = try UDPDatagram(checking: outer.tail(from: offset))
                let port = udp.destinationPort
                offset += UDPDatagram.headerLength
                if port == WellKnownPort.vxlan { vxlan = true } else if port == WellKnownPort.mplsOverUDP { vxlan = false } else if port == WellKnownPort.hna { hna = true } else {
                    return drop(b, &s, .unknownTunnel, output: &output)
                }
            } else if transport == .gre {
                let gre = try GREPacket(checking: outer.tail(from: offset))
                offset += gre.headerLength
                if gre.protocolType == .hna { hna = true } else if gre.protocolType != .mplsUnicast {
                    return drop(b, &s, .unknownTunnel, output: &output)
                }
            } else {
                return drop(b, &s, .unknownTunnel, output: &output)
            }
            if hna {
                let h = try HNAHeaderView(checking: outer.tail(from: offset))
                offset += h.headerLength
                switch h.nextProtocol {
                case .vxlan where transport == .udp: vxlan = true
                case .mpls: vxlan = false
                default: return drop(b, &s, .unknownTunnel, output: &output)
                }
            }
            var target: UInt32
            if vxlan {
                let v = try VXLANPacket(checking: outer.tail(from: offset))
                offset += VXLANPacket.headerLength
                let vni = Int(v.vni)
                target = vni < vniTargets.count ? vniTargets[vni] : Self.noTarget
                trace(b, .decap, "vxlan vni \(vni)", output: &output)
            } else {
                let m = try MPLSPacket(checking: outer.tail(from: offset))
                offset += m.headerLength
                let label = Int(m.top.label.rawValue)
                target = label < labelTargets.count ? labelTargets[label] : Self.noTarget
                trace(b, .decap, "mpls label \(label)", output: &output)
            }
            if target == Self.noTarget { return drop(b, &s, .unknownLabel, output: &output) }
            if target & Self.interfaceTargetFlag != 0 {
                let i = target & ~Self.interfaceTargetFlag
                guard Int(i) < interfaces.count, let ifc = interfaces[Int(i)] else {
                    return drop(b, &s, .unknownLabel, output: &output)
                }
                s.targetInterface = i
                target = UInt32(ifc.vrf)
            }
            guard Int(target) < vrfs.count, vrfs[Int(target)] != nil else { return drop(b, &s, .unknownVRF, output: &output) }
            s.vrf = VRFID(truncatingIfNeeded: target)
            s.vrfKnown = true
            b.meta.vrf = s.vrf
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        b.trimFront(offset)
        vrfs[Int(s.vrf)]!.counters.rxPackets &+= 1
        vrfs[Int(s.vrf)]!.counters.rxBytes &+= UInt64(b.length)
        if vxlan {
            // A frame to a VM MAC is bridged (or, when the VNI named an interface, delivered as it is).
            classifyFrame(b, &s, output: &output)
        } else {
            // MPLS carries a bare IP packet: routed by definition.
            s.l3 = 0
            s.routed = true
            parseIP(b, &s, output: &output)
            if s.next == .neighborSolicitation { drop(b, &s, .unsupportedProtocol, output: &output) }
        }
        if s.next == .arp { drop(b, &s, .unsupportedProtocol, output: &output) }
    }
}
