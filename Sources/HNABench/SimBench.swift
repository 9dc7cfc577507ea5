import HNASim

/// `hna bench sim`: how fast the simulator runs. The headline is a 1,024-host leaf-spine at 100 Gb/s
/// for 10 ms of simulated time under web-search load 0.5 with HNA flow control (HNACore's controller in
/// every host); the scaling rows run the same at fewer hosts. A last row runs the largest fabric with
/// hosts that only pace at line rate, to show the engine's and fabric's own speed apart from the
/// controller's.
public enum SimBench {
    public static func run(hosts: [Int] = [64, 128, 256, 512, 1024], durationMs: Double = 10, load: Double = 0.5,
                           mode: FlowControlMode = .hna, seed: UInt64 = 1) throws -> BenchReport {
        var report = BenchReport(name: "sim")
        report.context.append(("workload", "websearch load \(load), \(durationMs) ms simulated, leaf-spine 100 Gb/s, \(mode.rawValue)"))
        let counts = hosts.sorted()
        for n in counts {
            let s = try scenario(hosts: n, durationMs: durationMs, load: load, seed: seed)
            let r = SimRunner.run(s, mode: mode)
            let label = "\(n) hosts (\(s.fabric.leaves) leaves x \(s.fabric.spines) spines)"
            report.add("wallSeconds\(n)", r.wallSeconds, "s", "\(label): wall time")
            report.add("cpuSeconds\(n)", r.cpuSeconds, "s", "\(label): CPU time")
            report.add("eventsPerSecond\(n)", Double(r.events) / max(r.cpuSeconds, 1e-9), "events/s",
                       "\(label): events per CPU second")
            report.add("events\(n)", Double(r.events), "events", "\(label): events")
        }
        if let n = counts.last {
            let s = try scenario(hosts: n, durationMs: durationMs, load: load, seed: seed)
            let r = SimRunner.runPacing(s)
            report.add("engineEventsPerSecond\(n)", Double(r.events) / max(r.cpuSeconds, 1e-9), "events/s",
                       "\(n) hosts, engine and fabric alone (line-rate hosts, no controller): events per CPU second")
        }
        return report
    }

    static func scenario(hosts n: Int, durationMs: Double, load: Double, seed: UInt64) throws -> Scenario {
        var k = ScenarioKnobs()
        k.hosts = n
        k.linkGbps = 100
        k.load = load
        k.durationMs = durationMs
        k.seed = seed
        return try ScenarioLibrary.make("websearch", knobs: k)
    }
}
