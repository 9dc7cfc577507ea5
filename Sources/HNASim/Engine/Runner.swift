#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a scenario under one flow-control mode. Every mode runs HNACore's controller in every host;
/// the DCQCN baseline also turns on ECN marking in the switches (unless the scenario set its own).
public enum SimRunner {
    public static func run(_ scenario: Scenario, mode: FlowControlMode, progress: ((Double) -> Void)? = nil) -> SimResult {
        var s = scenario
        if mode == .dcqcn && s.fabric.ecn == nil { s.fabric.ecn = .dcqcn(linkGbps: s.fabric.linkGbps) }
        let start = wallClock(), cpuStart = cpuClock()
        var sim = Simulation<HNAHost>(scenario: s) { h, f in HNAHost(id: h, fabric: f, mode: mode) }
        sim.run(progress: progress)
        var r = SimResult(simulation: sim, flowControl: mode, wallSeconds: wallClock() - start)
        r.cpuSeconds = cpuClock() - cpuStart
        return r
    }

    /// Runs a scenario with `PacingHost`s (no controller): the engine's and fabric's own speed.
    public static func runPacing(_ scenario: Scenario) -> SimResult {
        let start = wallClock(), cpuStart = cpuClock()
        var sim = Simulation<PacingHost>(scenario: scenario) { h, f in PacingHost(id: h, fabric: f) }
        sim.run()
        var r = SimResult(simulation: sim, flowControl: .none, wallSeconds: wallClock() - start)
        r.cpuSeconds = cpuClock() - cpuStart
        return r
    }

    /// CPU seconds this thread has used: the figure to divide by on a machine shared with other work.
    public static func cpuClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds on a monotonic clock (the simulator's wall time; never used inside the model).
    public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
