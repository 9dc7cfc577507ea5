import HNAWire

/// `hna bench wire`: parse and emit cost per packet of the HNA header (the other encapsulations join
/// as their headers land).
public enum WireBench {
    public static func run(seconds: Double = 0.5) -> BenchReport {
        var report = BenchReport(name: "wire")
        let header = HNAHeader(nextProtocol: .vxlan, priority: 1, timestamp: 123,
                               queueLengths: PriorityVector([1, 2, 3, 4]), grantedRates: PriorityVector([5, 6, 7, 8]),
                               sequence: 9)
        let bytes = header.emitted()
        let n = 1000
        let parse = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: seconds) {
            bytes.withUnsafeBytes { raw in
                var acc: UInt32 = 0
                for _ in 0 ..< n {
                    if let v = try? HNAHeaderView(checking: raw) { acc &+= UInt32(v.queueLength(2)) &+ v.timestamp }
                }
                blackHole(acc)
            }
        }
        report.add("hnaParseNs", parse, "ns/packet", "HNA header: check + read")
        var out = [UInt8](repeating: 0, count: header.encodedLength)
        let emit = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: seconds) {
            out.withUnsafeMutableBytes { raw in
                for _ in 0 ..< n { header.emit(into: raw) }
            }
            blackHole(out)
        }
        report.add("hnaEmitNs", emit, "ns/packet", "HNA header: emit")
        return report
    }
}
