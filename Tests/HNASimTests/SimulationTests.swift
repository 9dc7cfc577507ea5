import HNATestSupport
import HNAWire
import Testing
@testable import HNASim

/// A host with no flow control and no reliability: it sends whatever it holds at line rate, round robin
/// over destinations. It exercises the loop, the fabric and the metrics without any controller.
struct BlastHost: SimHost {
    let id: Int
    let picosecondsPerByte: Double
    var queues: [[(flow: Int32, bytes: Int)]]
    var queued: [Int]
    var nextSend: SimTime = 0
    var cursor = 0
    var total = 0

    init(id: Int, hosts: Int, gbps: Double) {
        self.id = id
        picosecondsPerByte = 8000 / gbps
        queues = Array(repeating: [], count: hosts)
        queued = Array(repeating: 0, count: hosts)
    }

    mutating func enqueue(dst: Int, flow: Int32, payloadBytes: Int, now: SimTime) -> Bool {
        queues[dst].append((flow, payloadBytes))
        queued[dst] += payloadBytes
        total += payloadBytes
        return true
    }

    func queuedBytes(to dst: Int) -> Int { queued[dst] }

    mutating func receive(_ packet: Packet, now: SimTime, io: inout HostIO) {
        if packet.kind == .data { io.deliveries.append(Delivery(flow: packet.flow, bytes: packet.payloadBytes)) }
    }

    mutating func poll(now: SimTime, io: inout HostIO) {
        guard total > 0, now >= nextSend else { return }
        while queues[cursor].isEmpty { cursor = (cursor + 1) % queues.count }
        let (flow, bytes) = queues[cursor].removeFirst()
        queued[cursor] -= bytes
        total -= bytes
        let wire = bytes + Framing.outerHeaderBytes + Framing.innerEncapsulationBytes
        io.sends.append(Packet(src: Int32(id), dst: Int32(cursor), wireBytes: Int32(wire), flow: flow,
                               payloadBytes: Int32(bytes), kind: .data, hash: UInt32(flow)))
        nextSend = now + SimTime((Double(wire) * picosecondsPerByte / 1000).rounded(.up))
        cursor = (cursor + 1) % queues.count
    }

    var nextDeadline: SimTime? { total > 0 ? nextSend : nil }
    var stats: HostStats { HostStats() }
}

func runBlast(_ s: Scenario) -> SimResult {
    var sim = Simulation<BlastHost>(scenario: s) { h, f in BlastHost(id: h, hosts: f.hosts, gbps: f.config.linkGbps) }
    sim.run()
    return SimResult(simulation: sim, flowControl: .none, wallSeconds: 0)
}

@Suite struct SimulationTests {
    @Test func lineRateIncastOverflowsASmallBuffer() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.topology = .ideal
        k.bufferKB = 64
        k.durationMs = 0.2
        let r = runBlast(try ScenarioLibrary.make("incast", knobs: k))
        #expect(r.fabricDrops > 0)
        // The receiver's link is saturated and each of 7 senders offers a full link.
        #expect(r.bottleneckUtilization > 0.97)
        #expect(r.queueMaxBytes <= 64 * 1024)
    }

    @Test func oneSenderOnAnUnboundedFabricDeliversAtLineRate() throws {
        var k = ScenarioKnobs()
        k.hosts = 4
        k.senders = 1
        k.unboundedBuffer = true
        k.durationMs = 0.1
        let r = runBlast(try ScenarioLibrary.make("incast", knobs: k))
        #expect(r.fabricDrops == 0)
        let payloadShare = Double(Framing.segmentBytes)
            / Double(Framing.segmentBytes + Framing.outerHeaderBytes + Framing.innerEncapsulationBytes)
        // Goodput over the whole run, less the first packet's path delay.
        #expect(abs(r.goodputGbps - 100 * payloadShare) < 100 * 0.05)
        #expect(r.rateMatrix![1][0] > 0.99)
        #expect(r.jainFairness == 1)
    }

    @Test func randomFlowsCompleteAndTheSameSeedGivesTheSameJSON() throws {
        var k = ScenarioKnobs()
        k.hosts = 8
        k.unboundedBuffer = true
        k.durationMs = 1
        k.load = 0.3
        let s = try ScenarioLibrary.make("websearch", knobs: k)
        let a = runBlast(s), b = runBlast(s)
        #expect(a.json.description == b.json.description)
        #expect(a.flowsCompleted > 0)
        #expect(a.fctP50Us != nil)
        k.seed = 99
        let c = runBlast(try ScenarioLibrary.make("websearch", knobs: k))
        #expect(c.json.description != a.json.description)
    }

    @Test func jsonHasTheContractKeys() throws {
        var k = ScenarioKnobs()
        k.hosts = 4
        k.durationMs = 0.05
        let r = runBlast(try ScenarioLibrary.make("permutation", knobs: k))
        for key in ["scenario", "flowControl", "hosts", "simulatedSeconds", "wallSeconds", "events", "drops",
                    "deliveredBytes", "goodputGbps", "bottleneckUtilization", "jainFairness", "feedbackOverhead",
                    "fct", "queueBytes", "rateMatrix"] {
            #expect(r.json[key] != nil, "missing \(key)")
        }
        #expect(r.json["drops"]?["fabric"] != nil && r.json["drops"]?["ingress"] != nil)
        #expect(r.json["fct"]?["p50"] != nil && r.json["queueBytes"]?["p99"] != nil && r.json["queueBytes"]?["max"] != nil)
    }

    @Test func yamlScenarioWithPairs() throws {
        let file = try ScenarioFile.parse("""
            name: two-to-one
            topology: ideal
            hosts: 3
            durationMs: 0.1
            bufferKB: 0
            pairs:
              - {src: 1, dst: 0}
              - {src: 2, dst: 0, level: 0.5}
            flowControl: [hna, none]
            """)
        let s = try file.scenario(knobs: ScenarioKnobs())
        #expect(s.name == "two-to-one")
        #expect(s.fabric.topology == .ideal && s.fabric.bufferBytes == nil)
        #expect(s.traffic == .backlogged([PairDemand(src: 1, dst: 0), PairDemand(src: 2, dst: 0, level: 0.5)]))
        #expect(try file.modes() == [.hna, .none])
        #expect(throws: ScenarioError.self) { try ScenarioFile.parse("hosts: [1, 2]") }
        #expect(throws: ScenarioError.self) { try ScenarioFile.parse("pairs: [{src: 0, dst: 99}]").scenario(knobs: ScenarioKnobs()) }
    }
}
