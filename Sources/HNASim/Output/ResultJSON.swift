import HNAWire

extension SimResult {
    /// The `--json` object. Keys are a public contract (docs/simulator.md); the same seed gives the same
    /// object except `wallSeconds` and `cpuSeconds`.
    public var json: JSONValue {
        func opt(_ v: Double?) -> JSONValue { v.map { .double(Self.round($0)) } ?? .null }
        var pairs: [(String, JSONValue)] = [
            ("scenario", .string(scenario)),
            ("flowControl", .string(flowControl.rawValue)),
            ("topology", .string(topology)),
            ("hosts", .integer(hosts)),
            ("seed", .integer(seed)),
            ("simulatedSeconds", .double(simulatedSeconds)),
            ("wallSeconds", .double(Self.round(wallSeconds))),
            ("cpuSeconds", .double(Self.round(cpuSeconds))),
            ("events", .integer(events)),
            ("eventsByKind", .object(eventsByKind.map { ("\($0.kind)", .integer($0.count)) })),
            ("packets", .object([("data", .integer(dataPackets)), ("feedback", .integer(feedbackPackets)),
                                 ("heartbeats", .integer(heartbeats))])),
            ("drops", .object([("fabric", .integer(fabricDrops)), ("ingress", .integer(ingressDrops))])),
            ("retransmissions", .integer(retransmissions)),
            ("ecnMarks", .integer(ecnMarks)),
            ("deliveredBytes", .integer(deliveredBytes)),
            ("goodputGbps", .double(Self.round(goodputGbps))),
            ("bottleneckUtilization", .double(Self.round(bottleneckUtilization))),
            ("bottleneckLinks", .object(bottleneckLinks.map { ($0.name, .double(Self.round($0.utilization))) })),
            ("jainFairness", opt(jainFairness)),
            ("feedbackOverhead", .double(Self.round(feedbackOverhead))),
            ("flows", .object([("started", .integer(flowsStarted)), ("completed", .integer(flowsCompleted))])),
            ("fct", .object([
                ("unit", .string("us")),
                ("p50", opt(fctP50Us)),
                ("p99", opt(fctP99Us)),
                ("bySize", .array(bySize.map { c in
                    .object([
                        ("class", .string(c.sizeClass.label)), ("flows", .integer(c.flows)),
                        ("p50", opt(c.fctP50Us)), ("p99", opt(c.fctP99Us)),
                        ("slowdownP50", opt(c.slowdownP50)), ("slowdownP99", opt(c.slowdownP99)),
                    ])
                })),
            ])),
            ("queueBytes", .object([("p99", .integer(queueP99Bytes)), ("max", .integer(queueMaxBytes)),
                                    ("bufferMax", .integer(bufferMaxBytes))])),
            ("convergenceUs", opt(convergenceUs)),
        ]
        pairs.append(("rateMatrix", rateMatrix.map { m in .array(m.map { .array($0.map { .double(Self.round($0)) }) }) } ?? .null))
        if let e = expectedRates {
            pairs.append(("expectedRates", .array(e.map { .array($0.map { .double(Self.round($0)) }) })))
        }
        if let l = hostLabels { pairs.append(("hostLabels", .array(l.map { .string($0) }))) }
        return .object(pairs)
    }

    /// Four significant decimals are plenty for any reported figure and keep the JSON readable.
    static func round(_ v: Double) -> Double {
        guard v.isFinite else { return v }
        return (v * 10000).rounded() / 10000
    }
}
