import HNATestSupport
import Testing
@testable import HNASim

/// The real controller (HNACore) in every host, on the simulated fabric.
@Suite struct HNASimulationTests {
    func expectRates(_ r: SimResult, tolerance: Double = 0.01) {
        guard let m = r.rateMatrix, let e = r.expectedRates else { Issue.record("no rate matrix"); return }
        for i in 0 ..< m.count {
            for j in 0 ..< m.count {
                #expect(abs(m[i][j] - e[i][j]) <= tolerance, "\(r.scenario) \(i)->\(j): \(m[i][j]) vs patent \(e[i][j])")
            }
        }
    }

    @Test(arguments: ["fig12a", "fig12a-q", "fig12b"])
    func patentFiguresSettleAtThePatentsRates(_ name: String) throws {
        var k = ScenarioKnobs()
        k.durationMs = 0.6
        let r = SimRunner.run(try ScenarioLibrary.make(name, knobs: k), mode: .hna)
        expectRates(r)
        #expect(r.fabricDrops == 0 && r.ingressDrops == 0)
    }

    @Test func incastIsLossFreeSaturatedAndFairWithHNAButNotWithout() throws {
        var k = ScenarioKnobs()
        k.hosts = 16
        k.bufferKB = 1024
        k.durationMs = 1
        let s = try ScenarioLibrary.make("incast", knobs: k)
        let hna = SimRunner.run(s, mode: .hna)
        #expect(hna.fabricDrops == 0)
        #expect(hna.bottleneckUtilization >= 0.95)
        #expect(hna.jainFairness! >= 0.99)
        #expect(hna.retransmissions == 0)
        let none = SimRunner.run(s, mode: .none)
        #expect(none.fabricDrops > 0)
        #expect(none.retransmissions > 0)
        // Reliability recovers the loss: the receiver still gets data in order.
        #expect(none.deliveredBytes > 0)
    }

    @Test func incastSettlesAfterSendersJoin() throws {
        var k = ScenarioKnobs()
        k.hosts = 16
        k.durationMs = 1.5
        let s = try ScenarioLibrary.make("incast-join", knobs: k)
        let r = SimRunner.run(s, mode: .hna)
        // Every sender, old and new, ends with the same share within a few hundred microseconds.
        #expect(r.jainFairness! >= 0.99)
        let settle = try #require(r.convergenceUs)
        #expect(settle < 300)
        #expect(r.fabricDrops == 0)
    }

    @Test func permutationIsLossFreeAndSaturated() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.durationMs = 0.4
        let r = SimRunner.run(try ScenarioLibrary.make("permutation", knobs: k), mode: .hna)
        #expect(r.fabricDrops == 0)
        #expect(r.bottleneckUtilization >= 0.95)
        #expect(r.jainFairness! >= 0.99)
    }

    /// A packet's header waits in the run's `HeaderStore` while the packet is in flight. A lossy run
    /// (no flow control into a small buffer) must free the slot of every packet it drops, as well as of
    /// every packet that arrives: then no more headers are held than events are pending.
    @Test func droppedPacketsFreeTheirHeaders() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.bufferKB = 64
        k.durationMs = 0.5
        let s = try ScenarioLibrary.make("incast", knobs: k)
        var sim = Simulation<HNAHost>(scenario: s) { h, f in HNAHost(id: h, fabric: f, mode: .none) }
        sim.run()
        #expect(sim.fabric.drops > 1000)
        // Headers went through the store (hundreds of slots were needed at once), and leaked none.
        #expect(sim.headers.slots > 100)
        #expect(sim.headers.count <= sim.queue.count, "\(sim.headers.count) headers, \(sim.queue.count) events")
    }

    @Test func dcqcnReactsToMarks() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.unboundedBuffer = true
        k.durationMs = 1
        let s = try ScenarioLibrary.make("incast", knobs: k)
        let d = SimRunner.run(s, mode: .dcqcn)
        let n = SimRunner.run(s, mode: .none)
        #expect(d.ecnMarks > 0)
        // Line-rate senders grow the bottleneck queue without end; rate cuts drain it.
        let dq = d.bottleneckQueueSeries.last!, nq = n.bottleneckQueueSeries.last!
        #expect(dq < nq / 2, "dcqcn \(dq) none \(nq)")
        #expect(dq < d.bottleneckQueueSeries.max()!)
    }

    @Test func sameSeedSameJSON() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.durationMs = 0.3
        k.load = 0.6
        let s = try ScenarioLibrary.make("fb-hadoop", knobs: k)
        var a = SimRunner.run(s, mode: .hna), b = SimRunner.run(s, mode: .hna)
        a.wallSeconds = 0
        b.wallSeconds = 0
        a.cpuSeconds = 0
        b.cpuSeconds = 0
        #expect(a.json.description == b.json.description)
        #expect(a.flowsCompleted > 0)
    }

    /// The breakdown adds up: every event is of one kind, each packet sent crosses two to four links
    /// (an arrival each), each host poll is a wake-up, and heartbeats are feedback.
    @Test func eventsAndPacketsBreakDown() throws {
        var k = ScenarioKnobs()
        k.hosts = 16
        k.durationMs = 0.3
        k.load = 0.5
        let r = SimRunner.run(try ScenarioLibrary.make("websearch", knobs: k), mode: .hna)
        let kinds = Dictionary(uniqueKeysWithValues: r.eventsByKind.map { ("\($0.kind)", $0.count) })
        #expect(r.eventsByKind.map(\.count).reduce(0, +) == r.events)
        #expect(kinds["sample"] == 200 && kinds["flowStart"]! > 0)
        // Two to four links per packet (the last few are still in flight at the end).
        let sent = r.dataPackets + r.feedbackPackets
        #expect(kinds["arrive"]! > sent && kinds["arrive"]! <= 4 * sent)
        #expect(r.heartbeats > 0 && UInt64(r.heartbeats) <= r.feedbackPackets && r.dataPackets > 0)
        #expect(r.json["eventsByKind"]?["hostWake"] != nil && r.json["packets"]?["heartbeats"] != nil)
    }
}
