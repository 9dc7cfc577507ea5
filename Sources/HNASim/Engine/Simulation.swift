import HNACore
/// The discrete-event loop: hosts of one type (HNA or a baseline) over a fabric, fed by the scenario's
/// application. Generic over the host so the loop is specialised and every host call is static.

/// One application flow. Long-lived sources are flows of unbounded size.
public struct Flow: Sendable, BitwiseCopyable {
    public var src: Int32
    public var dst: Int32
    public var size: Int64
    public var start: SimTime
    /// Bytes not yet handed to the host.
    public var unsent: Int64
    public var delivered: Int64 = 0
    public var finish: SimTime = 0
    /// Next flow of the same pair waiting behind this one (-1: none).
    var next: Int32 = -1
    public var isLongLived: Bool { size == Int64.max }
}

/// The application's state for one (source, destination) pair: its flows waiting (a list through
/// `Flow.next`) and the queue level it keeps.
struct PairState: BitwiseCopyable {
    var head: Int32 = -1
    var tail: Int32 = -1
    var target: Int32

    init(target: Int32) { self.target = target }
}

/// Owns the hosts' memory: the loop reaches a host through a pointer, so calling into it never copies
/// the host (a controller is large) and never pays for dynamic exclusivity checks.
final class HostStorage<Host>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Host>
    let count: Int

    init(_ hosts: [Host]) {
        count = hosts.count
        base = UnsafeMutablePointer<Host>.allocate(capacity: max(count, 1))
        base.initialize(from: hosts, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// A value type, so the event loop runs as one mutating method with static exclusivity checking.
public struct Simulation<Host: SimHost> {
    public let scenario: Scenario
    public private(set) var fabric: Fabric
    let storage: HostStorage<Host>
    @usableFromInline let host: UnsafeMutablePointer<Host>
    public var hosts: UnsafeBufferPointer<Host> { UnsafeBufferPointer(start: host, count: hostCount) }
    public private(set) var queue = EventQueue(capacity: 1 << 16)
    public private(set) var now: SimTime = 0
    /// Updated in place by the loop (a raw list: no array uniqueness check per delivery).
    public private(set) var flows = RawList<Flow>(capacity: 1024)
    let hostCount: Int

    // Application state per (src, dst): flows waiting, and the queue level to keep.
    var pairState: RawArray<PairState>
    var io = HostIO()
    /// The headers of the packets in flight (their events carry only the frame).
    public private(set) var headers = HeaderStore()
    /// When each host's pending wake-up is (`.max`: none); an earlier one supersedes it.
    var wakeAt: RawArray<SimTime>
    /// The nanosecond whose next occupied ones were last prefetched for, and the second of those
    /// (`prefetchAhead`).
    var lookaheadTime: SimTime = .max
    var lookaheadSecond: SimTime = .max
    /// Whether the loop prefetches: only when the hosts' state is far larger than the caches (the
    /// lookahead costs about a hundred instructions per nanosecond of events, which pays for itself
    /// only when the misses it hides are there).
    let prefetching: Bool
    /// Events run so far of each kind (`EventKind.rawValue` indexes it): what a run's time went on.
    public private(set) var eventsByKind = RawArray<UInt64>(repeating: 0, count: EventKind.allCases.count)
    /// Where each host keeps its state, for prefetching (`SimHost.prefetcher`).
    let hints: [FlowPrefetcher?]
    /// The nanosecond for which each host's state was last prefetched by `prefetchFirst` (`.max`:
    /// never): `prefetchSecond` follows pointers in that state only when it is there.
    var hintedAt: RawArray<SimTime>
    var rng: SimRandom
    var workloadRng: SimRandom

    // Random workload: next arrival per source.
    var distribution: FlowSizeDistribution?
    var meanInterarrivalNs = 0.0

    // Metrics.
    public private(set) var metrics: MetricsCollector

    public init(scenario: Scenario, makeHost: (Int, Fabric) -> Host) {
        self.scenario = scenario
        hostCount = scenario.fabric.hosts
        fabric = Fabric(scenario.fabric, seed: scenario.seed)
        var hs: [Host] = []
        hs.reserveCapacity(hostCount)
        for h in 0 ..< hostCount { hs.append(makeHost(h, fabric)) }
        storage = HostStorage(hs)
        host = storage.base
        pairState = RawArray(repeating: PairState(target: Int32(clamping: scenario.applicationWindowBytes)),
                         count: hostCount * hostCount)
        wakeAt = RawArray(repeating: .max, count: hostCount)
        hints = (0 ..< hostCount).map { [host] h in host[h].prefetcher }
        hintedAt = RawArray(repeating: .max, count: hostCount)
        prefetching = hostCount > Self.prefetchFromHosts
        rng = SimRandom(seed: scenario.seed, stream: 1)
        workloadRng = SimRandom(seed: scenario.seed, stream: 2)
        metrics = MetricsCollector(scenario: scenario, fabric: fabric)
        // Bucket headers are prefetched only where the loop prefetches at all: in a small fabric they
        // stay in cache, and the lookahead would cost instructions for nothing.
        queue.typicalDelay = prefetching ? scenario.fabric.linkDelayNs : 0
        setUpTraffic()
        queue.schedule(.sample, at: metrics.sampleInterval, index: 0)
        for h in 0 ..< hostCount { scheduleWake(h, host[h].nextDeadline ?? .max) }
    }

    mutating func setUpTraffic() {
        switch scenario.traffic {
        case let .backlogged(pairs):
            for p in pairs {
                let f = Int32(flows.count)
                flows.append(Flow(src: Int32(p.src), dst: Int32(p.dst), size: .max, start: p.startNs, unsent: .max))
                pairState[p.src * hostCount + p.dst].target = Int32(clamping: Int((p.level * Double(scenario.levelUnitBytes)).rounded()))
                queue.schedule(.flowStart, at: p.startNs, index: UInt32(f))
            }
        case let .random(distribution, load):
            self.distribution = distribution
            let bytesPerNs = fabric.links[0].bytesPerSecond / 1e9
            meanInterarrivalNs = distribution.mean / (load * bytesPerNs)
            for h in 0 ..< hostCount { newRandomFlow(src: h, after: 0) }
        }
    }

    /// Draws the next flow of source `src` (arrival after `after`) and schedules its start.
    mutating func newRandomFlow(src: Int, after: SimTime) {
        guard let d = distribution else { return }
        let gap = SimTime(workloadRng.exponential(mean: meanInterarrivalNs).rounded())
        let t = after &+ max(gap, 1)
        if t >= scenario.durationNs { return }
        var dst = workloadRng.below(hostCount - 1)
        if dst >= src { dst += 1 }
        let size = Int64(d.sample(&workloadRng))
        let f = Int32(flows.count)
        flows.append(Flow(src: Int32(src), dst: Int32(dst), size: size, start: t, unsent: size))
        queue.schedule(.flowStart, at: t, index: UInt32(f))
    }

    @inline(__always)
    mutating func scheduleWake(_ h: Int, _ t: SimTime) {
        if t < wakeAt[h] {
            let at = max(t, now)
            wakeAt[h] = at
            queue.schedule(.hostWake, at: at, index: UInt32(h))
        }
    }

    /// Runs to the end of the scenario. `progress` is called with the fraction done every few hundred
    /// thousand events (never inside the per-event path).
    public mutating func run(progress: ((Double) -> Void)? = nil) {
        let end = scenario.durationNs
        var untilReport = 1 << 18
        while queue.advance(until: end) {
            let t = queue.time
            now = t
            let e = queue.current
            if prefetching {
                if t != lookaheadTime {
                    lookaheadTime = t
                    prefetchAhead()
                }
                if let ahead = queue.peek(Self.prefetchDistance) { prefetchSecond(ahead, at: t) }
            }
            eventsByKind[Int(e.pointee.kind.rawValue)] &+= 1
            switch e.pointee.kind {
            case .arrive: arrive(link: Int(e.pointee.index))
            case .hostWake:
                let h = Int(e.pointee.index)
                if wakeAt[h] == t {
                    wakeAt[h] = .max
                    host[h].poll(now: now, io: &io)
                    drain(h, polled: true)
                }
            case .flowStart: startFlow(Int(e.pointee.index))
            case .sample:
                metrics.sample(now: now, fabric: &fabric)
                if now &+ metrics.sampleInterval <= end {
                    queue.schedule(.sample, at: now &+ metrics.sampleInterval, index: 0)
                }
            }
            untilReport -= 1
            if untilReport == 0 {
                untilReport = 1 << 18
                progress?(Double(now) / Double(end))
            }
        }
        now = end
        progress?(1)
    }

    /// Prefetching runs ahead of the loop in three steps: entering the events of one nanosecond, it
    /// starts loading the events of the second next occupied nanosecond, and the host state the events
    /// of the next one will touch (`prefetchFirst`); within a nanosecond, `prefetchDistance` events
    /// ahead, the state of the timer a waking host will fire first, or, for an event the first step
    /// did not see, what the first step would have loaded (`prefetchSecond`). A fabric of a
    /// thousand hosts has a few tens of events per nanosecond, each touching state of a different
    /// host; loaded one after the other, those misses would cost more than the work itself.
    static var prefetchDistance: Int { 4 }
    /// Fabrics larger than this prefetch (a controller keeps state for every peer: at 128 hosts all of
    /// it is a few megabytes).
    static var prefetchFromHosts: Int { 128 }

    /// Runs when the loop enters the events of a new nanosecond `t`: the next occupied nanosecond is
    /// the one that was second last time (unless something was scheduled in between, which then goes
    /// without hints), so one bitmap scan per nanosecond finds the new second.
    mutating func prefetchAhead() {
        let t = queue.time
        var next = lookaheadSecond
        if next <= t || next == .max {
            guard let d = queue.occupiedDistance(from: 1) else { return }
            next = t + SimTime(d)
        }
        let nextDistance = Int(next - t)
        if let d = queue.occupiedDistance(from: nextDistance + 1) {
            lookaheadSecond = t + SimTime(d)
            queue.prefetchEvents(atDistance: d, chunks: 8)
        } else {
            lookaheadSecond = .max
        }
        queue.forEachEvent(atDistance: nextDistance, limit: 64) { prefetchFirst($0, for: next) }
    }

    /// First step, for the events of the next occupied nanosecond `t`: the host state an arrival at a
    /// host will touch (its controller and the record of the peer it comes from), the queues and timers
    /// of a host about to wake (nothing for an arrival at a switch: the fabric's state is small and
    /// stays in cache).
    @inline(__always)
    func prefetchFirst(_ e: UnsafePointer<Event>, for t: SimTime) {
        switch e.pointee.kind {
        case .arrive:
            let node = fabric.host(reachedBy: Int(e.pointee.index))
            if node >= 0, let hint = hints[node] {
                prefetchHost(node)
                hint.prefetchController()
                hint.prefetch(peer: Int(e.pointee.frame.src))
                prefetchHeader(e.pointee.frame.headerSlot)
                hintedAt[node] = t
            }
        case .hostWake:
            let h = Int(e.pointee.index)
            if let hint = hints[h] {
                prefetchHost(h)
                hint.prefetchController()
                hintedAt[h] = t
            }
        default:
            break
        }
    }

    /// Starts loading host `h`'s own struct (its controller's scalars and configuration).
    @inline(__always)
    func prefetchHost(_ h: Int) {
        let start = UnsafeRawPointer(host + h)
        var offset = 0
        while offset < MemoryLayout<Host>.size {
            MemoryHint.prefetch(start + offset)
            offset += 64
        }
    }

    /// Starts loading the header a packet arriving at a host left in `headers` (a header is 40 bytes,
    /// so it may span two lines).
    @inline(__always)
    func prefetchHeader(_ slot: Int32) {
        guard slot >= 0 else { return }
        let start = headers.address(slot)
        MemoryHint.prefetch(start)
        MemoryHint.prefetch(start + (MemoryLayout<SimHeader>.size - 1))
    }

    /// Second step, `prefetchDistance` ahead within the nanosecond. For a host whose state the first
    /// step loaded: the state of the timer it will fire first, found through its (now cached) timer
    /// queue. For any other (an event scheduled into this nanosecond after the first step looked, such
    /// as a wake-up when a NIC frees): what the first step would have loaded, and no more, because
    /// following pointers into state that is not in cache stalls the loop on each of them.
    @inline(__always)
    func prefetchSecond(_ e: UnsafePointer<Event>, at t: SimTime) {
        switch e.pointee.kind {
        case .hostWake:
            let h = Int(e.pointee.index)
            guard let hint = hints[h] else { return }
            if hintedAt[h] == t {
                hint.prefetch(pollAt: t)
            } else {
                prefetchHost(h)
                hint.prefetchController()
            }
        case .arrive:
            let node = fabric.host(reachedBy: Int(e.pointee.index))
            if node >= 0, hintedAt[node] != t, let hint = hints[node] {
                prefetchHost(node)
                hint.prefetchController()
                hint.prefetch(peer: Int(e.pointee.frame.src))
                prefetchHeader(e.pointee.frame.headerSlot)
            }
        default:
            break
        }
    }

    /// The current event's packet reaches the far end of `link`. Read in place: a switch reschedules
    /// the event itself; a host gets the packet whole again, its header taken from `headers`.
    mutating func arrive(link: Int) {
        let node = Int(fabric.links[link].to)
        let frame = UnsafePointer(queue.current.pointer(to: \.frame)!)
        let wire = Int(frame.pointee.wireBytes)
        fabric.links[link].deliveredBytes &+= UInt64(wire)
        if node < hostCount {
            if frame.pointee.kind == .data {
                metrics.received(src: Int(frame.pointee.src), dst: node, wireBytes: wire, now: now)
            }
            let slot = frame.pointee.headerSlot
            let packet = frame.pointee.packet(header: slot >= 0 ? headers.take(slot) : nil)
            host[node].receive(packet, now: now, io: &io)
            drain(node)
            return
        }
        let result = fabric.forward(switch: node - hostCount, dst: Int(frame.pointee.dst), hash: frame.pointee.hash,
                                    bytes: wire, ect: frame.pointee.ect, now: now, rng: &rng)
        switch result {
        case .dropped:
            // The header, and the NACKs it carried, are lost with the packet.
            let slot = frame.pointee.headerSlot
            if slot >= 0 {
                let nacks = headers.take(slot).nackSlot
                if nacks >= 0 { _ = io.takeNacks(nacks) }
            }
        case let .queued(out, arrival, marked):
            queue.rescheduleCurrent(on: out, at: arrival, ce: marked)
        }
    }

    /// Puts what host `h` produced on its link, hands deliveries to the flows, refills the queues it
    /// sent from, and re-arms its timer.
    /// After a poll, a deadline of `now` again would spin without progress; the host is asked again a
    /// nanosecond later instead (deadlines may be early, never late).
    mutating func drain(_ h: Int, polled: Bool = false) {
        if !io.sends.isEmpty {
            var fed = -1
            for i in 0 ..< io.sends.count {
                let wire = Int(io.sends[i].wireBytes)
                let dst = Int(io.sends[i].dst)
                let isData = io.sends[i].kind == .data
                let (arrival, _) = fabric.transmitFromHost(h, bytes: wire, now: now)
                metrics.sent(src: h, wireBytes: wire, data: isData)
                let slot = io.sends[i].header.map { headers.put($0) } ?? -1
                queue.schedule(arrivalOf: Frame(io.sends[i], headerSlot: slot), on: Int32(h), at: arrival)
                if isData && dst != fed {
                    fed = dst
                    feed(h, dst)
                }
            }
            io.sends.removeAll()
        }
        if !io.deliveries.isEmpty {
            for i in 0 ..< io.deliveries.count where io.deliveries[i].flow >= 0 {
                let d = io.deliveries[i]
                let f = Int(d.flow)
                flows[f].delivered += Int64(d.bytes)
                metrics.delivered(bytes: Int(d.bytes))
                if flows[f].delivered >= flows[f].size && !flows[f].isLongLived && flows[f].finish == 0 {
                    flows[f].finish = now
                    metrics.completed(flows[f], fabric: fabric)
                }
            }
            io.deliveries.removeAll()
        }
        if let d = host[h].nextDeadline { scheduleWake(h, polled ? max(d, now &+ 1) : d) }
    }

    mutating func startFlow(_ f: Int) {
        let src = Int(flows[f].src), dst = Int(flows[f].dst)
        let pair = src * hostCount + dst
        if pairState[pair].tail >= 0 {
            flows[Int(pairState[pair].tail)].next = Int32(f)
        } else {
            pairState[pair].head = Int32(f)
        }
        pairState[pair].tail = Int32(f)
        feed(src, dst)
        if distribution != nil { newRandomFlow(src: src, after: now) }
        if let d = host[src].nextDeadline { scheduleWake(src, d) }
    }

    /// The application: keeps the queue from `src` to `dst` at its target while flows have bytes left.
    mutating func feed(_ src: Int, _ dst: Int) {
        let pair = src * hostCount + dst
        var head = pairState[pair].head
        if head < 0 { return }
        let target = Int(pairState[pair].target)
        var queued = host[src].queuedBytes(to: dst)
        while head >= 0 && queued < target {
            let f = Int(head)
            let chunk = Int(min(flows[f].unsent, Int64(Framing.segmentBytes)))
            if !host[src].enqueue(dst: dst, flow: head, payloadBytes: chunk, now: now) { break }
            queued += chunk
            if !flows[f].isLongLived { flows[f].unsent -= Int64(chunk) }
            if flows[f].unsent == 0 {
                head = flows[f].next
                pairState[pair].head = head
                if head < 0 { pairState[pair].tail = -1 }
            }
        }
    }

    /// Every host's counters together.
    public var hostStats: HostStats { hosts.reduce(HostStats()) { $0 + $1.stats } }
}
