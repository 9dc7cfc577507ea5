import HNATestSupport
import HNAWire
import Testing
@testable import HNACore

@Suite struct FlowControllerTests {
    /// 1 Gb/s links; units fine enough that 32 sources' grants do not round to a unit each.
    static let bandwidth = 125_000_000.0

    static func config(priorities: Int = 4) -> FlowControlConfig {
        var c = FlowControlConfig()
        c.priorities = priorities
        c.units = FlowUnits(queueUnitBytes: 64, rateUnitBytesPerSecond: 1 << 14)
        c.rateBurstBytes = 3000
        c.nicBurstBytes = 9000
        return c
    }

    /// Random traffic between random pairs with random priorities and sizes.
    static func randomTraffic(nodes: Int, priorities: Int, packetsPerTick: Int) -> (inout SplitMix64, Int, UInt64) -> [(Int, Int, Int)] {
        { rng, n, _ in
            (0 ..< packetsPerTick).compactMap { _ in
                let d = Int.random(in: 0 ..< nodes, using: &rng)
                guard d != n else { return nil }
                return (d, Int.random(in: 0 ..< priorities, using: &rng), Int.random(in: 64 ... 1500, using: &rng))
            }
        }
    }

    @Test(arguments: [(2, UInt64(1)), (5, 2), (12, 3), (32, 4)])
    func impairedFabricDeliversEverythingOnceInOrder(nodes: Int, seed: UInt64) {
        var impair = FakeFabric.Impairments()
        impair.loss = 0.05
        impair.duplication = 0.03
        impair.minDelay = 2_000
        impair.maxDelay = 40_000
        var fabric = FakeFabric(nodes: nodes, config: Self.config(), bandwidth: Self.bandwidth, seed: seed, impairments: impair)
        fabric.workload = Self.randomTraffic(nodes: nodes, priorities: 4, packetsPerTick: 3)
        let traffic: UInt64 = nodes > 16 ? 3_000_000 : 8_000_000
        for n in 0 ..< nodes { fabric.scheduleInjections(node: n, every: 50_000, until: traffic) }
        fabric.run(until: traffic + 200_000_000)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        #expect(fabric.undelivered == 0)
        #expect(fabric.ingressDrops == 0)
        let resent = fabric.nodes.map(\.counters.retransmissions).reduce(0, +)
        let dups = fabric.nodes.map(\.counters.duplicates).reduce(0, +)
        #expect(resent > 0 && dups > 0, "the impairments were exercised")
        for n in fabric.nodes {
            #expect(n.resendMemoryUsed == 0 && n.reorderMemoryUsed == 0)
        }
    }

    /// Trains (payloads of several segments, each its own datagram on the wire) under the same
    /// impairments: segments lost, duplicated and reordered one by one, runs that reach the receiver
    /// whole when in order, and some handed over out of order anyway (refused, then resent). Every
    /// segment must still arrive exactly once, in order, and all memory must come back.
    @Test(arguments: [(2, UInt64(23)), (5, 12), (12, 13)])
    func impairedFabricDeliversTrainsOnceInOrder(nodes: Int, seed: UInt64) {
        var impair = FakeFabric.Impairments()
        impair.loss = 0.05
        impair.duplication = 0.03
        impair.minDelay = 2_000
        impair.maxDelay = 40_000
        var fabric = FakeFabric(nodes: nodes, config: Self.config(), bandwidth: Self.bandwidth, seed: seed, impairments: impair)
        fabric.workload = Self.randomTraffic(nodes: nodes, priorities: 4, packetsPerTick: 1)
        fabric.trainSegments = { rng in Int.random(in: 0 ..< 4, using: &rng) == 0 ? 1 : Int.random(in: 2 ... 16, using: &rng) }
        fabric.misplaced = 0.5
        let traffic: UInt64 = 20_000_000
        for n in 0 ..< nodes { fabric.scheduleInjections(node: n, every: 100_000, until: traffic) }
        fabric.run(until: traffic + 200_000_000)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        #expect(fabric.undelivered == 0)
        #expect(fabric.ingressDrops == 0)
        let c = fabric.nodes.map(\.counters)
        #expect(c.map(\.retransmissions).reduce(0, +) > 0 && c.map(\.duplicates).reduce(0, +) > 0)
        #expect(c.map(\.misplacedTrains).reduce(0, +) > 0, "misplaced trains were exercised")
        for n in fabric.nodes {
            #expect(n.resendMemoryUsed == 0 && n.reorderMemoryUsed == 0)
            for d in 0 ..< nodes { #expect(n.inFlight(to: d, priority: 0) == 0) }
        }
    }

    /// Every node sends as fast as it may to node 0: node 0 must never receive more than its bandwidth
    /// over windows longer than the feedback delay, and the sources share it.
    @Test(arguments: [2, 8, 32])
    func incastNeverOverrunsTheDestination(nodes: Int) {
        var impair = FakeFabric.Impairments()
        impair.minDelay = 5_000
        impair.maxDelay = 15_000
        impair.loss = 0.01
        var fabric = FakeFabric(nodes: nodes, config: Self.config(), bandwidth: Self.bandwidth, seed: UInt64(nodes), impairments: impair)
        // Each source offers its full link rate to node 0 (1500 B every 12 µs) at random priorities.
        fabric.workload = { rng, n, _ in n == 0 ? [] : [(0, Int.random(in: 0 ..< 4, using: &rng), 1500)] }
        let end: UInt64 = 10_000_000
        for n in 1 ..< nodes { fabric.scheduleInjections(node: n, every: 12_000, until: end) }
        fabric.run(until: end)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        let window: UInt64 = 1_000_000
        let feedbackDelay: UInt64 = 100_000
        let packet = 1500 + 24
        // From the start: every source's token bucket for every priority may be full at once, and each
        // may overdraw by one packet.
        let burst = Double((nodes - 1) * 4 * (3000 + packet))
        let limit = Self.bandwidth * Double(window + feedbackDelay) * 1e-9 + burst
        let seen = FakeFabric.maxBytes(in: fabric.arrivals[0], window: window)
        #expect(Double(seen) <= limit, "\(seen) bytes in \(window) ns, limit \(limit)")
        // Once the sources are backlogged their buckets stay empty: only one packet each in hand.
        let warm = fabric.arrivals[0].filter { $0.0 >= 2_000_000 }
        let steady = FakeFabric.maxBytes(in: warm, window: window)
        let steadyLimit = Self.bandwidth * Double(window + feedbackDelay) * 1e-9 + Double((nodes - 1) * packet)
        #expect(Double(steady) <= steadyLimit, "\(steady) bytes in \(window) ns after warm-up, limit \(steadyLimit)")
        // And the destination is kept busy: more than half its bandwidth over the run, once sources know.
        let total = fabric.arrivals[0].reduce(0) { $0 + $1.1 }
        if nodes > 2 { #expect(Double(total) > 0.5 * Self.bandwidth * Double(end) * 1e-9) }
    }

    /// Every pair of 32 HNAs exchanges a few packets at the start, so all of them are in each other's
    /// span; the idle pairs then get heartbeats within the 1 % budget and keep fresh grants through
    /// them alone, until their time in the span is over; then the heartbeats stop.
    @Test func heartbeatsStayWithinTheirBudget() {
        var config = Self.config()
        config.heartbeatIdle = 10_000  // far below what the budget allows for 32 peers
        var fabric = FakeFabric(nodes: 32, config: config, bandwidth: Self.bandwidth, seed: 9)
        fabric.workload = { _, n, t in t < 200_000 ? (0 ..< 32).filter { $0 != n }.map { ($0, 0, 200) } : [] }
        for n in 0 ..< 32 { fabric.scheduleInjections(node: n, every: 100_000, until: 200_001) }
        let interval = fabric.nodes[0].heartbeatInterval
        let spanEnds = UInt64(config.heartbeatSpanPeriods) * interval
        fabric.run(until: spanEnds / 2)
        // Idle by now (the packets were delivered long ago), in the span, and fresh through heartbeats.
        #expect(fabric.nodes[3].queuedBytes(to: 17, priority: 0) == 0)
        #expect(fabric.nodes[3].isInSpan(17) && fabric.nodes[3].spanCount == 31)
        #expect(fabric.nodes[3].hasFreshGrant(from: 17))
        let end: UInt64 = 50_000_000
        fabric.run(until: end)
        for n in 0 ..< 32 {
            let sent = fabric.controlSent[n]
            #expect(fabric.nodes[n].counters.heartbeatsSent > 31)
            let window: UInt64 = 5_000_000
            let budget = 0.01 * Self.bandwidth * Double(window) * 1e-9 + 4 * 64
            // From 1 ms on (the acks and grant signals of the start are done), heartbeats only.
            let later = sent.filter { $0.0 > 1_000_000 }
            #expect(!later.isEmpty)
            #expect(Double(FakeFabric.maxBytes(in: later, window: window)) <= budget)
            // After the span's time (and a sweep period of slack), nothing more: no news to carry.
            #expect(sent.allSatisfy { $0.0 <= spanEnds + 2 * interval }, "\(sent.last.map { $0.0 } ?? 0)")
            #expect(fabric.nodes[n].spanCount == 0)
        }
        #expect(!fabric.nodes[3].isInSpan(17))
    }

    /// A pair paced well below its link sends a data packet only every few heartbeat intervals; those
    /// gaps are not idleness (the next data packet carries the feedback), and heartbeats in them would
    /// reach the destination on top of its grants. Once the queue drains, heartbeats resume.
    @Test func pacedPairSendsNoHeartbeatsUntilItGoesIdle() {
        let config = Self.config()
        var fabric = FakeFabric(nodes: 2, config: config, bandwidth: Self.bandwidth, seed: 21)
        // 1 MB/s: one 1500-byte packet per 1.5 ms, fifteen heartbeat intervals.
        fabric.nodes[0].setRateLimit(1_000_000, toPeer: 1)
        fabric.workload = { _, n, t in n == 0 && t < 40_000_000 ? [(1, 0, 1500)] : [] }
        fabric.scheduleInjections(node: 0, every: 1_000_000, until: 40_000_000)
        fabric.run(until: 5_000_000)
        // Node 0 counts itself among its peers, an idle pair: look at what reaches node 1 only.
        let before = fabric.controlPackets[0][1]
        let dataBefore = fabric.nodes[0].counters.dataSent
        fabric.run(until: 35_000_000)
        #expect(fabric.nodes[0].queuedBytes(to: 1, priority: 0) > 0)
        #expect(fabric.nodes[0].counters.dataSent - dataBefore >= 15)
        #expect(fabric.controlPackets[0][1] == before)
        // The injections stop at 40 ms; the queue drains at the paced rate, then the pair is idle.
        fabric.run(until: 200_000_000)
        #expect(fabric.nodes[0].queuedBytes(to: 1, priority: 0) == 0)
        #expect(fabric.controlPackets[0][1] > before)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
    }

    @Test func staleGrantFallsBackToTheSafeRateAndRecovers() {
        var impair = FakeFabric.Impairments()
        // Node 1 cannot reach node 0 between 1 ms and 30 ms: no acks, no grants.
        impair.cut = (1, 0, 1_000_000 ..< 30_000_000)
        var fabric = FakeFabric(nodes: 2, config: Self.config(), bandwidth: Self.bandwidth, seed: 5, impairments: impair)
        // Node 0 offers more than the link.
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 1500), (1, 0, 1500)] : [] }
        fabric.scheduleInjections(node: 0, every: 12_000, until: 40_000_000)
        fabric.run(until: 500_000)
        #expect(fabric.nodes[0].hasFreshGrant(from: 1))
        let granted = fabric.nodes[0].sendingRate(to: 1, priority: 0)
        fabric.run(until: 20_000_000)
        #expect(!fabric.nodes[0].hasFreshGrant(from: 1))
        #expect(fabric.nodes[0].counters.staleGrants >= 1)
        let safe = Self.bandwidth / 2 / 4
        #expect(fabric.nodes[0].sendingRate(to: 1, priority: 0) == safe)
        #expect(safe < granted)
        // The cut heals at 30 ms; the source still has data until 40 ms and is granted again.
        fabric.run(until: 36_000_000)
        #expect(fabric.nodes[0].hasFreshGrant(from: 1))
        fabric.run(until: 300_000_000)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        #expect(fabric.undelivered == 0)
    }

    @Test func lowPriorityIsNotStarved() {
        var fabric = FakeFabric(nodes: 2, config: Self.config(), bandwidth: Self.bandwidth, seed: 11)
        // Node 0 offers twice its link rate at priority 0 and as much again at priority 3.
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 1500), (1, 0, 1500), (1, 3, 1500), (1, 3, 1500)] : [] }
        let end: UInt64 = 20_000_000
        fabric.scheduleInjections(node: 0, every: 12_000, until: end)
        fabric.run(until: end)
        #expect(fabric.failures.isEmpty)
        let low = fabric.expected[1][0][3], high = fabric.expected[1][0][0]
        #expect(low > 0 && high > low, "high \(high) low \(low)")
        // Priority 3 gets at least its floor (1/16 of the link) over the run.
        #expect(Double(low * 1500) >= Self.bandwidth * 0.9 / 16 * Double(end) * 1e-9)
        #expect(fabric.ingressDrops > 0, "the VOQs filled and pushed back")
        #expect(fabric.nodes[0].counters.ingressDrops(.voqFull) + fabric.nodes[0].counters.ingressDrops(.memoryFull) == fabric.ingressDrops)
    }

    @Test func sequenceNumbersSurviveWrapAround() {
        var impair = FakeFabric.Impairments()
        impair.loss = 0.02
        impair.duplication = 0.02
        impair.minDelay = 1_000
        impair.maxDelay = 8_000
        var fabric = FakeFabric(nodes: 2, config: Self.config(priorities: 1), bandwidth: 1e10, seed: 65536, impairments: impair)
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 64), (1, 0, 64), (1, 0, 64), (1, 0, 64)] : [] }
        fabric.scheduleInjections(node: 0, every: 1_000, until: 18_000_000)
        fabric.run(until: 100_000_000)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        #expect(fabric.nextSerial[0][1][0] > 70_000)
        #expect(fabric.undelivered == 0)
    }

    @Test func serialArithmetic() {
        var rng = SplitMix64(seed: 1982)
        for _ in 0 ..< 10_000 {
            let a = rng.any(UInt16.self)
            let k = Int.random(in: -32767 ... 32767, using: &rng)
            let b = UInt16(truncatingIfNeeded: Int(a) + k)
            #expect(SequenceNumber.distance(from: a, to: b) == k)
            #expect(SequenceNumber.precedes(a, b) == (k > 0))
        }
    }

    @Test func ingressDropsHaveReasons() {
        var config = Self.config()
        config.voqLimitBytes = 3000
        config.voqMemoryBytes = 5000
        var c = FlowController<TestPacket>(config: config, peerCount: 3, txBandwidth: 1e6, rxBandwidth: 1e6, now: 0)
        func packet(_ d: Int) -> TestPacket { TestPacket(source: 0, destination: d, priority: 0, serial: 0, wireLength: 1500) }
        #expect(c.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued)
        #expect(c.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued)
        #expect(c.enqueue(packet(1), to: 1, priority: 0, now: 0) == .dropped(.voqFull))
        #expect(c.enqueue(packet(2), to: 2, priority: 1, now: 0) == .queued)
        #expect(c.enqueue(packet(2), to: 2, priority: 2, now: 0) == .dropped(.memoryFull))
        #expect(c.enqueue(packet(2), to: 3, priority: 0, now: 0) == .dropped(.badDestination))
        #expect(c.enqueue(packet(2), to: 2, priority: 4, now: 0) == .dropped(.badDestination))
        var empty = packet(1)
        empty.wireLength = 0
        #expect(c.enqueue(empty, to: 1, priority: 3, now: 0) == .dropped(.badPayload))
        var noSegments = packet(1)
        noSegments.segments = 0
        #expect(c.enqueue(noSegments, to: 1, priority: 3, now: 0) == .dropped(.badPayload))
        #expect(c.counters.ingressDrops == [1, 1, 2, 2])
        #expect(c.queuedBytes(to: 1, priority: 0) == 3000 && c.freeQueueBytes == 500)
    }

    /// A VOQ with less than `ingressPauseBytes` of room is crowded until sending takes it back under
    /// that, each VOQ on its own: the driver's signal to stop reading its VMs before a refusal.
    @Test func crowdedQueuesFollowEachVOQsRoom() {
        var config = Self.config()
        config.voqLimitBytes = 6000
        config.ingressPauseBytes = 2000
        var c = FlowController<TestPacket>(config: config, peerCount: 3, txBandwidth: 1e6, rxBandwidth: 1e6, now: 0)
        func packet(_ d: Int) -> TestPacket { TestPacket(source: 0, destination: d, priority: 0, serial: 0, wireLength: 1500) }
        func expected() -> Int { (1 ... 2).filter { c.queuedBytes(to: $0, priority: 0) > 4000 }.count }
        for _ in 0 ..< 2 { #expect(c.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued) }
        #expect(c.crowdedQueues == 0)
        #expect(c.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued)
        #expect(c.crowdedQueues == 1)
        #expect(c.isCrowded(peer: 1, priority: 0) && !c.isCrowded(peer: 2, priority: 0) && !c.isCrowded(peer: 1, priority: 1))
        for _ in 0 ..< 4 { #expect(c.enqueue(packet(2), to: 2, priority: 0, now: 0) == .queued) }
        #expect(c.crowdedQueues == 2 && c.queuedBytes(to: 2, priority: 0) == 6000)
        #expect(c.enqueue(packet(2), to: 2, priority: 0, now: 0) == .dropped(.voqFull))
        var t: UInt64 = 0
        while c.queuedBytes(to: 1, priority: 0) + c.queuedBytes(to: 2, priority: 0) > 0 && t < 1_000_000_000 {
            t += 100_000
            c.poll(now: t)
            #expect(c.crowdedQueues == expected())
        }
        #expect(c.crowdedQueues == 0 && t < 1_000_000_000)

        // A VOQ smaller than the pause room is crowded whenever it holds anything.
        config.voqLimitBytes = 1500
        var small = FlowController<TestPacket>(config: config, peerCount: 3, txBandwidth: 1e6, rxBandwidth: 1e6, now: 0)
        #expect(small.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued && small.crowdedQueues == 1)
        small.poll(now: 100_000)
        #expect(small.queuedBytes(to: 1, priority: 0) == 0 && small.crowdedQueues == 0)
    }

    /// The controller is a value: a copy keeps its queues, grants and counters when the original
    /// changes (its per-peer records are shared until one of them is written).
    @Test func copiesAreIndependent() {
        var a = FlowController<TestPacket>(config: Self.config(), peerCount: 3, txBandwidth: Self.bandwidth,
                                           rxBandwidth: Self.bandwidth, now: 0)
        func packet(_ d: Int) -> TestPacket { TestPacket(source: 0, destination: d, priority: 0, serial: 0, wireLength: 1500) }
        #expect(a.enqueue(packet(1), to: 1, priority: 0, now: 0) == .queued)
        var b = a
        #expect(b.enqueue(packet(1), to: 1, priority: 0, now: 10) == .queued)
        #expect(a.queuedBytes(to: 1, priority: 0) == 1500 && b.queuedBytes(to: 1, priority: 0) == 3000)
        b.receive(HNAHeader(nextProtocol: .none, timestamp: 1, queueLengths: PriorityVector([10, 0, 0, 0]),
                            grantedRates: PriorityVector([100, 0, 0, 0])), payload: nil, from: 2, now: 1000)
        #expect(b.hasFreshGrant(from: 2) && !a.hasFreshGrant(from: 2))
        #expect(b.grant(toSource: 2, priority: 0) > 0 && a.grant(toSource: 2, priority: 0) == 0)
        a.poll(now: 2000)
        #expect(a.inFlight(to: 1, priority: 0) == 1 && b.inFlight(to: 1, priority: 0) == 0)
        #expect(a.counters.enqueued == 1 && b.counters.enqueued == 2)
    }

    /// Memory hints change nothing and accept any peer index.
    @Test func prefetchHintsChangeNothing() {
        var c = FlowController<TestPacket>(config: Self.config(), peerCount: 3, txBandwidth: Self.bandwidth,
                                           rxBandwidth: Self.bandwidth, now: 0)
        #expect(c.enqueue(TestPacket(source: 0, destination: 1, priority: 0, serial: 0, wireLength: 1500), to: 1,
                          priority: 0, now: 0) == .queued)
        let before = (c.counters, c.nextDeadline, c.queuedBytes(to: 1, priority: 0))
        let hints = c.prefetcher
        for peer in [-1, 0, 1, 2, 3, Int.max] { hints.prefetch(peer: peer) }
        hints.prefetchController()
        hints.prefetch(pollAt: 0)
        hints.prefetch(pollAt: .max)
        #expect(c.counters == before.0 && c.nextDeadline == before.1 && c.queuedBytes(to: 1, priority: 0) == before.2)
        c.poll(now: 1000)
        #expect(c.inFlight(to: 1, priority: 0) == 1)
    }

    /// The prefetcher keeps the controller's addresses as offsets and narrow integers so that one fits
    /// a cache line (a driver reads one per event); what it derives must be the controller's own.
    @Test func prefetcherFitsALineAndPointsAtTheController() {
        let c = FlowController<TestPacket>(config: Self.config(), peerCount: 3, txBandwidth: Self.bandwidth,
                                           rxBandwidth: Self.bandwidth, now: 0)
        let p = c.prefetcher
        #expect(MemoryLayout<FlowPrefetcher?>.stride <= 64)
        #expect(p.timers == UnsafePointer(c.control.pointer(to: \.timers)!))
        #expect(UnsafeRawPointer(p.nextTimer)
            == UnsafeRawPointer(c.control.pointer(to: \.timers)!) + MemoryLayout<TimerQueue>.offset(of: \.next)!)
        #expect(p.controlQueue == UnsafePointer(c.control.pointer(to: \.controlQueue)!))
        #expect(p.heartbeatQueue == UnsafePointer(c.control.pointer(to: \.heartbeatQueue)!))
        #expect(p.span == UnsafePointer(c.control.pointer(to: \.span)!))
        #expect(p.peerCount == 3 && p.priorities == c.priorities && p.peerStride == c.peers.stride
            && p.laneStride == c.feedback.stride)
    }

    /// The rates the controller grants go through the same allocation as `hna rates`: FIG. 12A's
    /// second example, with queue lengths reported over the wire to two destinations.
    @Test func controllerGrantsMatchEquation3() {
        var config = Self.config(priorities: 1)
        config.units = FlowUnits(queueUnitBytes: 1, rateUnitBytesPerSecond: 1)
        var d = FlowController<TestPacket>(config: config, peerCount: 3, txBandwidth: 1000, rxBandwidth: 1000, now: 0)
        func report(_ q: UInt16, from s: Int, at t: UInt64) {
            d.receive(HNAHeader(nextProtocol: .none, timestamp: UInt32(t / 1000), queueLengths: PriorityVector([q]),
                                grantedRates: PriorityVector([0])), payload: nil, from: s, now: t)
        }
        report(600, from: 0, at: 1000)
        report(400, from: 1, at: 1000)
        #expect(d.grant(toSource: 0, priority: 0) == 600)
        #expect(d.grant(toSource: 1, priority: 0) == 400)
        #expect(d.grant(toSource: 2, priority: 0) == 0)
        // An older report (reordered in the fabric) is ignored.
        report(1, from: 0, at: 500)
        #expect(d.grant(toSource: 0, priority: 0) == 600 && d.counters.staleFeedback == 1)
    }
}

/// A header from a peer that grants this HNA a rate at priority 0 and carries nothing else: news, so
/// the pair is in the span (`FlowControlConfig.heartbeatSpanPeriods`) from then on.
func grantFromPeer(priorities: Int, now: UInt64) -> FlowHeader {
    var r = SIMD8<UInt16>()
    r[0] = 1
    return FlowHeader(nextProtocol: .none, priority: 0, timestamp: UInt32(truncatingIfNeeded: now / 1000),
                      priorityCount: priorities, queueLengths: SIMD8(), grantedRates: r, sequence: nil, acks: nil,
                      nackCount: 0, isRetransmission: false)
}

/// Puts every peer of `c` in its span at `now`.
func touchEveryPeer<P>(_ c: inout FlowController<P>, now: UInt64) {
    for p in 0 ..< c.peerCount {
        c.receive(grantFromPeer(priorities: c.priorities, now: now), nacks: [], payload: nil, from: p, now: now)
    }
}

@Suite struct HeartbeatReceiverBudgetTests {
    /// A fast HNA (10 Gbit/s) with idle peers, one of which can only receive 20 Mbit/s: towards that peer
    /// the heartbeats fit the slow receiver's share of its 1 % (the receiver hears every idle source),
    /// not the sender's; towards the fast peers they keep the configured idle period.
    @Test func idleHeartbeatsFitTheReceiversBudget() {
        let fast = 1.25e9, slow = 2.5e6
        let peers = 3
        var config = FlowControlConfig()
        config.heartbeatSpanPeriods = 1000  // long enough that the grants below keep every peer in the span
        var c = FlowController<TestPacket>(config: config, peerCount: peers, txBandwidth: fast,
                                           rxBandwidth: fast, peerRxBandwidth: [slow, fast, fast], now: 0)
        #expect(c.heartbeatInterval(to: 1) == c.heartbeatInterval)
        #expect(c.heartbeatInterval(to: 0) > 10 * c.heartbeatInterval)
        var bytes = [Int](repeating: 0, count: peers)
        var actions: [FlowAction<TestPacket>] = []
        var now: UInt64 = 0
        let end: UInt64 = 2_000_000_000
        // Every peer grants this HNA a rate now and then, as live destinations do: all stay in the span.
        touchEveryPeer(&c, now: 0)
        var nextGrants: UInt64 = 50_000_000
        while let d = c.nextDeadline, d <= end {
            now = max(now, d)
            if now >= nextGrants {
                touchEveryPeer(&c, now: now)
                nextGrants += 50_000_000
            }
            c.poll(now: now)
            c.takeActions(into: &actions)
            for a in actions {
                if case let .send(peer, header, payload) = a, payload == nil {
                    bytes[peer] += header.encodedLength + FlowControlConfig().heartbeatFrameOverhead
                }
            }
            actions.removeAll(keepingCapacity: true)
        }
        let seconds = Double(end) * 1e-9
        // The slow peer hears every source: each may use 1/peers of 1 % of its link (one frame of slack).
        #expect(Double(bytes[0]) <= 0.01 * slow / Double(peers) * seconds + 64)
        #expect(bytes[0] > 0)
        // Fast peers: far more, within this HNA's own 1 %.
        #expect(bytes[1] > 10 * bytes[0])
        #expect(Double(bytes.reduce(0, +)) <= 0.01 * fast * seconds + 4 * 64)
    }
}

@Suite struct HeartbeatTimerTests {
    /// A sweep entry superseded by an earlier step stays queued, and the span may have emptied by the
    /// time it comes due: prefetching for it must not trap on the empty span, and firing it must not
    /// sweep (no heartbeat, no timer left).
    @Test func supersededSweepOverAnEmptySpanDoesNothing() {
        var c = FlowController<TestPacket>(config: FlowControlConfig(), peerCount: 8, txBandwidth: 1.25e9,
                                           rxBandwidth: 1.25e9, now: 0)
        c.timers.insert(TimerEntry(time: 10, index: 3, kind: .heartbeat))
        #expect(c.spanCount == 0 && c.nextDeadline == 10)
        c.prefetcher.prefetch(pollAt: 10)
        c.poll(now: 10)
        #expect(c.counters.heartbeatsSent == 0)
        #expect(c.nextDeadline == nil)
    }

    /// An HNA with many idle peers in its span and a heartbeat budget that allows one heartbeat per
    /// peer per interval only just: the first round is spread over the first interval after half an
    /// idle one (not bunched), every peer then gets one heartbeat per interval and never two within
    /// one, and a heartbeat costs at most one wake-up (the sweep sends a step's heartbeats together).
    /// Per-peer timers re-armed when the heartbeat was queued rather than when it left came due while
    /// the heartbeat had waited for the budget, found the pair not idle, and needed a second wake-up.
    @Test func idlePeersGetOneHeartbeatPerIntervalAndOneWakeUpEach() {
        let peers = 200
        var config = FlowControlConfig()
        config.heartbeatSpanPeriods = 1000  // the whole test
        var c = FlowController<TestPacket>(config: config, peerCount: peers, txBandwidth: 1.25e9,
                                           rxBandwidth: 1.25e9, now: 0)
        let interval = c.heartbeatInterval
        #expect(interval > FlowControlConfig().heartbeatIdle, "the budget, not the idle period, sets the interval")
        #expect(c.nextDeadline == nil, "no peer in the span: no sweep")
        touchEveryPeer(&c, now: 0)
        #expect(c.spanCount == peers)
        var sentAt: [[UInt64]] = Array(repeating: [], count: peers)
        var actions: [FlowAction<TestPacket>] = []
        var wakeUps = 0
        var now: UInt64 = 0
        let rounds: UInt64 = 10
        while let d = c.nextDeadline, d <= rounds * interval {
            now = max(now, d)
            c.poll(now: now)
            wakeUps += 1
            c.takeActions(into: &actions)
            for a in actions {
                if case let .send(peer, _, payload) = a, payload == nil { sentAt[peer].append(now) }
            }
            actions.removeAll(keepingCapacity: true)
        }
        let heartbeats = sentAt.map(\.count).reduce(0, +)
        #expect(heartbeats == c.counters.heartbeatsSent)
        // At most one wake-up per heartbeat (a few more where the budget makes one wait).
        #expect(Double(wakeUps) <= 1.05 * Double(heartbeats), "\(wakeUps) wake-ups for \(heartbeats) heartbeats")
        // The first round: every peer once, after half an interval of idleness and within the next
        // interval, a step's batch at a time.
        let first = sentAt.compactMap(\.first)
        #expect(first.count == peers && first.allSatisfy { $0 >= interval / 2 && $0 <= interval * 3 / 2 })
        let together = Dictionary(grouping: first, by: { $0 }).values.map(\.count).max() ?? 0
        #expect(together <= FlowControlConfig.heartbeatBurstFrames, "spread, not bunched")
        // Then one per interval for every peer, none early.
        for times in sentAt {
            #expect(times.count >= Int(rounds) - 1 && times.count <= Int(rounds))
            for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= interval) }
        }
    }
}
