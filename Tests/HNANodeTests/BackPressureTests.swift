import HNACore
import HNANode
import HNATestSupport
import HNAWire
import Testing

/// The node names the VM port that fills a crowded VOQ, so a driver can hold back that port alone.
@Suite struct BackPressureTests {
    @Test func aPortFillingACrowdedVOQIsNamedUntilTheVOQDrains() throws {
        var f = try Fabric()
        // Small VOQs so a few frames crowd one: crowded above 12,000 - 8,000 = 4,000 bytes.
        var c0 = Fabric.configuration(0)
        c0.flowControl.voqLimitBytes = 12_000
        c0.flowControl.ingressPauseBytes = 8_000
        // A slow NIC with small bursts keeps most of them queued.
        c0.txBandwidth = 1e6
        c0.flowControl.rateBurstBytes = FlowControlConfig.minimumBurstBytes
        c0.flowControl.nicBurstBytes = FlowControlConfig.minimumBurstBytes
        f.nodes[0] = try HNANode(configuration: c0, now: f.now)
        // The flow's first packet takes the slow path; the rest follow it on the fast path.
        f.send(Frames.udp(from: Fabric.mac1, to: Fabric.routerMAC, Fabric.vm1, Fabric.vm2, payload: [0]), from: 0)
        #expect(f.delivered[1].count == 1)
        let peer = try #require(f.nodes[0].peer(at: Fabric.b)?.controllerID)
        let queue = CrowdedQueue(port: 1, peer: peer, priority: 0)

        var frames: [PacketBuffer] = []
        for k in 1 ... 10 {
            let buf = f.nodes[0].pool.take()
            buf.load(Frames.udp(from: Fabric.mac1, to: Fabric.routerMAC, Fabric.vm1, Fabric.vm2,
                                payload: [UInt8](repeating: UInt8(k), count: 1000)))
            buf.meta.ingressInterface = 1
            frames.append(buf)
        }
        f.nodes[0].processFromInterfaces(frames, now: f.now, output: &f.outputs[0])
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
}
