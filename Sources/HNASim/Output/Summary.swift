/// The human summary of one or more runs: one column per flow-control mode, so a user sees what HNA's
/// flow control buys next to the baselines.
public enum Summary {
    public static func table(_ results: [SimResult]) -> String {
        guard let first = results.first else { return "" }
        var rows: [(String, [String])] = []
        func row(_ label: String, _ f: (SimResult) -> String) { rows.append((label, results.map(f))) }
        func num(_ v: Double?, _ digits: Int = 3) -> String {
            guard let v, v.isFinite else { return "-" }
            return format(v, digits: digits)
        }
        row("flow control") { $0.flowControl.rawValue }
        row("fabric drops (packets)") { String($0.fabricDrops) }
        row("ingress drops (packets)") { String($0.ingressDrops) }
        row("retransmissions") { String($0.retransmissions) }
        row("ECN marks") { String($0.ecnMarks) }
        row("delivered (MB)") { num(Double($0.deliveredBytes) / 1e6, 2) }
        row("goodput (Gb/s)") { num($0.goodputGbps, 2) }
        row("bottleneck utilization") { num($0.bottleneckUtilization) }
        row("Jain fairness") { num($0.jainFairness, 4) }
        row("feedback overhead") { num($0.feedbackOverhead, 4) }
        row("flows done / started") { "\($0.flowsCompleted)/\($0.flowsStarted)" }
        row("FCT p50 / p99 (us)") { "\(num($0.fctP50Us, 1)) / \(num($0.fctP99Us, 1))" }
        for c in SizeClass.allCases {
            row("  slowdown p50/p99 \(c.label)") { r in
                let s = r.bySize[c.rawValue]
                return s.flows == 0 ? "-" : "\(num(s.slowdownP50, 2)) / \(num(s.slowdownP99, 2))"
            }
        }
        row("queue p99 / max (KB)") { "\(num(Double($0.queueP99Bytes) / 1000, 1)) / \(num(Double($0.queueMaxBytes) / 1000, 1))" }
        row("convergence (us)") { num($0.convergenceUs, 1) }
        row("events") { String($0.events) }
        row("wall / cpu (s)") { "\(num($0.wallSeconds, 2)) / \(num($0.cpuSeconds, 2))" }
        row("events per cpu second (M)") { num(Double($0.events) / max($0.cpuSeconds, 1e-9) / 1e6, 2) }
        var out = "scenario \(first.scenario): \(first.hosts) hosts, \(first.topology), "
            + "\(format(first.simulatedSeconds * 1000, digits: 3)) ms simulated, seed \(first.seed)\n"
        let width = rows.map(\.0.count).max() ?? 0
        let colWidth = max(14, rows.flatMap(\.1).map(\.count).max() ?? 0)
        for (label, values) in rows {
            out += label.padding(width) + "  " + values.map { $0.leftPadding(colWidth) }.joined(separator: "  ") + "\n"
        }
        for r in results {
            guard let m = r.rateMatrix, m.count <= 16 else { continue }
            out += "\nrate matrix (\(r.flowControl.rawValue)), rows sources, columns destinations, in link bandwidth:\n"
            out += matrixText(m, labels: r.hostLabels, expected: r.expectedRates)
        }
        return out
    }

    /// Rows that carry traffic only; with the patent's R̂ beside each measured value when known.
    static func matrixText(_ m: [[Double]], labels: [String]?, expected: [[Double]]?) -> String {
        let n = m.count
        func name(_ i: Int) -> String { labels.map { i < $0.count ? $0[i] : "h\(i)" } ?? "h\(i)" }
        let cols = (0 ..< n).filter { j in (0 ..< n).contains { m[$0][j] > 0.001 || (expected?[$0][j] ?? 0) > 0 } }
        var out = "      " + cols.map { name($0).leftPadding(14) }.joined() + "\n"
        for i in 0 ..< n where cols.contains(where: { m[i][$0] > 0.001 || (expected?[i][$0] ?? 0) > 0 }) {
            out += name(i).padding(6)
            for j in cols {
                var cell = format(m[i][j], digits: 3)
                if let e = expected { cell += " (\(format(e[i][j], digits: 3)))" }
                out += cell.leftPadding(14)
            }
            out += "\n"
        }
        if expected != nil { out += "(in brackets: the patent's R-hat)\n" }
        return out
    }
}

/// Fixed-point text with `digits` decimals (no Foundation).
public func format(_ v: Double, digits: Int) -> String {
    guard v.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0 ..< digits { scale *= 10 }
    let r = (abs(v) * scale).rounded()
    let whole = Int64(r / scale)
    var frac = String(Int64(r - Double(whole) * scale))
    while frac.count < digits { frac = "0" + frac }
    return (v < 0 && r > 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + frac : "")
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPadding(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
