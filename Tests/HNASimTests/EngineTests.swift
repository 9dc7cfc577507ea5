import HNATestSupport
import Testing
@testable import HNASim

@Suite struct EngineTests {
    @Test func eventsPopInTimeThenSchedulingOrder() {
        var rng = HNATestSupport.SplitMix64(seed: 7)
        var q = EventQueue()
        var scheduled: [(SimTime, UInt32)] = []
        for i in 0 ..< 5000 {
            let t = SimTime(rng.next() % 200)
            q.schedule(.arrive, at: t, index: UInt32(i))
            scheduled.append((t, UInt32(i)))
        }
        // A stable sort by time is exactly (time, sequence) order.
        let expected = scheduled.enumerated().sorted { a, b in
            a.element.0 != b.element.0 ? a.element.0 < b.element.0 : a.offset < b.offset
        }.map(\.element.1)
        var got: [UInt32] = []
        while let e = q.pop() { got.append(e.index) }
        #expect(got == expected)
        #expect(q.processed == 5000)
    }

    @Test func interleavedScheduleAndPopStaysOrdered() {
        var rng = HNATestSupport.SplitMix64(seed: 11)
        var q = EventQueue()
        var now: SimTime = 0
        for i in 0 ..< 200 { q.schedule(.hostWake, at: rng.next() % 1000, index: UInt32(i)) }
        var popped = 0
        while let e = q.pop() {
            #expect(e.time >= now)
            now = e.time
            popped += 1
            if popped < 5000 { q.schedule(.hostWake, at: now + rng.next() % 1000, index: 0) }
        }
        #expect(popped == 5000 + 199)
    }

    @Test func randomIsDeterministicPerSeedAndStream() {
        var a = SimRandom(seed: 42), b = SimRandom(seed: 42), c = SimRandom(seed: 42, stream: 1)
        let xa = (0 ..< 100).map { _ in a.next() }
        let xb = (0 ..< 100).map { _ in b.next() }
        let xc = (0 ..< 100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func uniformAndExponentialHaveTheirMoments() {
        var r = SimRandom(seed: 3)
        let n = 200_000
        var sum = 0.0, esum = 0.0
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0 ..< n {
            let u = r.unit()
            #expect(u >= 0 && u < 1)
            sum += u
            esum += r.exponential(mean: 250)
            counts[r.below(10)] += 1
        }
        #expect(abs(sum / Double(n) - 0.5) < 0.005)
        #expect(abs(esum / Double(n) - 250) < 250 * 0.02)
        for c in counts { #expect(abs(Double(c) - Double(n) / 10) < Double(n) / 10 * 0.05) }
    }
}

@Suite struct MetricsTests {
    @Test func jainIndexExtremes() {
        #expect(jainIndex([5, 5, 5, 5]) == 1)
        #expect(abs(jainIndex([1, 0, 0, 0])! - 0.25) < 1e-12)
        #expect(abs(jainIndex([1, 2])! - 0.9) < 1e-12)
        #expect(jainIndex([]) == nil)
    }

    @Test func nearestRankPercentiles() {
        let v = (1 ... 100).map(Double.init)
        #expect(Percentile.of(sorted: v, 0.5) == 50)
        #expect(Percentile.of(sorted: v, 0.99) == 99)
        #expect(Percentile.of(sorted: v, 1) == 100)
        #expect(Percentile.of(sorted: [], 0.5) == nil)
    }

    @Test func histogramPercentilesWithinBucketError() {
        var rng = HNATestSupport.SplitMix64(seed: 5)
        var h = Histogram()
        var values: [Int] = []
        for _ in 0 ..< 20000 {
            let v = Int(rng.next() % 1_000_000)
            values.append(v)
            h.record(v)
        }
        values.sort()
        for q in [0.5, 0.9, 0.99] {
            let exact = Double(values[Int(Double(values.count) * q) - 1])
            let got = Double(h.percentile(q))
            #expect(got >= exact * 0.999 && got <= exact * 1.07, "q \(q): \(got) vs \(exact)")
        }
        #expect(h.max == values.last!)
        #expect(h.percentile(1) == values.last!)
    }
}
