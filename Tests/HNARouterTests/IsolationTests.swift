import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

/// A packet never leaves its VRF unless a route says so: a random multi-tenant configuration where
/// every tenant uses the same address space, random packets from every port and from the fabric, and
/// every delivery checked against the tenant it came from.
@Suite struct IsolationTests {
    #if DEBUG
    /// Debug builds run a tenth of the packets to stay within a few seconds; `swift test -c release`
    /// runs the full million.
    static let packets = 100_000
    #else
    static let packets = 1_000_000
    #endif

    @Test func randomPacketsNeverCrossVRFs() throws {
        var rng = SplitMix64(seed: 0x150_1A7E)
        var config = RouterConfiguration()
        config.flowCapacity = 1 << 16
        config.flowIdleTimeout = 1
        var router = Router(configuration: config)
        let tenants = 24
        let portsPerTenant = 4
        var portVRF: [InterfaceID: VRFID] = [:]
        var labelVRF: [UInt32: VRFID] = [:]   // outgoing tunnel label → the tenant whose route uses it
        var port: InterfaceID = 1
        for t in 0 ..< tenants {
            let vrf = VRFID(t + 1)
            router.addVRF(vrf, gatewayIPv4: [IPv4Address(10, 0, 0, 254)])
            for p in 0 ..< portsPerTenant {
                router.addInterface(port, InterfaceConfiguration(vrf: vrf, mac: MACAddress(rawValue: 0x0200_0000_0000 | UInt64(port))))
                portVRF[port] = vrf
                let nh = router.addNextHop(.interface(port))
                // Same addresses in every tenant: 10.0.0.p.
                router.addRoute(vrf, IPv4Prefix(IPv4Address(10, 0, 0, UInt8(p + 1)), 32), nextHop: nh)
                port += 1
            }
            // Remote subnets of this tenant behind tunnels with tenant-specific labels.
            for r in 0 ..< 3 {
                let label = UInt32(1000 + t * 10 + r)
                let enc = Encapsulation.allCases[r % 3]
                let nh = router.addNextHop(.tunnel(Tunnel(peer: .v4(IPv4Address(192, 168, 0, UInt8(r + 2))), encapsulation: enc, label: label)))
                router.addRoute(vrf, IPv4Prefix(IPv4Address(10, 0, UInt8(r + 1), 0), 24), nextHop: nh)
                labelVRF[label] = vrf
            }
            // Incoming labels/VNIs of this tenant.
            router.mapLabel(UInt32(100 + t), to: .vrf(vrf))
            router.mapVNI(UInt32(5000 + t), to: .vrf(vrf))
        }
        let gateway = config.gatewayMAC
        let ports = Array(portVRF.keys)
        var out = RouterOutput()
        var deliveries = 0, tunnelled = 0, crossings = 0
        var batch: [PacketBuffer] = []
        var sentVRF: [ObjectIdentifier: VRFID] = [:]
        let pool = router.pool
        var now: UInt64 = 0

        func check(_ out: inout RouterOutput) {
            for d in out.toInterfaces {
                deliveries += 1
                if let want = sentVRF[ObjectIdentifier(d.buffer)], portVRF[d.interface] != want { crossings += 1 }
            }
            for t in out.toFabric {
                tunnelled += 1
                let label: UInt32
                if t.tunnel.encapsulation == .vxlan {
                    label = (try? VXLANHeader(parsing: t.buffer.readableBytes).vni) ?? 0
                } else {
                    label = (try? MPLSPacket(checking: t.buffer.readableBytes).top.label.rawValue) ?? 0
                }
                if labelVRF[label] != sentVRF[ObjectIdentifier(t.buffer)] { crossings += 1 }
            }
            out.recycle(into: pool)
        }

        var sent = 0
        while sent < Self.packets {
            batch.removeAll(keepingCapacity: true)
            let fromFabric = rng.next() % 4 == 0
            for _ in 0 ..< 64 {
                let b = pool.take()
                let dst = IPv4Address(10, 0, UInt8(rng.next() % 5), UInt8(rng.next() % 6))
                let src = IPv4Address(10, 0, UInt8(rng.next() % 4), UInt8(1 + rng.next() % 5))
                let ip = Build.udp4(src: src, dst: dst, sport: UInt16(truncatingIfNeeded: rng.next() % 50), dport: 80,
                                    proto: rng.next() % 2 == 0 ? .udp : .tcp)
                if fromFabric {
                    let t = Int(rng.next() % UInt64(tenants + 2)) // some labels map to nothing
                    let vxlan = rng.next() % 2 == 0
                    let inner: [UInt8] = vxlan
                        ? VXLANHeader(vni: UInt32(5000 + t)).emitted() + Build.frame4(to: gateway, ip)
                        : MPLSLabelStackEntry(label: MPLSLabel(rawValue: UInt32(100 + t)), bottomOfStack: true, ttl: 9).emitted() + ip
                    b.load(inner)
                    let d = TunnelDescriptor(peer: .v4(IPv4Address(192, 168, 0, 1)), encapsulation: vxlan ? .vxlan : .mplsOverUDP,
                                             priority: 0, sourcePort: 50000, nextHop: 0, flowHash: 0)
                    OuterHeader.write(into: b, tunnel: d, source: .v4(IPv4Address(192, 168, 0, 9)))
                    if t < tenants { sentVRF[ObjectIdentifier(b)] = VRFID(t + 1) } else { sentVRF[ObjectIdentifier(b)] = nil }
                } else {
                    let p = ports[Int(rng.next() % UInt64(ports.count))]
                    b.load(Build.frame4(to: gateway, from: MACAddress(rawValue: 0x0200_0000_0000 | UInt64(p)), ip))
                    b.meta.ingressInterface = p
                    sentVRF[ObjectIdentifier(b)] = portVRF[p]
                }
                batch.append(b)
            }
            now += 1
            if fromFabric { router.processFromFabric(batch, now: now, output: &out) } else { router.processFromInterfaces(batch, now: now, output: &out) }
            router.runSlowPath(now: now, output: &out)
            check(&out)
            if now % 64 == 0 { router.age(now: now + 10, budget: 1 << 16, output: &out); check(&out) }
            sent += batch.count
        }
        #expect(crossings == 0)
        // The test means something only if plenty of packets were forwarded both ways.
        #expect(deliveries > Self.packets / 10 && tunnelled > Self.packets / 10)
    }
}
