import ArgumentParser
import HNASim

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `hna sim`: run a scenario on the simulated fabric under HNA's flow control and the baselines, side
/// by side. Scenarios, knobs and metrics: docs/simulator.md.
struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate HNA hosts on a modelled fabric and compare with the baselines.",
        discussion: "Scenarios: " + ScenarioLibrary.entries.map(\.name).joined(separator: ", ")
            + ". See docs/simulator.md.")

    @Option(help: "A built-in scenario name or a YAML scenario file.") var scenario: String
    @Option(help: "Hosts on the fabric.") var hosts: Int?
    @Option(help: "Senders of an incast.") var senders: Int?
    @Option(help: "ideal or leaf-spine.") var topology: String?
    @Option(help: "Leaves of a leaf-spine fabric.") var leaves: Int?
    @Option(help: "Spines of a leaf-spine fabric.") var spines: Int?
    @Option(name: .customLong("link-gbps"), help: "Host link speed (Gb/s).") var linkGbps: Double?
    @Option(name: .customLong("uplink-gbps"), help: "Leaf-spine link speed (Gb/s); default from --oversubscription.")
    var uplinkGbps: Double?
    @Option(help: "Leaf downlink over uplink capacity (1: non-blocking).") var oversubscription: Double?
    @Option(name: .customLong("link-delay-ns"), help: "Propagation delay of every link (ns).") var linkDelayNs: UInt64?
    @Option(name: .customLong("buffer-kb"), help: "Shared buffer per switch (KiB); 0 for unbounded.") var bufferKb: Int?
    @Option(name: .customLong("load-balancing"), help: "ecmp (per flow) or spray (per packet).") var loadBalancing: String?
    @Option(help: "Offered load of random flows, as a fraction of each host's link.") var load: Double?
    @Option(help: "Flow-size CDF (name in the workloads folder, or a path) for random flows.") var cdf: String?
    @Option(name: .customLong("app-window-kb"),
            help: "Bytes (KiB) the application keeps queued per pair for finite flows (default 1024).")
    var appWindowKb: Int?
    @Option(name: .customLong("duration-ms"), help: "Simulated time (ms).") var durationMs: Double?
    @Option(name: .customLong("measure-from-ms"), help: "Start of the steady-state window (ms); default half the run.")
    var measureFromMs: Double?
    @Option(name: .customLong("flow-control"),
            help: "hna, none, dcqcn, or a comma-separated list; default: all three side by side.")
    var flowControl: String?
    @Option(help: "Seed of every random choice; the same seed gives the same results.") var seed: UInt64?
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @Option(help: "Write time series as CSV into this directory.") var csv: String?
    @Option(help: "Write SVG charts into this directory.") var plot: String?
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        var k = ScenarioKnobs()
        k.hosts = hosts
        k.senders = senders
        if let t = topology {
            guard let v = FabricConfig.Topology(rawValue: t) else { throw ValidationError("--topology is ideal or leaf-spine") }
            k.topology = v
        }
        k.leaves = leaves
        k.spines = spines
        k.linkGbps = linkGbps
        k.uplinkGbps = uplinkGbps
        k.oversubscription = oversubscription
        k.linkDelayNs = linkDelayNs
        if let b = bufferKb {
            if b < 0 { throw ValidationError("--buffer-kb must not be negative") }
            if b == 0 { k.unboundedBuffer = true } else { k.bufferKB = b }
        }
        if let l = loadBalancing {
            guard let v = FabricConfig.LoadBalancing(rawValue: l) else { throw ValidationError("--load-balancing is ecmp or spray") }
            k.loadBalancing = v
        }
        k.load = load
        k.cdf = cdf
        k.appWindowKB = appWindowKb
        k.durationMs = durationMs
        k.measureFromMs = measureFromMs
        k.seed = seed

        let built: Scenario
        var modes: [FlowControlMode] = FlowControlMode.allCases
        do {
            if scenario.hasSuffix(".yaml") || scenario.hasSuffix(".yml") {
                let file = try ScenarioFile.load(scenario)
                built = try file.scenario(knobs: k)
                if let m = try file.modes() { modes = m }
            } else {
                built = try ScenarioLibrary.make(scenario, knobs: k)
            }
        } catch {
            throw ValidationError(error.description)
        }
        if let f = flowControl {
            modes = []
            for name in f.split(separator: ",") {
                guard let m = FlowControlMode(rawValue: String(name)) else {
                    throw ValidationError("--flow-control takes hna, none or dcqcn (comma-separated)")
                }
                modes.append(m)
            }
        }
        let bar = !quiet && isatty(2) != 0
        var results: [SimResult] = []
        for mode in modes {
            let r = SimRunner.run(built, mode: mode, progress: bar ? { Self.progress($0, mode) } : nil)
            if bar { Self.toStderr("\r\u{1B}[2K") }
            results.append(r)
        }
        print(Summary.table(results), terminator: "")
        do {
            if let path = json {
                var top = results[0].json
                if results.count > 1, case var .object(pairs) = top {
                    pairs.append(("baselines", .array(results.dropFirst().map(\.json))))
                    top = .object(pairs)
                }
                try writeFile(path, top.description + "\n")
            }
            for r in results {
                if let dir = csv { _ = try r.writeCSV(to: dir) }
                if let dir = plot { _ = try r.writePlots(to: dir) }
            }
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func progress(_ fraction: Double, _ mode: FlowControlMode) {
        let width = 40
        let done = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
        toStderr("\r[\(bar)] \(Int(fraction * 100))% \(mode.rawValue)")
    }

    static func toStderr(_ text: String) {
        var t = text
        t.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
