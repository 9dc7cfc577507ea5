import HNATestSupport
import Testing
@testable import HNASim

@Suite struct FabricTests {
    func ideal(hosts: Int = 4, gbps: Double = 100, delay: SimTime = 1000, buffer: Int? = nil) -> Fabric {
        var c = FabricConfig()
        c.topology = .ideal
        c.hosts = hosts
        c.linkGbps = gbps
        c.linkDelayNs = delay
        c.bufferBytes = buffer
        return Fabric(c, seed: 1)
    }

    @Test func serializationAndPropagationTiming() {
        var f = ideal()
        var rng = SimRandom(seed: 1)
        // 1500 bytes at 100 Gb/s is 120 ns on the wire, then 1000 ns of propagation.
        let (arrival, free) = f.transmitFromHost(0, bytes: 1500, now: 10_000)
        #expect(free == 10_120)
        #expect(arrival == 11_120)
        // A second packet queued behind the first at the NIC.
        let (a2, _) = f.transmitFromHost(0, bytes: 1500, now: 10_000)
        #expect(a2 == 11_240)
        // Through the switch: serialisation on the output link, then propagation.
        guard case let .queued(link, at, marked) = f.forward(switch: 0, dst: 3, hash: 0, bytes: 1500, ect: false,
                                                              now: arrival, rng: &rng)
        else { Issue.record("dropped"); return }
        #expect(link == Int32(f.hostDownlink(3)))
        #expect(at == 11_120 + 120 + 1000)
        #expect(!marked)
        // Back to back on the same output: FIFO, one serialisation later.
        guard case let .queued(_, at2, _) = f.forward(switch: 0, dst: 3, hash: 0, bytes: 1500, ect: false,
                                                       now: arrival, rng: &rng)
        else { Issue.record("dropped"); return }
        #expect(at2 == at + 120)
    }

    @Test func oddLinkSpeedsDoNotDrift() {
        var f = ideal(gbps: 30)
        var last: SimTime = 0
        for _ in 0 ..< 30000 { last = f.transmitFromHost(1, bytes: 1000, now: 0).free }
        // 30000 x 1000 bytes at 30 Gb/s is exactly 8 ms.
        #expect(last == 8_000_000)
    }

    @Test func sharedBufferDropsTailAndDrains() {
        var f = ideal(buffer: 10 * 1500)
        var rng = SimRandom(seed: 1)
        var queued = 0, dropped = 0
        // Two outputs share one buffer.
        for i in 0 ..< 20 {
            let r = f.forward(switch: 0, dst: i % 2 == 0 ? 1 : 2, hash: 0, bytes: 1500, ect: false, now: 0, rng: &rng)
            if r == .dropped { dropped += 1 } else { queued += 1 }
        }
        #expect(queued == 10)
        #expect(dropped == 10)
        #expect(f.drops == 10)
        // After 5 packet times on each port the buffer has room for 10 more packets again.
        var again = 0
        for _ in 0 ..< 20 where f.forward(switch: 0, dst: 3, hash: 0, bytes: 1500, ect: false, now: 600, rng: &rng) != .dropped {
            again += 1
        }
        #expect(again == 10)
    }

    @Test func ecnMarksAboveThresholdOnlyForCapablePackets() {
        var c = FabricConfig()
        c.topology = .ideal
        c.hosts = 3
        c.bufferBytes = nil
        c.ecn = .init(minBytes: 5 * 1500, maxBytes: 5 * 1500, maxProbability: 1)
        var f = Fabric(c, seed: 1)
        var rng = SimRandom(seed: 1)
        var marks: [Bool] = []
        for _ in 0 ..< 10 {
            if case let .queued(_, _, m) = f.forward(switch: 0, dst: 1, hash: 0, bytes: 1500, ect: true, now: 0, rng: &rng) {
                marks.append(m)
            }
        }
        // Backlogs seen: 0, 1500, ..., 13500; marked once strictly above 7500.
        #expect(marks == [false, false, false, false, false, false, true, true, true, true])
        if case let .queued(_, _, m) = f.forward(switch: 0, dst: 1, hash: 0, bytes: 1500, ect: false, now: 0, rng: &rng) {
            #expect(!m)
        }
        #expect(f.marks == 4)
    }

    func leafSpine(_ lb: FabricConfig.LoadBalancing) -> Fabric {
        var c = FabricConfig()
        c.topology = .leafSpine
        c.hosts = 16
        c.leaves = 4
        c.spines = 4
        c.bufferBytes = nil
        c.loadBalancing = lb
        return Fabric(c, seed: 9)
    }

    /// The lookahead finds the host a link ends at from the link's number; it must agree with the
    /// link records on every link of both topologies.
    @Test func theHostALinkReachesFollowsFromItsNumber() {
        for f in [ideal(hosts: 8), leafSpine(.ecmp)] {
            var reached = 0
            for l in f.links.indices {
                let to = Int(f.links[l].to)
                #expect(f.host(reachedBy: l) == (to < f.hosts ? to : -1), "link \(l) ends at node \(to)")
                if to < f.hosts { reached += 1 }
            }
            #expect(reached == f.hosts)
        }
        #expect(ideal(hosts: 8).host(reachedBy: -1) == -1)
    }

    @Test func leafSpineRoutesAndUplinkSpeed() {
        let f = leafSpine(.ecmp)
        var rng = SimRandom(seed: 1)
        #expect(f.config.effectiveUplinkGbps == 100)
        // Same leaf: straight down.
        #expect(f.route(switch: 0, dst: 2, hash: 1, rng: &rng) == f.hostDownlink(2))
        // Other leaf: up to some spine, then down to the right leaf, then to the host.
        let up = f.route(switch: 0, dst: 13, hash: 1, rng: &rng)
        let spine = up - f.leafUplink(leaf: 0, spine: 0)
        #expect((0 ..< 4).contains(spine))
        #expect(Int(f.links[up].to) == 16 + 4 + spine)
        let down = f.route(switch: 4 + spine, dst: 13, hash: 1, rng: &rng)
        #expect(down == f.spineDownlink(spine: spine, leaf: 3))
        #expect(Int(f.links[down].to) == 16 + 3)
        #expect(f.route(switch: 3, dst: 13, hash: 1, rng: &rng) == f.hostDownlink(13))
    }

    @Test func ecmpIsStickyPerFlowAndSprayingSpreads() {
        let e = leafSpine(.ecmp), s = leafSpine(.spray)
        var rng = SimRandom(seed: 2)
        var gen = HNATestSupport.SplitMix64(seed: 4)
        var flowSpines = Set<Int>()
        for _ in 0 ..< 64 {
            let hash = UInt32(truncatingIfNeeded: gen.next())
            let first = e.route(switch: 1, dst: 0, hash: hash, rng: &rng)
            for _ in 0 ..< 20 { #expect(e.route(switch: 1, dst: 0, hash: hash, rng: &rng) == first) }
            flowSpines.insert(first)
        }
        // Many flows use every spine.
        #expect(flowSpines.count == 4)
        var counts = [Int: Int]()
        for _ in 0 ..< 4000 { counts[s.route(switch: 1, dst: 0, hash: 77, rng: &rng), default: 0] += 1 }
        #expect(counts.count == 4)
        for (_, c) in counts { #expect(abs(c - 1000) < 150) }
    }

    @Test func oversubscriptionShrinksUplinks() {
        var c = FabricConfig()
        c.hosts = 32
        c.leaves = 4
        c.spines = 2
        c.oversubscription = 2
        #expect(c.effectiveUplinkGbps == 200)
        #expect(c.validate() == nil)
        c.leaves = 5
        #expect(c.validate() != nil)
    }
}
