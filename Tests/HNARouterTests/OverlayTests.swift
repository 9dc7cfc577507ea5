import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

@Suite struct OverlayTests {
    /// VM on A → tunnel → outer headers → HNA B decapsulates → VM on B, for every encapsulation, with
    /// and without the HNA header; the inner IP packet arrives intact (apart from the one TTL hop).
    @Test(arguments: Encapsulation.allCases, [false, true])
    func encapsulationRoundTrip(encapsulation: Encapsulation, withHNAHeader: Bool) throws {
        var a = Lab(encapsulation: encapsulation)
        let ip = Build.udp4(src: Lab.vm1, dst: Lab.remote, sport: 4444, ttl: 20)
        let out = a.send([Build.frame4(to: a.gateway, ip)], from: 1)
        let t = try #require(out.toFabric.first)
        #expect(t.tunnel.peer == Lab.peer && t.tunnel.encapsulation == encapsulation)
        #expect(WellKnownPort.entropyRange.contains(t.tunnel.sourcePort))
        // The buffer starts at the tunnel header.
        if encapsulation == .vxlan {
            #expect(try VXLANHeader(parsing: t.buffer.readableBytes).vni == 5001)
        } else {
            let m = try MPLSPacket(checking: t.buffer.readableBytes)
            #expect(m.top.label.rawValue == 77 && m.top.bottomOfStack)
        }
        let hna = withHNAHeader ? HNAHeader(nextProtocol: .none, priority: 0, timestamp: 1, queueLengths: PriorityVector(count: 4),
                                            grantedRates: PriorityVector(count: 4), sequence: 3) : nil
        #expect(OuterHeader.write(into: t.buffer, tunnel: t.tunnel, source: Lab.local, hna: hna))
        let wire = t.buffer.array
        // What the outer header says.
        let outer = try wire.withUnsafeBytes { try IPv4Packet(checking: $0) }
        #expect(outer.protocol == (encapsulation == .mplsOverGRE ? .gre : .udp))
        if encapsulation != .mplsOverGRE {
            let udp = try wire.withUnsafeBytes { try UDPHeader(parsing: $0.tail(from: 20)) }
            let standard = encapsulation == .vxlan ? WellKnownPort.vxlan : WellKnownPort.mplsOverUDP
            #expect(udp.destinationPort == (withHNAHeader ? WellKnownPort.hna : standard))
            #expect(udp.sourcePort == t.tunnel.sourcePort)
        } else {
            let gre = try wire.withUnsafeBytes { try GREHeader(parsing: $0.tail(from: 20)) }
            #expect(gre.protocolType == (withHNAHeader ? .hna : .mplsUnicast))
        }

        // HNA B: the label/VNI maps to VRF 1 where 10.0.1.5 is a local VM on port 1.
        var b = Lab(encapsulation: encapsulation)
        let local = b.router.addNextHop(.interface(2))
        b.router.addRoute(1, IPv4Prefix(Lab.remote, 32), nextHop: local)
        b.router.mapVNI(5001, to: .vrf(1))
        b.router.mapLabel(77, to: .vrf(1))
        let got = b.receive([wire])
        let d = try #require(got.toInterfaces.first, "drops: \(got.dropped.map(\.reason))")
        #expect(d.interface == 2)
        let eth = try EthernetHeader(parsing: d.buffer.readableBytes)
        #expect(eth.destination == Lab.mac2 && eth.source == b.gateway && eth.etherType == .ipv4)
        var expected = ip
        expected.withUnsafeMutableBytes { _ = IPv4Packet.decrementTTL(in: $0) }
        #expect(Array(d.buffer.array.dropFirst(14)) == expected)
    }

    /// VXLAN to a remote VM's MAC: the receiving HNA bridges the inner frame by its L2 table.
    @Test func vxlanToARemoteMACIsBridgedOnArrival() throws {
        let remoteMAC = MACAddress(0x02, 0, 0, 0, 1, 5)
        var a = Lab(encapsulation: .vxlan)
        a.router.setNextHop(a.tunnelNH, .tunnel(Tunnel(peer: Lab.peer, encapsulation: .vxlan, label: 5001, innerDestinationMAC: remoteMAC)))
        let out = a.send([Build.frame4(to: a.gateway, Build.udp4(src: Lab.vm1, dst: Lab.remote))], from: 1)
        let t = try #require(out.toFabric.first)
        OuterHeader.write(into: t.buffer, tunnel: t.tunnel, source: Lab.local)
        var b = Lab(encapsulation: .vxlan)
        b.router.mapVNI(5001, to: .vrf(1))
        b.router.addBridgeEntry(1, remoteMAC, nextHop: b.vm2NH)
        let got = b.receive([t.buffer.array])
        let d = try #require(got.toInterfaces.first, "drops: \(got.dropped.map(\.reason))")
        #expect(d.interface == 2)
        #expect(try EthernetHeader(parsing: d.buffer.readableBytes).destination == remoteMAC)
    }

    @Test func entropyPortIsStablePerFlowAndVariesAcrossFlows() throws {
        var lab = Lab(encapsulation: .mplsOverUDP)
        var ports: [UInt16: UInt16] = [:]
        for round in 0 ..< 2 {
            for sport in UInt16(1) ... 100 {
                let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.remote, sport: sport))], from: 1)
                let p = try #require(out.toFabric.first).tunnel.sourcePort
                #expect(WellKnownPort.entropyRange.contains(p))
                if round == 0 { ports[sport] = p } else { #expect(ports[sport] == p) }
            }
        }
        #expect(Set(ports.values).count > 90)
    }

    @Test func ipv6OverTunnelAndTooBig() throws {
        var lab = Lab(encapsulation: .vxlan, mtu: 1300)
        let small = Build.udp6(src: Lab.vm1v6, dst: Lab.remotev6, payload: 100)
        var out = lab.send([Build.frame6(to: lab.gateway, small)], from: 1)
        #expect(out.toFabric.count == 1)
        let big = Build.udp6(src: Lab.vm1v6, dst: Lab.remotev6, payload: 1300)
        out = lab.send([Build.frame6(to: lab.gateway, big)], from: 1)
        #expect(out.dropped.map(\.reason) == [.packetTooBig])
        let reply = try #require(out.toInterfaces.first)
        #expect(reply.interface == 1)
        let bytes = reply.buffer.readableBytes
        let ip6 = try IPv6Packet(checking: bytes.tail(from: 14))
        #expect(ip6.destination == Lab.vm1v6 && ip6.source == IPv6Address("fd00::fe")!)
        let icmp = try ICMPv6Packet(checking: ip6.payload)
        #expect(icmp.type == .packetTooBig)
        // 1300 − outer IPv4 20 − UDP 8 − HNA allowance 32 − VXLAN 8 − inner Ethernet 14.
        #expect(icmp.mtu == 1218)
        #expect(icmp.checksumValid(source: ip6.source, destination: ip6.destination))
    }

    @Test func ipv4DontFragmentGetsFragmentationNeeded() throws {
        var lab = Lab(encapsulation: .mplsOverGRE, mtu: 600)
        let big = Build.udp4(src: Lab.vm1, dst: Lab.remote, payload: 1000, df: true)
        let out = lab.send([Build.frame4(to: lab.gateway, big)], from: 1)
        #expect(out.dropped.map(\.reason) == [.packetTooBig])
        let reply = try #require(out.toInterfaces.first)
        let ip = try IPv4Packet(checking: reply.buffer.readableBytes.tail(from: 14))
        #expect(ip.destination == Lab.vm1 && ip.checksumValid)
        let icmp = try ICMPv4Packet(checking: ip.payload)
        #expect(icmp.type == .destinationUnreachable && icmp.code == .fragmentationNeeded && icmp.checksumValid)
        // 600 − 20 − GRE 4 − 32 − MPLS 4.
        #expect(icmp.nextHopMTU == 540)
        // The quote starts with the offending header.
        #expect(IPv4Address(reading: icmp.body, at: IPv4Packet.Field.destination) == Lab.remote)
        #expect(icmp.body.count == 576 - 28)
    }

    @Test func ipv4WithoutDontFragmentIsFragmentedBeforeEncapsulation() throws {
        var lab = Lab(encapsulation: .mplsOverUDP, mtu: 600)
        let big = Build.udp4(src: Lab.vm1, dst: Lab.remote, payload: 1400)
        let out = lab.send([Build.frame4(to: lab.gateway, big)], from: 1)
        #expect(out.dropped.isEmpty)
        #expect(out.toFabric.count == 3)
        var reassembled = [UInt8](repeating: 0, count: big.count - 20)
        var covered = 0
        for (i, t) in out.toFabric.enumerated() {
            let inner = t.buffer.readableBytes.tail(from: 4)
            let ip = try IPv4Packet(checking: inner)
            #expect(ip.checksumValid)
            #expect(ip.totalLength + 4 + 32 + 8 + 20 <= 600)
            #expect(ip.moreFragments == (i < 2))
            #expect(ip.identification == 0x1234)
            let off = Int(ip.fragmentOffset) * 8
            for (k, byte) in ip.payload.enumerated() { reassembled[off + k] = byte }
            covered += ip.payload.count
        }
        #expect(covered == big.count - 20)
        #expect(reassembled == Array(big.dropFirst(20)))
    }

    @Test func labelStraightToInterfaceAndUnknownLabels() throws {
        var lab = Lab(encapsulation: .mplsOverUDP)
        // Label 17 names port 1 directly (no FIB lookup).
        var packet = MPLSLabelStackEntry(label: MPLSLabel(rawValue: 17), bottomOfStack: true, ttl: 64).emitted()
            + Build.udp4(src: Lab.remote, dst: Lab.vm1)
        let buf = PacketBuffer()
        buf.load(packet)
        let d = TunnelDescriptor(peer: Lab.local, encapsulation: .mplsOverUDP, priority: 0, sourcePort: 50000, nextHop: 0, flowHash: 0)
        OuterHeader.write(into: buf, tunnel: d, source: Lab.peer)
        var out = lab.receive([buf.array])
        #expect(try #require(out.toInterfaces.first).interface == 1)
        packet[1] = 0x90 // label 0x0009: unmapped
        buf.load(packet)
        OuterHeader.write(into: buf, tunnel: d, source: Lab.peer)
        out = lab.receive([buf.array])
        #expect(out.dropped.map(\.reason) == [.unknownLabel])
        // A UDP packet to a port that is no tunnel.
        let notTunnel = Build.udp4(src: IPv4Address(192, 168, 0, 2), dst: IPv4Address(192, 168, 0, 1), dport: 53)
        out = lab.receive([notTunnel])
        #expect(out.dropped.map(\.reason) == [.unknownTunnel])
    }

    @Test func decapsulatedPacketsAreNotSentBackIntoTheFabric() {
        var lab = Lab(encapsulation: .mplsOverUDP)
        let buf = PacketBuffer()
        buf.load(MPLSLabelStackEntry(label: MPLSLabel(rawValue: 16), bottomOfStack: true, ttl: 64).emitted()
            + Build.udp4(src: Lab.vm1, dst: Lab.remote))
        OuterHeader.write(into: buf, tunnel: TunnelDescriptor(peer: Lab.local, encapsulation: .mplsOverUDP, priority: 0,
                                                              sourcePort: 50000, nextHop: 0, flowHash: 0), source: Lab.peer)
        let out = lab.receive([buf.array])
        #expect(out.dropped.map(\.reason) == [.fabricHairpin])
    }

    @Test func outerHeadersOverIPv6() throws {
        let buf = PacketBuffer()
        buf.load(VXLANHeader(vni: 9).emitted() + [UInt8](repeating: 7, count: 20))
        let peer = IPAddress.v6(IPv6Address("2001:db8::2")!)
        let d = TunnelDescriptor(peer: peer, encapsulation: .vxlan, priority: 0, sourcePort: 55555, nextHop: 0, flowHash: 0)
        #expect(!OuterHeader.write(into: buf, tunnel: d, source: Lab.local))
        #expect(OuterHeader.write(into: buf, tunnel: d, source: .v6(IPv6Address("2001:db8::1")!)))
        let ip = try IPv6Packet(checking: buf.readableBytes)
        #expect(ip.nextHeader == .udp && ip.payloadLength == 8 + 8 + 20)
        let udp = try UDPHeader(parsing: ip.payload)
        #expect(udp.destinationPort == WellKnownPort.vxlan && udp.sourcePort == 55555)
    }
}
