import HNASim

/// `hna bench sim`: how fast the simulator runs. The headline is a 1,024-host leaf-spine at 100 Gb/s
/// for 10 ms of simulated time under web-search load 0.5 with HNA flow control; the scaling rows run the
/// same at fewer hosts.
public enum SimBench {
    public static func run(hosts: [Int] = [64, 128, 256, 512, 1024], durationMs: Double = 10, load: Double = 0.5,
                           mode: FlowControlMode = .hna, seed: UInt64 = 1) throws -> BenchReport {
        var report = BenchReport(name: "sim")
        report.context.append(("workload", "websearch load \(load), \(durationMs) ms simulated, leaf-spine 100 Gb/s, \(mode.rawValue)"))
        for n in hosts.sorted() {
            var k = ScenarioKnobs()
            k.hosts = n
            k.linkGbps = 100
            k.load = load
            k.durationMs = durationMs
            k.seed = seed
            let s = try ScenarioLibrary.make("websearch", knobs: k)
            let r = SimRunner.run(s, mode: mode)
            let label = "\(n) hosts (\(s.fabric.leaves) leaves x \(s.fabric.spines) spines)"
            report.add("wallSeconds\(n)", r.wallSeconds, "s", "\(label): wall time")
            report.add("eventsPerSecond\(n)", Double(r.events) / max(r.wallSeconds, 1e-9), "events/s", "\(label): events per second")
            report.add("events\(n)", Double(r.events), "events", "\(label): events")
        }
        return report
    }
}
