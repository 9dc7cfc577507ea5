#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output errors for `--json`, `--csv` and `--plot`.
public struct OutputError: Error, CustomStringConvertible {
    public var description: String
}

/// Creates `dir` (and its parents) if missing.
public func makeDirectory(_ dir: String) throws(OutputError) {
    var path = dir.hasPrefix("/") ? "/" : ""
    for part in dir.split(separator: "/") {
        path += part + "/"
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw OutputError(description: "cannot create directory \(path)")
        }
    }
}

public func writeFile(_ path: String, _ text: String) throws(OutputError) {
    if !writeTextFile(path, text) { throw OutputError(description: "cannot write \(path)") }
}

extension SimResult {
    var filePrefix: String { "\(scenario)-\(flowControl.rawValue)" }

    func hostName(_ i: Int) -> String { hostLabels.map { i < $0.count ? $0[i] : "h\(i)" } ?? "h\(i)" }

    /// Time series as CSV: throughput per source, queues, and the rate matrix. Returns the files written.
    public func writeCSV(to dir: String) throws(OutputError) -> [String] {
        try makeDirectory(dir)
        var written: [String] = []
        var t = "time_us,total_gbps"
        for h in seriesSources { t += ",\(hostName(h))_gbps" }
        t += "\n"
        for k in sampleTimes.indices {
            t += "\(format(Double(sampleTimes[k]) / 1000, digits: 3)),\(format(totalSeries[k], digits: 3))"
            if !sourceSeries.isEmpty { for v in sourceSeries[k] { t += ",\(format(v, digits: 3))" } }
            t += "\n"
        }
        let tp = "\(dir)/\(filePrefix)-throughput.csv"
        try writeFile(tp, t)
        written.append(tp)
        var q = "time_us,bottleneck_queue_bytes,max_switch_buffer_bytes\n"
        for k in sampleTimes.indices {
            q += "\(format(Double(sampleTimes[k]) / 1000, digits: 3)),\(bottleneckQueueSeries[k]),\(bufferSeries[k])\n"
        }
        let qp = "\(dir)/\(filePrefix)-queue.csv"
        try writeFile(qp, q)
        written.append(qp)
        if let m = rateMatrix {
            var r = "source," + (0 ..< hosts).map(hostName).joined(separator: ",") + "\n"
            for i in 0 ..< hosts { r += hostName(i) + "," + m[i].map { format($0, digits: 4) }.joined(separator: ",") + "\n" }
            let rp = "\(dir)/\(filePrefix)-rates.csv"
            try writeFile(rp, r)
            written.append(rp)
        }
        return written
    }

    /// SVG charts: throughput per source over time, queue occupancy over time, the rate matrix as a
    /// heat map. Returns the files written.
    public func writePlots(to dir: String) throws(OutputError) -> [String] {
        try makeDirectory(dir)
        var written: [String] = []
        let xs = sampleTimes.map { Double($0) / 1000 }
        var lines: [(String, [Double])] = []
        if !sourceSeries.isEmpty {
            for (k, h) in seriesSources.enumerated() {
                let s = sourceSeries.map { $0[k] }
                if s.contains(where: { $0 > 0 }) { lines.append((hostName(h), s)) }
            }
        } else {
            lines.append(("all sources", totalSeries))
        }
        let tp = "\(dir)/\(filePrefix)-throughput.svg"
        try writeFile(tp, SVG.lineChart(title: "\(scenario) (\(flowControl.rawValue)): throughput per source",
                                        xLabel: "time (us)", yLabel: "Gb/s", x: xs, series: lines))
        written.append(tp)
        let qp = "\(dir)/\(filePrefix)-queue.svg"
        try writeFile(qp, SVG.lineChart(
            title: "\(scenario) (\(flowControl.rawValue)): queue occupancy", xLabel: "time (us)", yLabel: "KB", x: xs,
            series: [("bottleneck queue", bottleneckQueueSeries.map { Double($0) / 1000 }),
                     ("fullest switch buffer", bufferSeries.map { Double($0) / 1000 })]))
        written.append(qp)
        if let m = rateMatrix {
            let rp = "\(dir)/\(filePrefix)-rates.svg"
            try writeFile(rp, SVG.heatMap(title: "\(scenario) (\(flowControl.rawValue)): rate matrix (link bandwidth)",
                                          matrix: m, labels: (0 ..< hosts).map(hostName)))
            written.append(rp)
        }
        return written
    }
}
