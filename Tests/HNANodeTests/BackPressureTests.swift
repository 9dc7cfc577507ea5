import HNACore
import HNANode
import HNATestSupport
import HNAWire
import Testing

/// The node names the VM port that fills a crowded VOQ, so a driver can hold back that port alone.
@Suite struct BackPressureTests {
    @Test func aPortFillingACrowdedVOQIsNamedUntilTheVOQDrains() throws {
        var (f, queue) = try Self.crowded()
        #expect(f.delivered[1].count == 1)
        // Ten 1,000-byte frames into a 12,000-byte VOQ that the pacer drains slowly: it is crowded and
        // port 1 is named, once.
        let crowded = f.nodes[0].isCrowded(queue), queued = f.nodes[0].queuedBytes(queue)
        #expect(crowded && queued > 4_000)
        #expect(f.outputs[0].crowding == [queue])

        // Frames from the fabric never name a port; sending drains the VOQ and it is no longer crowded.
        f.settle(horizon: 100_000_000)
        let drained = !f.nodes[0].isCrowded(queue), left = f.nodes[0].queuedBytes(queue)
        #expect(drained && left == 0)
        #expect(f.delivered[1].count == 11)
        let drops = f.nodes[0].drops.reduce(0, +)
        #expect(drops == 0)
    }

    /// A fabric whose node A has small, slow VOQs and whose port 1 has just crowded one: ten 1,000-byte
    /// frames in one call after the flow's first packet (which took the slow path) went through.
    static func crowded(maxInFlight: Int = 1024) throws -> (Fabric, CrowdedQueue) {
        var f = try Fabric()
        // Small VOQs so a few frames crowd one: crowded above 12,000 - 8,000 = 4,000 bytes.
        var c0 = Fabric.configuration(0)
        c0.flowControl.voqLimitBytes = 12_000
        c0.flowControl.ingressPauseBytes = 8_000
        c0.flowControl.maxInFlightPackets = maxInFlight
        // A slow NIC with small bursts keeps most of them queued.
        c0.txBandwidth = 1e6
        c0.flowControl.rateBurstBytes = FlowControlConfig.minimumBurstBytes
        c0.flowControl.nicBurstBytes = FlowControlConfig.minimumBurstBytes
        f.nodes[0] = try HNANode(configuration: c0, now: f.now)
        f.send(Frames.udp(from: Fabric.mac1, to: Fabric.routerMAC, Fabric.vm1, Fabric.vm2, payload: [0]), from: 0)
        let peer = try #require(f.nodes[0].peer(at: Fabric.b)?.controllerID)
        var frames: [PacketBuffer] = []
        for k in 1 ... 10 {
            let buf = f.nodes[0].pool.take()
            buf.load(Frames.udp(from: Fabric.mac1, to: Fabric.routerMAC, Fabric.vm1, Fabric.vm2,
                                payload: [UInt8](repeating: UInt8(k), count: 1000)))
            buf.meta.ingressInterface = 1
            frames.append(buf)
        }
        f.nodes[0].processFromInterfaces(frames, now: f.now, output: &f.outputs[0])
        return (f, CrowdedQueue(port: 1, peer: peer, priority: 0))
    }

    /// The driver's view: the port is held while its VOQ drains, however long that takes, and
    /// released once the VOQ has room; other ports are never held.
    @Test func aDrainingVOQHoldsItsPortUntilItHasRoom() throws {
        var (f, queue) = try Self.crowded()
        var bp = IngressBackPressure(stallLimit: 1_000_000)
        bp.update(crowding: f.outputs[0].crowding, node: f.nodes[0], now: f.now)
        #expect(bp.isHolding(1) && !bp.isHolding(2) && bp.heldPorts == [1])
        // Step the clock 0.5 ms at a time: the VOQ drains slowly (1 MB/s) for several stall limits.
        var steps = 0, heldSteps = 0
        while f.nodes[0].isCrowded(queue) && steps < 200 {
            f.settle(horizon: 500_000)
            f.now += 500_000
            bp.update(crowding: [], node: f.nodes[0], now: f.now)
            if bp.isHolding(1) { heldSteps += 1 }
            steps += 1
        }
        let stillCrowded = f.nodes[0].isCrowded(queue)
        // Held for longer than twice the stall limit while draining, released once it had room.
        #expect(!stillCrowded && heldSteps == steps - 1 && steps > 4)
        #expect(!bp.isHolding(1) && bp.isEmpty && bp.expired == 0)
    }

    /// A VOQ that stops draining (its peer answers nothing and the window is full) releases its port
    /// after the stall limit, and the release is counted.
    @Test func aStalledVOQReleasesItsPortAfterTheLimit() throws {
        var (f, queue) = try Self.crowded(maxInFlight: 2)
        f.lose = { i, _, _ in i == 0 }  // nothing from A arrives: no acks, the window stays full
        var bp = IngressBackPressure(stallLimit: 1_000_000)
        bp.update(crowding: f.outputs[0].crowding, node: f.nodes[0], now: f.now)
        #expect(bp.isHolding(1))
        let start = f.now
        f.settle(horizon: 200_000)  // the window's two packets leave (and are lost); then nothing drains
        var released: UInt64?
        for k in 1 ... 40 {
            let t = start + UInt64(k) * 100_000
            bp.update(crowding: [], node: f.nodes[0], now: t)
            if !bp.isHolding(1) { released = t; break }
        }
        let crowded = f.nodes[0].isCrowded(queue)
        #expect(crowded, "the VOQ is still crowded: the port was released by the limit, not by room")
        #expect(bp.expired == 1)
        let after = released.map { $0 - start } ?? 0
        #expect(after > 1_000_000 && after <= 1_300_000)
    }
}
