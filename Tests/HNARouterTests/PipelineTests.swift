import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

@Suite struct PipelineTests {
    @Test func firstPacketIsHeldThenDeliveredAndTheRestTakeTheFastPath() throws {
        var lab = Lab()
        let frame = Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, ttl: 9))
        var out = RouterOutput()
        lab.router.processFromInterfaces([Build.buffer(frame, interface: 1)], now: 10, output: &out)
        #expect(out.isEmpty)
        #expect(lab.router.heldPackets == 1 && lab.router.pendingSetups == 1)
        lab.router.runSlowPath(now: 11, output: &out)
        #expect(lab.router.heldPackets == 0 && lab.router.pendingSetups == 0)
        #expect(out.toInterfaces.count == 1)
        let d = try #require(out.toInterfaces.first)
        #expect(d.interface == 2)
        let eth = try EthernetHeader(parsing: d.buffer.readableBytes)
        #expect(eth.destination == Lab.mac2 && eth.source == lab.gateway)
        let ip = try IPv4Header(parsing: d.buffer.readableBytes.tail(from: 14))
        #expect(ip.ttl == 8)
        #expect(try IPv4Packet(checking: d.buffer.readableBytes.tail(from: 14)).checksumValid)

        // Second packet: straight through, no slow path.
        out.removeAll()
        lab.router.processFromInterfaces([Build.buffer(frame, interface: 1)], now: 12, output: &out)
        #expect(out.toInterfaces.count == 1)
        #expect(lab.router.pendingSetups == 0)
        // Forward and reverse entries, paired, with the packets counted on the forward one.
        #expect(lab.router.flows.count == 2)
        let key = FlowKey(vrf: 1, source: Lab.vm1, destination: Lab.vm2, protocol: .udp, sourcePort: 1000, destinationPort: 2000)
        let f = try #require(lab.router.flows.find(key, hash: key.hash))
        let r = try #require(lab.router.flows.find(key.reversed, hash: key.reversed.hash))
        #expect(lab.router.flows[f].reverse == r && lab.router.flows[r].reverse == f)
        #expect(lab.router.flows[f].packets == 2)
        #expect(lab.router.interfaceCounters[1].rxPackets == 2 && lab.router.interfaceCounters[2].txPackets == 2)
        #expect(lab.router.nextHops.counters[Int(lab.vm2NH)].packets == 2)
        #expect(lab.router.vrf(1)!.counters.txPackets == 2)
    }

    @Test func policyDenyDropsBothDirectionsWithANamedReason() {
        let policy = Policy(rules: [PolicyRule(.deny, proto: .udp, destinationPorts: 2000 ... 2000)])
        var lab = Lab(policy: policy)
        let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2))], from: 1)
        #expect(out.dropped.map(\.reason) == [.policyDeny])
        let back = lab.send([Build.frame4(to: lab.gateway, from: Lab.mac2, Build.udp4(src: Lab.vm2, dst: Lab.vm1, sport: 2000, dport: 1000))], from: 2)
        #expect(back.dropped.map(\.reason) == [.policyDeny])
        #expect(lab.router.drops[.policyDeny] == 2)
        // Another port is allowed.
        let ok = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, dport: 2001))], from: 1)
        #expect(ok.toInterfaces.count == 1)
    }

    @Test func ttlOfOneIsDroppedAsExpired() {
        var lab = Lab()
        let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, ttl: 1))], from: 1)
        #expect(out.dropped.map(\.reason) == [.ttlExpired])
        #expect(lab.router.drops[.ttlExpired] == 1)
    }

    @Test func dropReasonsForBadInput() {
        var lab = Lab()
        var out = lab.send([[1, 2, 3]], from: 1)
        #expect(out.dropped.map(\.reason) == [.malformedPacket])
        out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2))], from: 99)
        #expect(out.dropped.map(\.reason) == [.unknownInterface])
        out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: IPv4Address(172, 16, 0, 1)))], from: 1)
        #expect(out.dropped.map(\.reason) == [.noRoute])
        out = lab.send([Build.ethernet(lab.gateway, Lab.mac1, EtherType(rawValue: 0x1234), [0, 0])], from: 1)
        #expect(out.dropped.map(\.reason) == [.unsupportedProtocol])
        out = lab.send([Build.frame4(to: MACAddress(0x02, 9, 9, 9, 9, 9), Build.udp4(src: Lab.vm1, dst: Lab.vm2))], from: 1)
        #expect(out.dropped.map(\.reason) == [.noBridgeEntry])
        out = lab.send([Build.frame4(to: .broadcast, Build.udp4(src: Lab.vm1, dst: Lab.vm2))], from: 1)
        #expect(out.dropped.map(\.reason) == [.floodSuppressed])
        // A truncated IPv4 header inside a good frame.
        let ip = Build.udp4(src: Lab.vm1, dst: Lab.vm2)
        out = lab.send([Build.frame4(to: lab.gateway, Array(ip.prefix(30)))], from: 1)
        #expect(out.dropped.map(\.reason) == [.malformedPacket])
        #expect(lab.router.drops.total == 7)
    }

    @Test func bridgedFramesFollowTheL2Table() throws {
        var lab = Lab()
        lab.router.addBridgeEntry(1, Lab.mac2, nextHop: lab.vm2NH)
        let frame = Build.frame4(to: Lab.mac2, Build.udp4(src: Lab.vm1, dst: Lab.vm2, ttl: 9))
        let out = lab.send([frame], from: 1)
        let d = try #require(out.toInterfaces.first)
        #expect(d.interface == 2)
        // Bridged: the frame is untouched (no TTL decrement, same MACs).
        #expect(d.buffer.array == frame)
    }

    @Test func discardAndReceiveNextHops() {
        var lab = Lab()
        let discard = lab.router.addNextHop(.discard)
        let receive = lab.router.addNextHop(.receive)
        lab.router.addRoute(1, IPv4Prefix(IPv4Address(10, 9, 0, 0), 16), nextHop: discard)
        lab.router.addRoute(1, IPv4Prefix(IPv4Address(10, 0, 0, 254), 32), nextHop: receive)
        var out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: IPv4Address(10, 9, 1, 1)))], from: 1)
        #expect(out.dropped.map(\.reason) == [.discardNextHop])
        out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: IPv4Address(10, 0, 0, 254)))], from: 1)
        #expect(out.toAgent.count == 1)
    }

    @Test func heldPacketsAreBoundedPerFlowAndGlobally() {
        var config = Lab.smallConfiguration
        config.maxHeldPerFlow = 2
        config.maxHeldTotal = 3
        var lab = Lab(configuration: config)
        let a = Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, sport: 1))
        let b = Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, sport: 2))
        var out = RouterOutput()
        lab.router.processFromInterfaces([a, a, a, b, b].map { Build.buffer($0, interface: 1) }, now: 1, output: &out)
        // Flow a: 2 held, 1 over the per-flow bound; flow b: 1 held, then the global bound.
        #expect(out.dropped.map(\.reason) == [.holdQueueFull, .holdQueueFull])
        #expect(lab.router.heldPackets == 3)
        lab.router.runSlowPath(now: 2, output: &out)
        #expect(out.toInterfaces.count == 3)
        #expect(lab.router.heldPackets == 0)
    }

    @Test func fullFlowTableRefusesNewFlowsAndKeepsOldOnes() {
        var config = Lab.smallConfiguration
        config.flowCapacity = 4
        var lab = Lab(configuration: config)
        let first = Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, sport: 1))
        #expect(lab.send([first], from: 1).toInterfaces.count == 1)
        #expect(lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, sport: 2))], from: 1)
            .toInterfaces.count == 1)
        #expect(lab.router.flows.count == 4)
        let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2, sport: 3))], from: 1)
        #expect(out.dropped.map(\.reason) == [.flowTableFull])
        #expect(lab.send([first], from: 1).toInterfaces.count == 1)
    }

    @Test func idleFlowsAgeOutAndPendingOnesDropTheirHeldPackets() {
        var config = Lab.smallConfiguration
        config.flowIdleTimeout = 1000
        var lab = Lab(configuration: config)
        _ = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2))], from: 1, now: 100)
        #expect(lab.router.flows.count == 2)
        var out = RouterOutput()
        #expect(lab.router.age(now: 500, output: &out) == 0)
        #expect(lab.router.age(now: 1100, output: &out) == 2)
        #expect(lab.router.flows.count == 0)
        // A pending flow that ages out drops what it held.
        lab.router.processFromInterfaces([Build.buffer(Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.vm2)), interface: 1)],
                                         now: 2000, output: &out)
        #expect(lab.router.age(now: 5000, output: &out) == 1)
        #expect(out.dropped.map(\.reason) == [.flowRemoved])
        // Its stale slow-path request is skipped.
        #expect(lab.router.runSlowPath(now: 5001, output: &out) == 0)
    }

    @Test func ecmpIsStickyPerFlowAndSpreadsFlows() throws {
        var lab = Lab()
        let members = (0 ..< 4).map { i in
            lab.router.addNextHop(.tunnel(Tunnel(peer: .v4(IPv4Address(192, 168, 1, UInt8(i))), encapsulation: .mplsOverUDP, label: 100 + UInt32(i))))
        }
        let group = lab.router.addNextHop(.ecmp(members))
        lab.router.addRoute(1, IPv4Prefix(IPv4Address(10, 5, 0, 0), 16), nextHop: group)
        var chosen: [UInt16: NextHopID] = [:]
        for sport in UInt16(1) ... 64 {
            let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: IPv4Address(10, 5, 0, 1), sport: sport))], from: 1)
            chosen[sport] = try #require(out.toFabric.first).tunnel.nextHop
        }
        #expect(Set(chosen.values).count == 4)
        // The group shrinks to two members: flows keep the member they had if it still exists.
        lab.router.setNextHop(group, .ecmp(Array(members.prefix(2)) + Array(members.prefix(2))))
        for sport in UInt16(1) ... 64 {
            let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: IPv4Address(10, 5, 0, 1), sport: sport))], from: 1, now: 2)
            let nh = try #require(out.toFabric.first).tunnel.nextHop
            // Same member index as before, now holding members[index % 2].
            let before = try #require(chosen[sport])
            let k = try #require(members.firstIndex(of: before))
            #expect(nh == members[k % 2])
        }
    }

    @Test func tracesRecordEachStage() {
        var lab = Lab()
        let out = lab.send([Build.frame4(to: lab.gateway, Build.udp4(src: Lab.vm1, dst: Lab.remote))], from: 1, trace: true)
        let stages = out.traces.map(\.stage)
        #expect(stages == [.classify, .flow, .slowPath, .lookup, .encap])
    }
}

@Suite struct ScaleTests {
    /// All 65,536 VRFs, each with the same prefix pointing at its own port: every VRF answers with its
    /// own next hop, and the small-root tries keep the total FIB memory small.
    @Test func sixtyFiveThousandVRFs() {
        var router = Router(configuration: Lab.smallConfiguration)
        let prefix = IPv4Prefix(IPv4Address(10, 0, 0, 0), 24)
        var fibBytes = 0
        for v in 0 ... Int(VRFID.max) {
            let vrf = VRFID(v)
            router.addVRF(vrf)
            router.addInterface(InterfaceID(v), InterfaceConfiguration(vrf: vrf, mac: MACAddress(rawValue: UInt64(v) + 1)))
            router.addRoute(vrf, prefix, nextHop: router.addNextHop(.interface(InterfaceID(v))))
        }
        #expect(router.vrfCount == 65536)
        for v in stride(from: 0, through: 65535, by: 4099) {
            let r = router.vrf(VRFID(v))!
            fibBytes += r.ipv4.memoryBytes + r.ipv6.memoryBytes
            #expect(router.nextHops[r.ipv4.lookup(IPv4Address(10, 0, 0, 9))] == .interface(InterfaceID(v)))
        }
        // A small VRF's tries: 1 KiB roots and one 1 KiB chunk per level below the root.
        #expect(fibBytes / 16 <= 8 * 1024)
    }
}
