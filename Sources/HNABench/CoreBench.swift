import HNACore
import HNAWire

/// A queued packet as the simulator would queue it: a length and nothing else.
struct BenchPacket: FabricPayload {
    var wireLength: Int
    var nextProtocol: HNANextProtocol { .ethernet }
}

/// `hna bench core`: the communications controller's cost per packet, and one rate-allocation round.
public enum CoreBench {
    public static func run(seconds: Double = 0.5, peers: Int = 1000) -> BenchReport {
        var report = BenchReport(name: "core")
        report.context.append(("peers", String(peers)))
        report.context.append(("priorities", String(FlowControlConfig().priorities)))
        let (ns, deliveredShare) = packetCost(seconds: seconds, peers: peers)
        report.context.append(("packets delivered / enqueued", String((deliveredShare * 1000).rounded() / 1000)))
        report.add("packetNs", ns, "ns/packet", "enqueue + schedule + send, receive + deliver + ack")
        report.add("allocationRoundNs", allocationCost(seconds: seconds, peers: peers), "ns/round",
                   "allocation round (Eq. 3 column + Eq. 4 row), \(peers) peers x 4 priorities")
        return report
    }

    /// Two controllers, A sending to B's peer slots round robin over every peer and priority; B's
    /// acks go back to A, so the sender's window keeps moving. Bandwidths are large enough that pacing
    /// never waits: this measures the controller's work, not the rates.
    static func packetCost(seconds: Double, peers: Int) -> (Double, Double) {
        let config = FlowControlConfig()
        let p = config.priorities
        var a = FlowController<BenchPacket>(config: config, peerCount: peers, txBandwidth: 1e15, rxBandwidth: 1e15, now: 0)
        var b = FlowController<BenchPacket>(config: config, peerCount: peers, txBandwidth: 1e15, rxBandwidth: 1e15, now: 0)
        var fromA: [FlowAction<BenchPacket>] = []
        var fromB: [FlowAction<BenchPacket>] = []
        fromA.reserveCapacity(1024)
        fromB.reserveCapacity(1024)
        var now: UInt64 = 1_000
        var next = 0
        let batch = 64
        let batches = 64
        var delivered = 0
        var enqueued = 0
        let ns = BenchReport.nanosecondsPerOperation(iterations: batch * batches, minimumSeconds: seconds) {
            for _ in 0 ..< batches {
                now += 1_000
                for _ in 0 ..< batch {
                    let slot = next
                    next = (next + 1) % (peers * p)
                    if a.enqueue(BenchPacket(wireLength: 1000), to: slot / p, priority: slot % p, now: now) == .queued {
                        enqueued += 1
                    }
                }
                a.poll(now: now)
                a.takeActions(into: &fromA)
                // A's peer `d` is B seen from the other side: B hears it as its peer `d`.
                for case let .send(peer, header, payload) in fromA { b.receive(header, payload: payload, from: peer, now: now) }
                fromA.removeAll(keepingCapacity: true)
                b.poll(now: now + 100_000)
                b.takeActions(into: &fromB)
                for action in fromB {
                    switch action {
                    case let .send(peer, header, payload): a.receive(header, payload: payload, from: peer, now: now)
                    case .deliver: delivered += 1
                    }
                }
                fromB.removeAll(keepingCapacity: true)
            }
        }
        return (ns, Double(delivered) / Double(max(1, enqueued)))
    }

    static func allocationCost(seconds: Double, peers: Int) -> Double {
        let p = FlowControlConfig().priorities
        var rng: UInt64 = 0x9E37_79B9
        let queues = (0 ..< peers * p).map { _ -> Double in
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(rng >> 44)
        }
        var grants = [Double](repeating: 0, count: peers * p)
        var rates = [Double](repeating: 0, count: peers * p)
        return BenchReport.nanosecondsPerOperation(iterations: 1, minimumSeconds: seconds) {
            RateAllocation.destinationGrants(queues: queues, priorities: p, bandwidth: 1.25e9, minimumShare: 1.0 / 16,
                                             into: &grants)
            RateAllocation.sourceRates(grants: grants, priorities: p, bandwidth: 1.25e9, minimumShare: 1.0 / 16,
                                       into: &rates)
            blackHole(rates[0])
        }
    }
}
