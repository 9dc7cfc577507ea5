import Yams

/// A scenario in YAML: a built-in scenario to start from and knobs, or explicit long-lived pairs.
/// Keys match the command-line flags in lowerCamelCase (docs/simulator.md has an example).
public struct ScenarioFile: Decodable, Sendable, Equatable {
    public struct Pair: Decodable, Sendable, Equatable {
        public var src: Int
        public var dst: Int
        public var level: Double?
        public var startUs: Double?
    }

    public var name: String?
    /// Built-in scenario the file starts from; `pairs` alone need none.
    public var scenario: String?
    public var hosts: Int?
    public var senders: Int?
    public var topology: String?
    public var leaves: Int?
    public var spines: Int?
    public var linkGbps: Double?
    public var uplinkGbps: Double?
    public var oversubscription: Double?
    public var linkDelayNs: UInt64?
    public var bufferKB: Int?
    public var loadBalancing: String?
    public var ecnMinKB: Int?
    public var ecnMaxKB: Int?
    public var ecnMaxProbability: Double?
    public var load: Double?
    public var cdf: String?
    public var appWindowKB: Int?
    public var durationMs: Double?
    public var measureFromMs: Double?
    public var seed: UInt64?
    /// Modes to run side by side.
    public var flowControl: [String]?
    public var pairs: [Pair]?
    public var bottleneck: String?
    public var labels: [String]?

    public static func parse(_ text: String) throws(ScenarioError) -> ScenarioFile {
        do {
            return try YAMLDecoder().decode(ScenarioFile.self, from: text)
        } catch {
            throw ScenarioError("scenario file: \(error)")
        }
    }

    public static func load(_ path: String) throws(ScenarioError) -> ScenarioFile {
        guard let text = readTextFile(path) else { throw ScenarioError("cannot read \(path)") }
        return try parse(text)
    }

    /// The file's knobs, with `over` (the command line) taking precedence.
    public func knobs(overriddenBy over: ScenarioKnobs) throws(ScenarioError) -> ScenarioKnobs {
        var k = ScenarioKnobs()
        k.hosts = over.hosts ?? hosts
        k.senders = over.senders ?? senders
        if let t = topology {
            guard let v = FabricConfig.Topology(rawValue: t) else { throw ScenarioError("unknown topology '\(t)'") }
            k.topology = v
        }
        if let v = over.topology { k.topology = v }
        k.leaves = over.leaves ?? leaves
        k.spines = over.spines ?? spines
        k.linkGbps = over.linkGbps ?? linkGbps
        k.uplinkGbps = over.uplinkGbps ?? uplinkGbps
        k.oversubscription = over.oversubscription ?? oversubscription
        k.linkDelayNs = over.linkDelayNs ?? linkDelayNs
        k.bufferKB = over.bufferKB ?? bufferKB
        k.unboundedBuffer = over.unboundedBuffer || (over.bufferKB == nil && bufferKB == 0)
        if let l = loadBalancing {
            guard let v = FabricConfig.LoadBalancing(rawValue: l) else { throw ScenarioError("unknown load balancing '\(l)'") }
            k.loadBalancing = v
        }
        if let v = over.loadBalancing { k.loadBalancing = v }
        k.load = over.load ?? load
        k.cdf = over.cdf ?? cdf
        k.appWindowKB = over.appWindowKB ?? appWindowKB
        k.durationMs = over.durationMs ?? durationMs
        k.measureFromMs = over.measureFromMs ?? measureFromMs
        k.seed = over.seed ?? seed
        return k
    }

    /// Builds the scenario: the built-in one (or a bare fabric for `pairs`) with the knobs applied.
    public func scenario(knobs over: ScenarioKnobs, workloadDirectories: [String]? = nil) throws(ScenarioError) -> Scenario {
        var k = try knobs(overriddenBy: over)
        var s: Scenario
        if let p = pairs {
            guard scenario == nil else { throw ScenarioError("give either 'scenario' or 'pairs', not both") }
            let senders = k.senders
            k.senders = nil
            s = try ScenarioLibrary.make("permutation", knobs: k)
            if senders != nil { throw ScenarioError("'senders' applies to incast scenarios") }
            for pair in p where !(0 ..< s.fabric.hosts).contains(pair.src) || !(0 ..< s.fabric.hosts).contains(pair.dst) {
                throw ScenarioError("pair \(pair.src)->\(pair.dst) is outside \(s.fabric.hosts) hosts")
            }
            s.traffic = .backlogged(p.map {
                PairDemand(src: $0.src, dst: $0.dst, level: $0.level ?? 1, startNs: SimTime((($0.startUs ?? 0) * 1000).rounded()))
            })
            s.competing = Array(Set(p.map(\.src))).sorted()
            s.changeAtNs = p.map { SimTime((($0.startUs ?? 0) * 1000).rounded()) }.max() ?? 0
        } else {
            guard let base = scenario else { throw ScenarioError("a scenario file needs 'scenario' or 'pairs'") }
            s = try ScenarioLibrary.make(base, knobs: k, workloadDirectories: workloadDirectories)
        }
        s.name = name ?? s.name
        if let b = bottleneck {
            guard let v = BottleneckSide(rawValue: b) else { throw ScenarioError("bottleneck is 'senders' or 'receivers'") }
            s.bottleneck = v
        }
        if let l = labels { s.hostLabels = l }
        if ecnMinKB != nil || ecnMaxKB != nil || ecnMaxProbability != nil {
            let d = FabricConfig.ECN.dcqcn(linkGbps: s.fabric.linkGbps)
            s.fabric.ecn = FabricConfig.ECN(minBytes: ecnMinKB.map { $0 * 1024 } ?? d.minBytes,
                                            maxBytes: ecnMaxKB.map { $0 * 1024 } ?? d.maxBytes,
                                            maxProbability: ecnMaxProbability ?? d.maxProbability)
        }
        if let problem = s.validate() { throw ScenarioError(problem) }
        return s
    }

    /// The flow-control modes the file asks for.
    public func modes() throws(ScenarioError) -> [FlowControlMode]? {
        guard let f = flowControl else { return nil }
        var out: [FlowControlMode] = []
        for m in f {
            guard let v = FlowControlMode(rawValue: m) else { throw ScenarioError("unknown flow control '\(m)'") }
            out.append(v)
        }
        return out
    }
}
