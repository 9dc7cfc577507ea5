import HeapModule
import HNATestSupport
import HNAWire
@testable import HNACore

/// A test packet: who sent it where, and its place in its (source, destination, priority) stream, so
/// the receiving side can check exactly-once, in-order delivery.
struct TestPacket: FabricPayload {
    var source: Int
    var destination: Int
    var priority: Int
    /// The first segment's serial; a train's segments have `serial ..< serial + segments`.
    var serial: Int
    var wireLength: Int
    var segments = 1
    var nextProtocol: HNANextProtocol { .ethernet }
    var segmentCount: Int { segments }

    func segments(_ range: Range<Int>) -> TestPacket {
        var p = self
        p.serial += range.lowerBound
        p.segments = range.count
        p.wireLength = wireLength / segments * range.count
        return p
    }
}

/// A deterministic fabric for N controllers: a manual clock, one event queue, and seeded loss,
/// duplication, delay and reordering. Every header goes through its wire encoding and back.
struct FakeFabric {
    struct Impairments {
        var loss = 0.0
        var duplication = 0.0
        var minDelay: UInt64 = 5_000
        var maxDelay: UInt64 = 5_000
        /// Drops every packet from `.0` to `.1` while the clock is in `.2`.
        var cut: (Int, Int, Range<UInt64>)?
    }

    enum Kind {
        case arrival(from: Int, to: Int, header: HNAHeader, payload: TestPacket?)
        case poll(Int)
        case inject(Int)
    }

    struct Event: Comparable {
        var time: UInt64
        var order: Int
        static func < (a: Event, b: Event) -> Bool { (a.time, a.order) < (b.time, b.order) }
    }

    var nodes: [FlowController<TestPacket>]
    var impairments: Impairments
    var rng: SplitMix64
    var clock: UInt64 = 0
    var queue = Heap<Event>()
    var kinds: [Int: Kind] = [:]
    var order = 0
    var pollAt: [UInt64]
    var actions: [FlowAction<TestPacket>] = []

    /// Next serial to hand out, per (source, destination, priority), counting only accepted packets.
    var nextSerial: [[[Int]]]
    /// Next serial expected at delivery, per (destination, source, priority).
    var expected: [[[Int]]]
    var failures: [String] = []
    /// Data bytes (payload and HNA header) arriving at each node, with their times.
    var arrivals: [[(UInt64, Int)]]
    /// Bytes of packets without payload (heartbeats and standalone acks) each node sent, with times.
    var controlSent: [[(UInt64, Int)]]
    /// Packets without payload per (source, destination).
    var controlPackets: [[Int]]
    var ingressDrops = 0
    /// Workload: called at `inject` events; returns packets to enqueue (destination, priority, length).
    var workload: (inout SplitMix64, Int, UInt64) -> [(Int, Int, Int)] = { _, _, _ in [] }
    /// Segments per enqueued payload (1: packets; more: trains of that many `length`-byte segments).
    var trainSegments: (inout SplitMix64) -> Int = { _ in 1 }
    /// Trains: the share whose segments cross the fabric together and reach the receiver as one
    /// train, as a driver's GRO run does (when they arrive at the expected sequence number; else, or
    /// with `misplacedTrains` of them anyway, the receiver gets them as single packets or whole).
    var together = 0.5
    /// The share of trains handed over whole even when not at the expected sequence number.
    var misplaced = 0.0

    init(nodes count: Int, config: FlowControlConfig, bandwidth: Double, seed: UInt64, impairments: Impairments = .init()) {
        nodes = (0 ..< count).map { _ in
            FlowController<TestPacket>(config: config, peerCount: count, txBandwidth: bandwidth,
                                       rxBandwidth: bandwidth, now: 0)
        }
        self.impairments = impairments
        rng = SplitMix64(seed: seed)
        pollAt = [UInt64](repeating: .max, count: count)
        let p = config.priorities
        nextSerial = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: p), count: count), count: count)
        expected = nextSerial
        arrivals = [[(UInt64, Int)]](repeating: [], count: count)
        controlSent = arrivals
        controlPackets = [[Int]](repeating: [Int](repeating: 0, count: count), count: count)
        for n in 0 ..< count { afterEvent(n) }
    }

    mutating func push(_ time: UInt64, _ kind: Kind) {
        order += 1
        kinds[order] = kind
        queue.insert(Event(time: time, order: order))
    }

    mutating func scheduleInjections(node: Int, every period: UInt64, until end: UInt64) {
        var t: UInt64 = period
        while t < end {
            push(t, .inject(node))
            t += period
        }
    }

    mutating func enqueue(node n: Int, to d: Int, priority p: Int, length: Int) {
        let segments = trainSegments(&rng)
        let packet = TestPacket(source: n, destination: d, priority: p, serial: nextSerial[n][d][p],
                                wireLength: length * segments, segments: segments)
        switch nodes[n].enqueue(packet, to: d, priority: p, now: clock) {
        case .queued: nextSerial[n][d][p] += segments
        case .dropped: ingressDrops += 1
        }
    }

    /// Runs events until `end` (or until nothing is left to do).
    mutating func run(until end: UInt64) {
        while let e = queue.min, e.time <= end {
            _ = queue.removeMin()
            clock = e.time
            let kind = kinds.removeValue(forKey: e.order)!
            switch kind {
            case let .arrival(from, to, header, payload):
                if let payload { arrivals[to].append((clock, payload.wireLength + payload.segments * header.encodedLength)) }
                if let payload, payload.segments > 1, let first = header.sequence,
                   nodes[to].expectedSequence(from: from, priority: Int(header.priority)) != first,
                   Double.random(in: 0 ..< 1, using: &rng) >= misplaced {
                    // Not in order: the driver splits the run into its packets.
                    for i in 0 ..< payload.segments {
                        var h = header
                        h.sequence = first &+ UInt16(i)
                        nodes[to].receive(h, payload: payload.segments(i ..< i + 1), from: from, now: clock)
                    }
                } else {
                    nodes[to].receive(header, payload: payload, from: from, now: clock)
                }
                afterEvent(to)
            case let .poll(n):
                guard pollAt[n] == clock else { continue }
                pollAt[n] = .max
                afterEvent(n)
            case let .inject(n):
                for (d, p, length) in workload(&rng, n, clock) { enqueue(node: n, to: d, priority: p, length: length) }
                afterEvent(n)
            }
        }
        clock = max(clock, end)
    }

    mutating func afterEvent(_ n: Int) {
        nodes[n].poll(now: clock)
        nodes[n].takeActions(into: &actions)
        for action in actions {
            switch action {
            case let .send(peer, header, payload):
                transmit(from: n, to: peer, header: header, payload: payload)
            case let .deliver(peer, priority, payload):
                check(payload, at: n, from: peer, priority: priority)
            }
        }
        actions.removeAll(keepingCapacity: true)
        if let deadline = nodes[n].nextDeadline {
            let t = max(deadline, clock + 1)
            if t < pollAt[n] {
                pollAt[n] = t
                push(t, .poll(n))
            }
        }
    }

    mutating func transmit(from n: Int, to d: Int, header: HNAHeader, payload: TestPacket?) {
        if payload == nil {
            controlSent[n].append((clock, header.encodedLength + 42))
            controlPackets[n][d] += 1
        }
        // Through the wire format and back.
        let bytes = header.emitted()
        guard let parsed = try? bytes.withUnsafeBytes({ try HNAHeader(parsing: $0) }), parsed == header else {
            failures.append("header did not survive its wire encoding: \(header)")
            return
        }
        if let (a, b, window) = impairments.cut, a == n, b == d, window.contains(clock) { return }
        if let payload, payload.segments > 1, let first = header.sequence,
           Double.random(in: 0 ..< 1, using: &rng) >= together {
            // A train's segments cross the fabric as separate datagrams, each with its own number.
            for i in 0 ..< payload.segments {
                var h = parsed
                h.sequence = first &+ UInt16(i)
                deliverImpaired(from: n, to: d, header: h, payload: payload.segments(i ..< i + 1))
            }
            return
        }
        deliverImpaired(from: n, to: d, header: parsed, payload: payload)
    }

    mutating func deliverImpaired(from n: Int, to d: Int, header parsed: HNAHeader, payload: TestPacket?) {
        if Double.random(in: 0 ..< 1, using: &rng) < impairments.loss { return }
        let copies = Double.random(in: 0 ..< 1, using: &rng) < impairments.duplication ? 2 : 1
        for _ in 0 ..< copies {
            let delay = UInt64.random(in: impairments.minDelay ... impairments.maxDelay, using: &rng)
            push(clock + delay, .arrival(from: n, to: d, header: parsed, payload: payload))
        }
    }

    mutating func check(_ packet: TestPacket, at n: Int, from peer: Int, priority: Int) {
        guard packet.destination == n, packet.source == peer, packet.priority == priority else {
            failures.append("misdelivered \(packet) at \(n) from \(peer) priority \(priority)")
            return
        }
        let want = expected[n][peer][priority]
        if packet.serial != want {
            failures.append("node \(n) got serial \(packet.serial) from \(peer)/\(priority), expected \(want)")
        }
        expected[n][peer][priority] = packet.serial + packet.segments
    }

    /// Packets accepted by a VOQ and not yet delivered.
    var undelivered: Int {
        var missing = 0
        for s in nextSerial.indices {
            for d in nextSerial[s].indices {
                for p in nextSerial[s][d].indices { missing += nextSerial[s][d][p] - expected[d][s][p] }
            }
        }
        return missing
    }

    /// The most bytes `log` holds within any window of `window` nanoseconds.
    static func maxBytes(in log: [(UInt64, Int)], window: UInt64) -> Int {
        let sorted = log.sorted { $0.0 < $1.0 }
        var best = 0, sum = 0, start = 0
        for (t, bytes) in sorted {
            sum += bytes
            while sorted[start].0 + window <= t {
                sum -= sorted[start].1
                start += 1
            }
            best = max(best, sum)
        }
        return best
    }
}
