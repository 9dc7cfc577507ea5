/// Counts what a run does, cheaply per packet, and turns the counts into the reported metrics
/// (definitions: docs/simulator.md).

/// Flow-size classes for FCT percentiles.
public enum SizeClass: Int, CaseIterable, Sendable {
    case tiny, small, medium, large

    public static let bounds = [10_000, 100_000, 1_000_000]

    public init(bytes: Int64) {
        if bytes < 10_000 { self = .tiny } else if bytes < 100_000 { self = .small }
        else if bytes < 1_000_000 { self = .medium } else { self = .large }
    }

    public var label: String {
        switch self {
        case .tiny: return "<10KB"
        case .small: return "10KB-100KB"
        case .medium: return "100KB-1MB"
        case .large: return ">=1MB"
        }
    }
}

public struct CompletedFlow: Sendable {
    public var size: Int64
    public var fctNs: SimTime
    public var slowdown: Double
}

public struct MetricsCollector: Sendable {
    public let hosts: Int
    public let sampleInterval: SimTime
    public let keepMatrix: Bool
    let measureStart: SimTime
    /// When the steady-state window actually opened (the first sample at or after `measureStart`).
    public private(set) var windowStart: SimTime = .max
    let hostBytesPerNs: Double
    let bottleneckLinks: [Int]

    // Per packet (raw arrays, updated in place: no array uniqueness check per packet).
    public private(set) var dataBytesSent: RawArray<UInt64>
    public private(set) var feedbackBytes: UInt64 = 0
    public private(set) var feedbackPackets: UInt64 = 0
    public private(set) var dataPacketsSent: UInt64 = 0
    public private(set) var deliveredBytes: UInt64 = 0
    /// Data wire bytes each source got to its destinations inside the window.
    public private(set) var windowReceivedBySource: RawArray<UInt64>
    /// Same per (source, destination), for runs of at most 64 hosts.
    public private(set) var windowPairBytes: RawArray<UInt64>
    public private(set) var completed: [CompletedFlow] = []

    // Time series.
    public private(set) var sampleTimes: [SimTime] = []
    /// Sources with a throughput series: every host in runs of at most 64 hosts, else the competing
    /// sources (up to 256).
    public let seriesSources: [Int]
    /// Per sample, Gb/s each of `seriesSources` sent.
    public private(set) var sourceSeries: [[Double]] = []
    /// Per sample, Gb/s all sources sent together.
    public private(set) var totalSeries: [Double] = []
    /// Per sample, the largest backlog among the bottleneck links (bytes).
    public private(set) var bottleneckQueueSeries: [Int] = []
    /// Per sample, the fullest shared buffer of any switch (bytes).
    public private(set) var bufferSeries: [Int] = []
    var lastSent: [UInt64]

    public init(scenario: Scenario, fabric: Fabric) {
        hosts = scenario.fabric.hosts
        sampleInterval = max(scenario.durationNs / 200, 1000)
        keepMatrix = hosts <= 64
        seriesSources = hosts <= 64 ? Array(0 ..< hosts) : (scenario.competing.count <= 256 ? scenario.competing : [])
        measureStart = scenario.measureStart
        hostBytesPerNs = fabric.links[0].bytesPerSecond / 1e9
        dataBytesSent = RawArray(repeating: 0, count: hosts)
        lastSent = [UInt64](repeating: 0, count: hosts)
        windowReceivedBySource = RawArray(repeating: 0, count: hosts)
        windowPairBytes = RawArray(repeating: 0, count: keepMatrix ? hosts * hosts : 0)
        bottleneckLinks = Self.bottlenecks(scenario: scenario, fabric: fabric)
    }

    /// The links `bottleneckUtilization` averages: the senders' links or the links into the receivers
    /// of a long-lived scenario, every host's downlink for random traffic.
    static func bottlenecks(scenario: Scenario, fabric: Fabric) -> [Int] {
        switch scenario.traffic {
        case let .backlogged(pairs):
            let side = scenario.bottleneck == .senders ? pairs.map(\.src) : pairs.map(\.dst)
            var seen = Set<Int>()
            return side.filter { seen.insert($0).inserted }.sorted().map {
                scenario.bottleneck == .senders ? fabric.hostUplink($0) : fabric.hostDownlink($0)
            }
        case .random:
            return (0 ..< fabric.hosts).map { fabric.hostDownlink($0) }
        }
    }


    mutating func sent(src: Int, wireBytes: Int, data: Bool) {
        if data {
            dataBytesSent[src] &+= UInt64(wireBytes)
            dataPacketsSent &+= 1
        } else {
            feedbackBytes &+= UInt64(wireBytes)
            feedbackPackets &+= 1
        }
    }


    mutating func received(src: Int, dst: Int, wireBytes: Int, now: SimTime) {
        guard now >= windowStart else { return }
        windowReceivedBySource[src] &+= UInt64(wireBytes)
        if keepMatrix { windowPairBytes[src * hosts + dst] &+= UInt64(wireBytes) }
    }


    mutating func delivered(bytes: Int) { deliveredBytes &+= UInt64(bytes) }

    mutating func completed(_ f: Flow, fabric: Fabric) {
        let fct = f.finish - f.start
        let hops = fabric.hops(from: Int(f.src), to: Int(f.dst))
        let packets = (f.size + Int64(Framing.segmentBytes) - 1) / Int64(Framing.segmentBytes)
        let perPacket = Framing.outerHeaderBytes + Framing.innerEncapsulationBytes + 24
        let wire = Double(f.size + packets * Int64(perPacket))
        let ideal = Double(hops) * Double(fabric.config.linkDelayNs)
            + Double(hops - 1) * Double(Framing.segmentBytes + perPacket) / hostBytesPerNs
            + wire / hostBytesPerNs
        completed.append(CompletedFlow(size: f.size, fctNs: fct, slowdown: max(1, Double(fct) / ideal)))
    }

    mutating func sample(now: SimTime, fabric: inout Fabric) {
        if windowStart == .max && now >= measureStart {
            windowStart = now
            for i in fabric.links.indices { fabric.links[i].windowStartBytes = fabric.links[i].deliveredBytes }
        }
        let dt = Double(sampleInterval)
        var total: UInt64 = 0
        for h in 0 ..< hosts { total += dataBytesSent[h] - lastSent[h] }
        if !seriesSources.isEmpty {
            sourceSeries.append(seriesSources.map { Double(dataBytesSent[$0] - lastSent[$0]) * 8 / dt })
        }
        lastSent = dataBytesSent.array
        sampleTimes.append(now)
        totalSeries.append(Double(total) * 8 / dt)
        let nowPs = Double(now) * 1000
        var worst = 0
        for l in bottleneckLinks { worst = max(worst, fabric.links[l].backlogBytes(atPs: nowPs)) }
        bottleneckQueueSeries.append(worst)
        var fullest = 0
        for sw in fabric.switches.indices { fullest = max(fullest, fabric.bufferOccupancy(switch: sw, atPs: nowPs)) }
        bufferSeries.append(fullest)
        fabric.maxBufferBytes = max(fabric.maxBufferBytes, fullest)
    }
}
