/// Measurement helpers shared by every `hna bench` subcommand, so all benchmarks time work the same way
/// and print figures in one format (a text table, or one JSON object with `--json`).
///
/// This is a driver, not core code: it reads the clock. Benchmarked code stays sans-I/O.

import HNAWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A monotonic clock in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The median of `values` (the mean of the middle two for an even count); nil when empty. Benchmarks
/// that repeat a measurement report it, so one disturbed round does not move the figure.
public func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let v = values.sorted()
    return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
}

/// Keeps the optimiser from deleting benchmarked work whose result is otherwise unused.
@inline(never)
public func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// One figure of a benchmark run.
public struct Figure: Sendable {
    /// Stable key for `--json` (lowerCamelCase); scripts compare runs by it.
    public var key: String
    public var value: Double
    public var unit: String
    /// What was measured, for the text table.
    public var label: String

    public init(key: String, value: Double, unit: String, label: String) {
        self.key = key
        self.value = value
        self.unit = unit
        self.label = label
    }
}

/// The result of one `hna bench` subcommand.
public struct BenchReport: Sendable {
    public var name: String
    public var figures: [Figure] = []
    /// Facts about the run (machine, build, parameters) printed with the figures.
    public var context: [(String, String)] = []

    public init(name: String) { self.name = name }

    public mutating func add(_ key: String, _ value: Double, _ unit: String, _ label: String) {
        figures.append(Figure(key: key, value: value, unit: unit, label: label))
    }

    /// Runs `body` (which does `iterations` units of work per call) until at least `minimumSeconds`
    /// have passed, after one warm-up call, and returns nanoseconds per unit of work (best of the
    /// timed rounds, which is the least disturbed by other load on the machine).
    public static func nanosecondsPerOperation(
        iterations: Int, minimumSeconds: Double = 0.5, rounds: Int = 5, _ body: () -> Void
    ) -> Double {
        body()
        var best = Double.infinity
        let budget = UInt64(minimumSeconds * 1e9 / Double(rounds))
        for _ in 0 ..< rounds {
            var calls = 0
            let start = monotonicNanoseconds()
            var now = start
            repeat {
                body()
                calls += 1
                now = monotonicNanoseconds()
            } while now - start < budget
            best = min(best, Double(now - start) / Double(calls * iterations))
        }
        return best
    }

    public var text: String {
        var lines = ["\(name)"]
        for (k, v) in context { lines.append("  \(k): \(v)") }
        let width = figures.map(\.label.count).max() ?? 0
        for f in figures {
            let pad = String(repeating: " ", count: width - f.label.count)
            lines.append("  \(f.label)\(pad)  \(formatNumber(f.value)) \(f.unit)")
        }
        return lines.joined(separator: "\n")
    }

    /// One JSON object: `{"benchmark": name, "context": {...}, "<key>": value, ...}`.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("benchmark", .string(name))]
        pairs.append(("context", .object(context.map { ($0.0, .string($0.1)) })))
        for f in figures { pairs.append((f.key, .double(f.value))) }
        return .object(pairs)
    }
}

func formatNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    if abs(v) >= 100 { return String(Int64(v.rounded())) }
    return String((v * 1000).rounded() / 1000)
}
