/// A scenario: the fabric, the traffic and what to measure. Built-in scenarios come from
/// `ScenarioLibrary`; YAML files describe the same thing (docs/simulator.md).

/// How hosts decide their sending rates. Every mode runs the same host controller and reliability.
public enum FlowControlMode: String, Sendable, CaseIterable {
    /// The patent's flow control (Eq. 3/4 with queue-length and rate feedback).
    case hna
    /// None: sources send at line rate; losses are recovered by the same retransmission.
    case none
    /// DCQCN-like ECN rate control per destination (switches mark, receivers notify, sources cut).
    case dcqcn
}

/// A source that always has data for one destination: the application keeps its queue topped up to
/// `level` x the scenario's level unit (FIG. 12's queue lengths, incast and permutation senders).
public struct PairDemand: Sendable, Equatable {
    public var src: Int
    public var dst: Int
    public var level: Double
    public var startNs: SimTime

    public init(src: Int, dst: Int, level: Double = 1, startNs: SimTime = 0) {
        self.src = src
        self.dst = dst
        self.level = level
        self.startNs = startNs
    }
}

public enum Traffic: Sendable, Equatable {
    /// Long-lived sources.
    case backlogged([PairDemand])
    /// Flows with sizes from `distribution`, Poisson arrivals per source so each source offers `load`
    /// x its link bandwidth, destinations uniform over the other hosts.
    case random(distribution: FlowSizeDistribution, load: Double)
}

/// Which links are the scenario's bottlenecks, for `bottleneckUtilization`.
public enum BottleneckSide: String, Sendable {
    /// The senders' own links (FIG. 12A: sources are at full transmit capacity).
    case senders
    /// The links into the receivers (incast, permutation, FIG. 12B).
    case receivers
}

public struct Scenario: Sendable {
    public var name: String
    public var fabric = FabricConfig()
    public var durationNs: SimTime = 2_000_000
    public var traffic: Traffic = .backlogged([])
    public var bottleneck: BottleneckSide = .receivers
    /// Sources whose steady-state throughputs Jain's index compares (empty: not meaningful).
    public var competing: [Int] = []
    /// The steady-state window starts here (default: half the run).
    public var measureFromNs: SimTime?
    /// Time of the last change in demand (convergence is measured from it).
    public var changeAtNs: SimTime = 0
    /// Bytes per unit of `PairDemand.level`.
    public var levelUnitBytes = 1 << 20
    /// Bytes the application keeps queued per pair for finite flows.
    public var applicationWindowBytes = 1 << 20
    /// Names for hosts in tables (FIG. 12: A-F).
    public var hostLabels: [String]?
    /// The patent's normalised rates R̂ for this scenario, printed beside the measured ones.
    public var expectedRates: [[Double]]?
    public var seed: UInt64 = 1

    public init(name: String) { self.name = name }

    public var measureStart: SimTime { measureFromNs ?? durationNs / 2 }

    public func validate() -> String? {
        if let p = fabric.validate() { return p }
        if durationNs == 0 || durationNs >= Event.maxTime { return "duration must be positive and under \(Event.maxTime / 1_000_000_000) s" }
        if measureStart >= durationNs { return "the measurement window starts after the run ends" }
        switch traffic {
        case let .backlogged(pairs):
            for p in pairs {
                if !(0 ..< fabric.hosts).contains(p.src) || !(0 ..< fabric.hosts).contains(p.dst) || p.src == p.dst {
                    return "pair \(p.src)->\(p.dst) is not between two different hosts of \(fabric.hosts)"
                }
                if !(p.level > 0) { return "pair \(p.src)->\(p.dst) needs a positive level" }
            }
        case let .random(_, load):
            if !(load > 0 && load <= 1) { return "load must be within (0, 1]" }
        }
        if fabric.hosts > 2048 { return "at most 2048 hosts (per-pair state is dense)" }
        return nil
    }
}
