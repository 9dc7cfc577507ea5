/// The built-in scenarios and the knobs a user can turn on any of them. Each scenario sets its own
/// defaults; a knob the user gives overrides them. Documented in docs/simulator.md.

/// Overrides from the command line or a YAML file (nil: the scenario's default).
public struct ScenarioKnobs: Sendable, Equatable {
    public var hosts: Int?
    public var senders: Int?
    public var topology: FabricConfig.Topology?
    public var leaves: Int?
    public var spines: Int?
    public var linkGbps: Double?
    public var uplinkGbps: Double?
    public var oversubscription: Double?
    public var linkDelayNs: SimTime?
    public var bufferKB: Int?
    /// 0 means unbounded.
    public var unboundedBuffer = false
    public var loadBalancing: FabricConfig.LoadBalancing?
    public var load: Double?
    public var durationMs: Double?
    public var measureFromMs: Double?
    public var seed: UInt64?
    /// A CDF file for `random` traffic (path), or the name of one in the workloads folder.
    public var cdf: String?
    /// Bytes the application keeps queued per pair for finite flows (KiB).
    public var appWindowKB: Int?

    public init() {}
}

public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum ScenarioLibrary {
    public struct Entry: Sendable {
        public var name: String
        public var summary: String
    }

    public static let entries: [Entry] = [
        Entry(name: "fig12a", summary: "FIG. 12A: A->C,D and B->D,E,F with equal queues on the ideal switch"),
        Entry(name: "fig12a-q", summary: "FIG. 12A second example: queue lengths 1, 0.6 / 0.4, 1, 1"),
        Entry(name: "fig12b", summary: "FIG. 12B: A->E,F, B->E, C->F, D->F with queues in proportion to R"),
        Entry(name: "incast", summary: "N->1: every sender backlogged towards host 0"),
        Entry(name: "incast-join", summary: "N->1 where half the senders join at a third of the run (convergence)"),
        Entry(name: "permutation", summary: "every host backlogged towards one other host (a random derangement)"),
        Entry(name: "all-to-all", summary: "every host backlogged towards every other host"),
        Entry(name: "websearch", summary: "random flows from the web-search distribution at a target load"),
        Entry(name: "fb-hadoop", summary: "random flows from the Facebook-Hadoop distribution at a target load"),
        Entry(name: "random", summary: "random flows from --cdf at a target load"),
    ]

    /// Where the flow-size CDFs are looked for, in order, when a name (not a path) is given.
    public static func workloadDirectories() -> [String] {
        var dirs: [String] = []
        if let env = environment("HNA_WORKLOADS") { dirs.append(env) }
        dirs += ["../shared/data/workloads", "shared/data/workloads", "../../shared/data/workloads"]
        // Beside a checkout the executable was built in: <ancestor>/shared/data/workloads.
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            var parts = String(decoding: buffer[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: "/")
            while !parts.isEmpty {
                parts.removeLast()
                dirs.append("/" + parts.joined(separator: "/") + "/shared/data/workloads")
            }
        }
        return dirs
    }

    /// Loads a CDF by path or by name. `websearch` and `fb-hadoop` are built in (BuiltinWorkloads);
    /// other names are looked up in `workloadDirectories()`.
    public static func distribution(_ nameOrPath: String, directories: [String]? = nil) throws(ScenarioError) -> FlowSizeDistribution {
        if let text = BuiltinWorkloads.all[nameOrPath] {
            do { return try FlowSizeDistribution(name: nameOrPath, text: text) } catch { throw ScenarioError(error.description) }
        }
        var candidates: [String] = []
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".cdf") { candidates.append(nameOrPath) }
        for d in directories ?? workloadDirectories() {
            candidates.append("\(d)/\(nameOrPath).cdf")
            candidates.append("\(d)/\(nameOrPath)")
        }
        for path in candidates where readTextFile(path) != nil {
            do {
                return try FlowSizeDistribution(contentsOf: path)
            } catch {
                throw ScenarioError(error.description)
            }
        }
        throw ScenarioError("flow-size distribution '\(nameOrPath)' not found (looked in \(candidates.joined(separator: ", ")); set HNA_WORKLOADS)")
    }

    /// Builds scenario `name` with `knobs` applied.
    public static func make(_ name: String, knobs: ScenarioKnobs = ScenarioKnobs(),
                            workloadDirectories dirs: [String]? = nil) throws(ScenarioError) -> Scenario {
        var s = Scenario(name: name)
        var f = FabricConfig()
        f.loadBalancing = .spray
        let letters = ["A", "B", "C", "D", "E", "F"]
        switch name {
        case "fig12a", "fig12a-q", "fig12b":
            f.topology = .ideal
            f.hosts = 6
            f.bufferBytes = nil
            s.hostLabels = letters
            s.durationNs = 2_000_000
            if name == "fig12b" {
                let q: [(Int, Int, Double)] = [(0, 4, 0.3), (0, 5, 0.25), (1, 4, 0.7), (2, 5, 0.5), (3, 5, 0.25)]
                s.traffic = .backlogged(q.map { PairDemand(src: $0.0, dst: $0.1, level: $0.2) })
                s.bottleneck = .receivers
                s.expectedRates = matrix(6, q)
                s.competing = [0, 1, 2, 3]
            } else {
                let ex2 = name == "fig12a-q"
                let q: [(Int, Int, Double)] = [(0, 2, 1), (0, 3, ex2 ? 0.6 : 1), (1, 3, ex2 ? 0.4 : 1), (1, 4, 1), (1, 5, 1)]
                s.traffic = .backlogged(q.map { PairDemand(src: $0.0, dst: $0.1, level: $0.2) })
                s.bottleneck = .senders
                s.expectedRates = ex2
                    ? matrix(6, [(0, 2, 1 / 1.6), (0, 3, 0.6 / 1.6), (1, 3, 0.4 / 2.4), (1, 4, 1 / 2.4), (1, 5, 1 / 2.4)])
                    : matrix(6, [(0, 2, 1 / 1.5), (0, 3, 0.5 / 1.5), (1, 3, 0.5 / 2.5), (1, 4, 1 / 2.5), (1, 5, 1 / 2.5)])
                s.competing = []
            }
        case "incast", "incast-join", "permutation", "all-to-all":
            f.hosts = 16
            s.durationNs = 2_000_000
        case "websearch", "fb-hadoop", "random":
            f.hosts = 16
            s.durationNs = 5_000_000
        default:
            throw ScenarioError("unknown scenario '\(name)'; one of: \(entries.map(\.name).joined(separator: ", ")), or a .yaml file")
        }
        // Knobs on the fabric.
        if let v = knobs.topology { f.topology = v }
        if let v = knobs.hosts { f.hosts = v }
        if f.hosts < 2 { throw ScenarioError("at least 2 hosts") }
        f.leaves = knobs.leaves ?? FabricConfig.defaultLeaves(hosts: f.hosts)
        if let v = knobs.spines { f.spines = v } else { f.spines = min(4, max(1, f.hosts / max(f.leaves, 1))) }
        if let v = knobs.linkGbps { f.linkGbps = v }
        f.uplinkGbps = knobs.uplinkGbps
        if let v = knobs.oversubscription { f.oversubscription = v }
        if let v = knobs.linkDelayNs { f.linkDelayNs = v }
        if knobs.unboundedBuffer { f.bufferBytes = nil } else if let v = knobs.bufferKB { f.bufferBytes = v * 1024 }
        if let v = knobs.loadBalancing { f.loadBalancing = v }
        s.fabric = f
        if let v = knobs.durationMs { s.durationNs = SimTime((v * 1e6).rounded()) }
        if let v = knobs.measureFromMs { s.measureFromNs = SimTime((v * 1e6).rounded()) }
        if let v = knobs.seed { s.seed = v }
        if let v = knobs.appWindowKB {
            if v < 2 { throw ScenarioError("the application window must hold a packet (2 KiB or more)") }
            s.applicationWindowBytes = v * 1024
        }
        let n = f.hosts
        var seedRng = SimRandom(seed: s.seed, stream: 3)
        switch name {
        case "incast", "incast-join":
            let senders = knobs.senders ?? (n - 1)
            if !(1 ... n - 1).contains(senders) { throw ScenarioError("an incast has 1 to \(n - 1) senders on \(n) hosts") }
            let join = name == "incast-join" ? s.durationNs / 3 : 0
            s.traffic = .backlogged((1 ... senders).map { i in
                PairDemand(src: i, dst: 0, startNs: name == "incast-join" && i > senders / 2 ? join : 0)
            })
            s.changeAtNs = join
            s.competing = Array(1 ... senders)
            s.bottleneck = .receivers
        case "permutation":
            let perm = derangement(n, &seedRng)
            s.traffic = .backlogged((0 ..< n).map { PairDemand(src: $0, dst: perm[$0]) })
            s.competing = Array(0 ..< n)
            s.bottleneck = .receivers
        case "all-to-all":
            var pairs: [PairDemand] = []
            for i in 0 ..< n { for j in 0 ..< n where i != j { pairs.append(PairDemand(src: i, dst: j)) } }
            s.traffic = .backlogged(pairs)
            s.levelUnitBytes = max(64 * 1024, (1 << 22) / n)
            s.competing = Array(0 ..< n)
            s.bottleneck = .receivers
        case "websearch", "fb-hadoop", "random":
            let cdfName = knobs.cdf ?? (name == "random" ? "websearch" : name)
            s.traffic = .random(distribution: try distribution(cdfName, directories: dirs), load: knobs.load ?? 0.5)
            s.bottleneck = .receivers
        default:
            if knobs.senders != nil { throw ScenarioError("--senders applies to incast scenarios") }
        }
        if let problem = s.validate() { throw ScenarioError(problem) }
        return s
    }

    static func matrix(_ n: Int, _ entries: [(Int, Int, Double)]) -> [[Double]] {
        var m = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for (i, j, v) in entries { m[i][j] = v }
        return m
    }

    /// A random permutation with no fixed point (nobody sends to itself), from the run's seed.
    static func derangement(_ n: Int, _ rng: inout SimRandom) -> [Int] {
        var p = Array(0 ..< n)
        while true {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, rng.below(i + 1)) }
            if !p.enumerated().contains(where: { $0.offset == $0.element }) { return p }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}
