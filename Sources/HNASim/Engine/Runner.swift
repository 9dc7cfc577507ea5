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
        let start = wallClock()
        var sim = Simulation<HNAHost>(scenario: s) { h, f in HNAHost(id: h, fabric: f, mode: mode) }
        sim.run(progress: progress)
        return SimResult(simulation: sim, flowControl: mode, wallSeconds: wallClock() - start)
    }

    /// Seconds on a monotonic clock (the simulator's wall time; never used inside the model).
    public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
