import HNAWire

/// Everything a run reports: the figures of the summary table and of `--json`, and the time series
/// behind `--csv` and `--plot`. Definitions: docs/simulator.md.
public struct SimResult: Sendable {
    public struct SizeClassFCT: Sendable {
        public var sizeClass: SizeClass
        public var flows: Int
        public var fctP50Us: Double?
        public var fctP99Us: Double?
        public var slowdownP50: Double?
        public var slowdownP99: Double?
    }

    public var scenario: String
    public var flowControl: FlowControlMode
    public var topology: String
    public var hosts: Int
    public var seed: UInt64
    public var simulatedSeconds: Double
    public var wallSeconds: Double
    /// CPU time of the simulating thread (0 when not measured).
    public var cpuSeconds: Double = 0
    public var events: UInt64
    /// Events of each kind, in `EventKind` order: arrivals (one per packet per link), host wake-ups,
    /// flow starts and samples.
    public var eventsByKind: [(kind: EventKind, count: UInt64)]
    /// Packets hosts sent: data, and feedback without data (acks, NACKs, heartbeats, notifications),
    /// of which heartbeats.
    public var dataPackets: UInt64
    public var feedbackPackets: UInt64
    public var heartbeats: Int
    public var fabricDrops: UInt64
    public var ingressDrops: Int
    public var ecnMarks: UInt64
    public var retransmissions: Int
    public var deliveredBytes: UInt64
    public var goodputGbps: Double
    /// Mean utilisation of the bottleneck links over the steady-state window.
    public var bottleneckUtilization: Double
    public var bottleneckLinks: [(name: String, utilization: Double)]
    public var jainFairness: Double?
    /// Bytes of acks, NACKs, heartbeats and congestion notifications over the bytes all host links
    /// could carry in the run.
    public var feedbackOverhead: Double
    public var flowsStarted: Int
    public var flowsCompleted: Int
    public var fctP50Us: Double?
    public var fctP99Us: Double?
    public var bySize: [SizeClassFCT]
    public var queueP99Bytes: Int
    public var queueMaxBytes: Int
    public var bufferMaxBytes: Int
    /// Steady-state rates source -> destination in units of the host link bandwidth (at most 64 hosts).
    public var rateMatrix: [[Double]]?
    public var expectedRates: [[Double]]?
    public var hostLabels: [String]?
    /// Time from the last change in demand until every competing source stays within 10% of its final
    /// throughput (see `convergence`); nil if it never settles or cannot be measured.
    public var convergenceUs: Double?
    public var windowStartNs: SimTime

    // Time series.
    public var sampleTimes: [SimTime]
    /// The hosts `sourceSeries` has a column for.
    public var seriesSources: [Int]
    public var sourceSeries: [[Double]]
    public var totalSeries: [Double]
    public var bottleneckQueueSeries: [Int]
    public var bufferSeries: [Int]

    public init<H: SimHost>(simulation sim: Simulation<H>, flowControl: FlowControlMode, wallSeconds: Double) {
        let s = sim.scenario
        let m = sim.metrics
        let f = sim.fabric
        scenario = s.name
        self.flowControl = flowControl
        topology = s.fabric.topology.rawValue
        hosts = s.fabric.hosts
        seed = s.seed
        simulatedSeconds = Double(s.durationNs) / 1e9
        self.wallSeconds = wallSeconds
        events = sim.queue.processed
        eventsByKind = EventKind.allCases.map { ($0, sim.eventsByKind[Int($0.rawValue)]) }
        fabricDrops = f.drops
        let hs = sim.hostStats
        dataPackets = m.dataPacketsSent
        feedbackPackets = m.feedbackPackets
        heartbeats = hs.heartbeats
        ingressDrops = hs.ingressDrops
        retransmissions = hs.retransmissions
        ecnMarks = f.marks
        deliveredBytes = m.deliveredBytes
        goodputGbps = Double(m.deliveredBytes) * 8 / simulatedSeconds / 1e9
        let windowStart = min(m.windowStart, s.durationNs)
        windowStartNs = windowStart
        let window = Double(s.durationNs - windowStart) / 1e9
        var links: [(String, Double)] = []
        for l in m.bottleneckLinks {
            let link = f.links[l]
            let util = window > 0 ? Double(link.deliveredBytes - link.windowStartBytes) / (link.bytesPerSecond * window) : 0
            links.append((Self.linkName(l, fabric: f, labels: s.hostLabels), util))
        }
        bottleneckLinks = links
        bottleneckUtilization = links.isEmpty ? 0 : links.map(\.1).reduce(0, +) / Double(links.count)
        let linkBytesPerSecond = f.links[0].bytesPerSecond
        jainFairness = s.competing.isEmpty ? nil : jainIndex(s.competing.map { Double(m.windowReceivedBySource[$0]) })
        feedbackOverhead = Double(m.feedbackBytes) / (linkBytesPerSecond * simulatedSeconds * Double(hosts))
        flowsStarted = sim.flows.array.filter { !$0.isLongLived && $0.start <= s.durationNs }.count
        flowsCompleted = m.completed.count
        let fcts = m.completed.map { Double($0.fctNs) / 1000 }.sorted()
        fctP50Us = Percentile.of(sorted: fcts, 0.5)
        fctP99Us = Percentile.of(sorted: fcts, 0.99)
        bySize = SizeClass.allCases.map { c in
            let inClass = m.completed.filter { SizeClass(bytes: $0.size) == c }
            let fct = inClass.map { Double($0.fctNs) / 1000 }.sorted()
            let slow = inClass.map(\.slowdown).sorted()
            return SizeClassFCT(sizeClass: c, flows: inClass.count,
                                fctP50Us: Percentile.of(sorted: fct, 0.5), fctP99Us: Percentile.of(sorted: fct, 0.99),
                                slowdownP50: Percentile.of(sorted: slow, 0.5), slowdownP99: Percentile.of(sorted: slow, 0.99))
        }
        queueP99Bytes = f.queueHistogram.percentile(0.99)
        queueMaxBytes = f.maxQueueBytes
        bufferMaxBytes = f.maxBufferBytes
        if m.keepMatrix && window > 0 {
            let n = hosts
            rateMatrix = (0 ..< n).map { i in
                (0 ..< n).map { j in Double(m.windowPairBytes[i * n + j]) / (linkBytesPerSecond * window) }
            }
        }
        expectedRates = s.expectedRates
        hostLabels = s.hostLabels
        sampleTimes = m.sampleTimes
        seriesSources = m.seriesSources
        sourceSeries = m.sourceSeries
        totalSeries = m.totalSeries
        bottleneckQueueSeries = m.bottleneckQueueSeries
        bufferSeries = m.bufferSeries
        convergenceUs = Self.convergence(scenario: s, metrics: m, linkGbps: linkBytesPerSecond * 8 / 1e9)
    }

    static func linkName(_ l: Int, fabric: Fabric, labels: [String]?) -> String {
        let h = fabric.hosts
        func host(_ i: Int) -> String { labels.map { i < $0.count ? $0[i] : "h\(i)" } ?? "h\(i)" }
        if l < h { return "\(host(l))->fabric" }
        if l < 2 * h { return "fabric->\(host(l - h))" }
        return "link\(l)"
    }

    /// Each competing source's throughput, averaged over enough samples to hold about 20 packets at its
    /// final rate, must stay within 10% of that final rate (its mean over the last fifth of the run) from
    /// the reported time on. Windows start after the change.
    static func convergence(scenario s: Scenario, metrics m: MetricsCollector, linkGbps: Double) -> Double? {
        guard !s.competing.isEmpty, !m.sourceSeries.isEmpty else { return nil }
        let times = m.sampleTimes
        let n = times.count
        let tail = max(1, n / 5)
        let intervalSeconds = Double(m.sampleInterval) / 1e9
        guard let first = times.firstIndex(where: { $0 > s.changeAtNs }) else { return nil }
        var settledAt = s.changeAtNs
        for src in s.competing {
            guard let column = m.seriesSources.firstIndex(of: src) else { return nil }
            let series = m.sourceSeries.map { $0[column] }
            let final = series[(n - tail)...].reduce(0, +) / Double(tail)
            guard final > 0 else { continue }
            let packetsPerSample = final * 1e9 * intervalSeconds / 8 / Double(Framing.segmentBytes)
            let window = min(max(1, Int((20 / packetsPerSample).rounded(.up))), max(1, (n - first) / 4))
            var sum = 0.0
            var last = -1
            for k in first ..< n {
                sum += series[k]
                if k - first >= window { sum -= series[k - window] }
                guard k - first + 1 >= window else { continue }
                if abs(sum / Double(window) - final) > 0.1 * final { last = k }
            }
            if last == n - 1 { return nil }
            if last >= 0 { settledAt = max(settledAt, times[last]) }
        }
        return Double(settledAt - s.changeAtNs) / 1000
    }
}
