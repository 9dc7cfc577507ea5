import HNASim

/// `hna bench sim`: how fast the simulator runs. The headline is a 1,024-host leaf-spine at 100 Gb/s
/// for 10 ms of simulated time under web-search load 0.5 with HNA flow control (HNACore's controller in
/// every host); the scaling rows run the same at fewer hosts. A last row runs the largest fabric with
/// hosts that only pace at line rate, to show the engine's and fabric's own speed apart from the
/// controller's.
///
/// With `rounds` above 1 every run is repeated and each figure is the median of its rounds (the
/// simulation is deterministic, so only the times differ): on a shared machine one run of the
/// 1,024-host fabric can take a quarter longer than the next. Every round's rate is in the context.
public enum SimBench {
    public static func run(hosts: [Int] = [64, 128, 256, 512, 1024], durationMs: Double = 10, load: Double = 0.5,
                           mode: FlowControlMode = .hna, seed: UInt64 = 1, rounds: Int = 1) throws -> BenchReport {
        precondition(rounds >= 1, "at least one round")
        var report = BenchReport(name: "sim")
        report.context.append(("workload", "websearch load \(load), \(durationMs) ms simulated, leaf-spine 100 Gb/s, \(mode.rawValue)"))
        report.context.append(("rounds (median)", String(rounds)))
        func rate<I: BinaryInteger>(_ events: I, _ cpu: Double) -> Double { Double(events) / max(cpu, 1e-9) }
        func perRound(_ rates: [Double]) -> String { rates.map { String(format: "%.2f", $0 / 1e6) }.joined(separator: " ") }
        let counts = hosts.sorted()
        for n in counts {
            let s = try scenario(hosts: n, durationMs: durationMs, load: load, seed: seed)
            let runs = (0 ..< rounds).map { _ in SimRunner.run(s, mode: mode) }
            let events = runs[0].events
            let label = "\(n) hosts (\(s.fabric.leaves) leaves x \(s.fabric.spines) spines)"
            report.add("wallSeconds\(n)", median(runs.map(\.wallSeconds))!, "s", "\(label): wall time")
            report.add("cpuSeconds\(n)", median(runs.map(\.cpuSeconds))!, "s", "\(label): CPU time")
            report.add("eventsPerSecond\(n)", median(runs.map { rate($0.events, $0.cpuSeconds) })!, "events/s",
                       "\(label): events per CPU second")
            report.add("events\(n)", Double(events), "events", "\(label): events")
            // What the events were (arrivals, wake-ups, ...) and the packets the hosts sent (data,
            // feedback, and of that the heartbeats to idle pairs of the span).
            let r = runs[0]
            let kinds = r.eventsByKind.map { "\($0.kind) \($0.count)" }.joined(separator: ", ")
            report.context.append(("\(n) hosts, events by kind", kinds))
            report.context.append(("\(n) hosts, packets", "data \(r.dataPackets), feedback \(r.feedbackPackets) (heartbeats \(r.heartbeats))"))
            if rounds > 1 {
                report.context.append(("\(n) hosts, M events per CPU second per round",
                                       perRound(runs.map { rate($0.events, $0.cpuSeconds) })))
            }
        }
        if let n = counts.last {
            let s = try scenario(hosts: n, durationMs: durationMs, load: load, seed: seed)
            let rates = (0 ..< rounds).map { _ in
                let r = SimRunner.runPacing(s)
                return rate(r.events, r.cpuSeconds)
            }
            report.add("engineEventsPerSecond\(n)", median(rates)!, "events/s",
                       "\(n) hosts, engine and fabric alone (line-rate hosts, no controller): events per CPU second")
            if rounds > 1 { report.context.append(("\(n) hosts engine alone, M events per CPU second per round", perRound(rates))) }
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
