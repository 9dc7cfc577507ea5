import HNATestSupport
import HNAWire
import Testing
@testable import HNACore

/// The retransmission timer follows the measured round trip (RFC 6298), backs off per packet, and a
/// destination keeps the grants of its low-rate sources fresh.
@Suite struct RoundTripTests {
    static let bandwidth = 125_000_000.0

    static func config() -> FlowControlConfig {
        var c = FlowControlConfig()
        c.priorities = 1
        c.units = FlowUnits(queueUnitBytes: 64, rateUnitBytesPerSecond: 1 << 12)
        c.rateBurstBytes = 3000
        c.nicBurstBytes = 9000
        return c
    }

    @Test func estimatorFollowsRFC6298() {
        var c = FlowController<TestPacket>(config: Self.config(), peerCount: 2, txBandwidth: Self.bandwidth,
                                           rxBandwidth: Self.bandwidth, now: 0)
        #expect(c.smoothedRoundTrip(to: 1) == nil)
        #expect(c.retransmissionTimeout(to: 1) == Self.config().initialResendTimeout)
        // First sample 1 ms: SRTT 1 ms, RTTVAR 0.5 ms, RTO 3 ms.
        c.sampleRoundTrip(1_000_000, peer: 1)
        #expect(c.smoothedRoundTrip(to: 1) == 1_000_000)
        #expect(c.retransmissionTimeout(to: 1) == 3_000_000)
        // 3 ms: RTTVAR 3/4 * 0.5 + 1/4 * 2 = 0.875 ms, SRTT 7/8 * 1 + 1/8 * 3 = 1.25 ms, RTO 4.75 ms.
        c.sampleRoundTrip(3_000_000, peer: 1)
        #expect(c.smoothedRoundTrip(to: 1) == 1_250_000)
        #expect(c.retransmissionTimeout(to: 1) == 4_750_000)
        // Peer 0 is untouched; a tiny round trip still leaves the minimum margin, a huge one is capped.
        #expect(c.smoothedRoundTrip(to: 0) == nil)
        c.sampleRoundTrip(1_000, peer: 0)
        #expect(c.retransmissionTimeout(to: 0) == 1_000 + Self.config().resendTimeout)
        for _ in 0 ..< 50 { c.sampleRoundTrip(10_000_000_000, peer: 0) }
        #expect(c.retransmissionTimeout(to: 0) == Self.config().maxResendTimeout)
    }

    /// A path with a round trip of ~8 ms, sixteen times the minimum RTO: with a fixed 500 µs timer every
    /// packet would be sent several times. The estimator learns the round trip and nothing is resent.
    @Test func longRoundTripCausesNoSpuriousResends() {
        let seed: UInt64 = 1
        var impair = FakeFabric.Impairments()
        // A fixed delay: no reordering, so no NACKs either (reordering is the receiver's NACK delay's
        // business, not the timer's).
        impair.minDelay = 4_000_000
        impair.maxDelay = 4_000_000
        var fabric = FakeFabric(nodes: 2, config: Self.config(), bandwidth: Self.bandwidth, seed: seed, impairments: impair)
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 1200)] : [] }
        fabric.scheduleInjections(node: 0, every: 100_000, until: 200_000_000)
        fabric.run(until: 300_000_000)
        #expect(fabric.failures.isEmpty, "\(fabric.failures.prefix(3))")
        #expect(fabric.undelivered == 0)
        #expect(fabric.nodes[0].counters.retransmissions == 0, "\(fabric.nodes[0].counters)")
        #expect(fabric.nodes[1].counters.duplicates == 0)
        let srtt = fabric.nodes[0].smoothedRoundTrip(to: 1) ?? 0
        #expect(srtt >= 7_900_000 && srtt <= 8_200_000, "SRTT \(srtt)")
        #expect(fabric.nodes[0].retransmissionTimeout(to: 1) > srtt)
        #expect(fabric.nodes[0].counters.roundTripSamples > 100)
    }

    /// A packet whose path is cut is resent with a doubling timeout, not every RTO; and the ack of a
    /// resent packet is no round-trip sample (Karn), so the estimate stays what the path measured.
    @Test func repeatedResendsBackOff() {
        var impair = FakeFabric.Impairments()
        impair.minDelay = 100_000
        impair.maxDelay = 100_000
        // Node 0's packets to node 1 are lost between 40 ms and 167 ms.
        impair.cut = (0, 1, 40_000_000 ..< 167_000_000)
        var fabric = FakeFabric(nodes: 2, config: Self.config(), bandwidth: Self.bandwidth, seed: 7, impairments: impair)
        // A packet every 100 µs, half the round trip, so one is always in flight and the grant stays
        // positive; the last one, at 40 ms, is lost.
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 1000)] : [] }
        fabric.scheduleInjections(node: 0, every: 100_000, until: 40_000_001)
        fabric.run(until: 45_000_000)
        let learned = fabric.nodes[0].smoothedRoundTrip(to: 1) ?? 0
        #expect(learned >= 200_000 && learned < 260_000, "SRTT \(learned)")
        #expect(fabric.nodes[0].inFlight(to: 1, priority: 0) == 1)
        fabric.run(until: 400_000_000)
        #expect(fabric.failures.isEmpty)
        #expect(fabric.undelivered == 0)
        // 127 ms of cut from an RTO of 500 µs: resends at 0.5, 1.5, 3.5, ... 127.5 ms after the first
        // send (each wait twice the last), the eighth gets through; without backoff it would be 254.
        let resends = fabric.nodes[0].counters.resendsByTimeout
        #expect(resends >= 7 && resends <= 9, "\(resends) resends")
        #expect(fabric.nodes[0].counters.retransmissions == resends)
        let after = fabric.nodes[0].smoothedRoundTrip(to: 1) ?? 0
        #expect(after == learned, "the resent packet's ack was not sampled")
    }

    /// A destination that can take 2.4 Mbit/s from a backlogged source: one 1500-byte packet per 5 ms,
    /// so acks come every 5 ms; its heartbeats are stretched to 50 ms (as a large peer count would).
    /// Without refreshes the source's 2 ms grants would go stale between packets and it would fall back
    /// to the safe rate; with them it keeps its grant and never exceeds it.
    @Test func grantRefreshKeepsALowRatePairFresh() {
        let rx = 300_000.0
        var fabric = FakeFabric(nodes: 2, config: Self.config(), bandwidth: Self.bandwidth, seed: 11)
        var slow = Self.config()
        slow.heartbeatIdle = 50_000_000
        fabric.nodes[1] = FlowController(config: slow, peerCount: 2, txBandwidth: Self.bandwidth, rxBandwidth: rx, now: 0)
        fabric.afterEvent(1)
        // The source offers 3x what the destination takes.
        fabric.workload = { _, n, _ in n == 0 ? [(1, 0, 1500)] : [] }
        let end: UInt64 = 400_000_000
        fabric.scheduleInjections(node: 0, every: 1_666_000, until: end)
        fabric.run(until: 20_000_000)
        #expect(fabric.nodes[0].hasFreshGrant(from: 1))
        let stale = fabric.nodes[0].counters.staleGrants
        var t: UInt64 = 20_000_000
        while t < end {
            t += 250_000
            fabric.run(until: t)
            #expect(fabric.nodes[0].hasFreshGrant(from: 1), "stale at \(t)")
            #expect(fabric.nodes[0].sendingRate(to: 1, priority: 0) <= rx)
        }
        #expect(fabric.nodes[0].counters.staleGrants == stale)
        #expect(fabric.nodes[1].counters.grantRefreshes > 100)
        // What arrives stays within the destination's bandwidth plus one burst and a packet.
        let warm = fabric.arrivals[1].filter { $0.0 >= 20_000_000 }
        let window: UInt64 = 100_000_000
        let limit = rx * Double(window) * 1e-9 + 3000 + 1600
        #expect(Double(FakeFabric.maxBytes(in: warm, window: window)) <= limit)
        #expect(fabric.failures.isEmpty)
    }
}
