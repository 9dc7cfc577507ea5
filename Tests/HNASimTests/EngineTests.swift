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
        while q.pop() != nil {
            #expect(q.time >= now)
            now = q.time
            popped += 1
            if popped < 5000 { q.schedule(.hostWake, at: now + rng.next() % 1000, index: 0) }
        }
        #expect(popped == 5000 + 199)
    }

    /// Against a plain model (every pending event in a list, the least (time, scheduling order) first),
    /// with times near the present, a few wheel turns ahead and far beyond it, events at the present
    /// itself, and gaps that leave the wheel empty.
    @Test func wheelAndFarEventsMatchAModelQueue() {
        var rng = HNATestSupport.SplitMix64(seed: 23)
        var q = EventQueue(capacity: 16)
        var model: [(time: SimTime, order: Int, index: UInt32)] = []
        var order = 0
        var now: SimTime = 0
        func delay() -> SimTime {
            switch rng.next() % 8 {
            case 0: return 0
            case 1: return rng.next() % 5_000_000
            case 2, 3: return rng.next() % SimTime(3 * EventQueue.horizon)
            default: return rng.next() % 300
            }
        }
        for _ in 0 ..< 50 {
            let t = delay()
            q.schedule(.flowStart, at: t, index: UInt32(order))
            model.append((t, order, UInt32(order)))
            order += 1
        }
        var popped = 0
        while let e = q.pop() {
            let m = model.indices.min { a, b in
                model[a].time != model[b].time ? model[a].time < model[b].time : model[a].order < model[b].order
            }!
            #expect(e.index == model[m].index && q.time == model[m].time)
            if e.index != model[m].index { break }
            model.remove(at: m)
            now = q.time
            popped += 1
            let more = popped < 20_000 ? Int(rng.next() % 3) : 0
            for _ in 0 ..< more {
                let t = now + delay()
                q.schedule(.flowStart, at: t, index: UInt32(order))
                model.append((t, order, UInt32(order)))
                order += 1
            }
        }
        #expect(model.isEmpty && q.isEmpty)
        #expect(Int(q.processed) == order)
    }

    @Test func anArrivalCarriesItsPacket() {
        var q = EventQueue()
        var p = Packet(src: 3, dst: 9, wireBytes: 1514, flow: 77, payloadBytes: 1400, kind: .data, hash: 0xABCD)
        p.ect = true
        q.schedule(.sample, at: 10, index: 1)
        q.schedule(arrivalOf: Frame(p), on: 42, at: 5 + SimTime(EventQueue.horizon))
        q.schedule(arrivalOf: Frame(Packet(src: 1, dst: 2, wireBytes: 80, flow: -1, payloadBytes: 0, kind: .heartbeat,
                                         hash: 1)),
                   on: 7, at: 10)
        #expect(q.pop()?.kind == .sample)
        let hb = q.pop()!
        #expect(hb.kind == .arrive && hb.index == 7 && hb.frame.kind == .heartbeat && hb.frame.headerSlot == -1)
        let e = q.pop()!
        #expect(q.time == 5 + SimTime(EventQueue.horizon))
        #expect(e.kind == .arrive && e.index == 42)
        #expect(e.frame.src == 3 && e.frame.dst == 9 && e.frame.flow == 77 && e.frame.hash == 0xABCD)
        #expect(e.frame.wireBytes == 1514 && e.frame.payloadBytes == 1400 && e.frame.ect && !e.frame.ce)
        #expect(q.pop() == nil)
    }

    /// A packet travels as its frame, its header in a store slot; the two make the same packet again,
    /// and a freed slot is the next one used.
    @Test func aFrameAndItsStoredHeaderMakeThePacketAgain() {
        var store = HeaderStore()
        var h = SimHeader()
        h.timestamp = 99
        h.sequence = 7
        h.nackSlot = 3
        h.queueLengths = SIMD4(1, 2, 3, 4)
        var p = Packet(src: 1, dst: 2, wireBytes: 200, flow: 5, payloadBytes: 100, kind: .data, hash: 9, header: h)
        p.ect = true
        p.ce = true
        let slot = store.put(p.header!)
        let f = Frame(p, headerSlot: slot)
        #expect(store.count == 1 && f.ect && f.ce && f.wireBytes == 200 && f.payloadBytes == 100)
        let q = f.packet(header: store.take(f.headerSlot))
        #expect(store.count == 0)
        #expect(q.src == 1 && q.dst == 2 && q.flow == 5 && q.hash == 9 && q.kind == .data && q.ect && q.ce)
        #expect(q.wireBytes == 200 && q.payloadBytes == 100)
        let back = q.header
        #expect(back?.timestamp == 99 && back?.sequence == 7 && back?.nackSlot == 3 && back?.queueLengths == SIMD4(1, 2, 3, 4))
        let bare = Frame(Packet(src: 1, dst: 2, wireBytes: 80, flow: -1, payloadBytes: 0, kind: .heartbeat, hash: 1))
        #expect(bare.headerSlot == -1 && bare.packet(header: nil).header == nil)
        let a = store.put(h), b = store.put(h)
        #expect(a == slot && b != a && store.count == 2)
    }

    /// A switch hop moves the current arrival to a later bucket in place; when that takes the pool's
    /// last chunk, the pool grows (moves) under the event being copied. Every packet must come out
    /// whole, with its new link and the CE mark where one was set, in order.
    @Test func reschedulingTheCurrentArrivalSurvivesPoolGrowth() {
        var q = EventQueue(capacity: 8)
        let packets = 2000
        for i in 0 ..< packets {
            var p = Packet(src: Int32(i), dst: Int32(i + 1), wireBytes: Int32(100 + i % 1000), flow: Int32(i),
                           payloadBytes: 50, kind: .data, hash: UInt32(i) &* 2654435761)
            p.ect = i % 3 == 0
            q.schedule(arrivalOf: Frame(p), on: 0, at: 1)
        }
        var hops: [Int] = []
        var seen = 0
        while q.advance(until: .max) {
            let e = q.current.pointee
            let i = Int(e.frame.src)
            #expect(e.kind == .arrive && e.frame.dst == Int32(i + 1) && e.frame.flow == Int32(i))
            #expect(e.frame.wireBytes == Int32(100 + i % 1000) && e.frame.hash == UInt32(i) &* 2654435761)
            #expect(e.frame.ect == (i % 3 == 0) && e.frame.ce == (e.index > 0 && i % 2 == 0))
            if e.index < 3 {
                // Every packet to the same later bucket, so the chunks run out while the current bucket
                // is still being read.
                q.rescheduleCurrent(on: Int32(e.index + 1), at: q.time + 100, ce: i % 2 == 0)
            } else {
                hops.append(i)
            }
            seen += 1
        }
        #expect(seen == 4 * packets)
        #expect(hops == Array(0 ..< packets))
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
