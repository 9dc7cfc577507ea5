import HNAWire

/// One check of the lab: passed, failed, or not applicable (nil) to this dataplane.
public struct LabCheck: Sendable {
    public var name: String
    public var passed: Bool?
    public var detail: String
}

public struct ThroughputResult: Sendable {
    public var from: String
    public var to: String
    public var network: String
    public var result: IperfResult
}

/// One run of the drop-free scenario.
public struct ScenarioRun: Sendable {
    public var flowControl: Bool
    public var offeredMbps = 0.0
    public var goodputMbps = 0.0
    /// Packets the fabric's bottleneck queue dropped.
    public var fabricDrops = 0
    /// Of these, the ones dropped before the goodput window opened (the first 0.5 s).
    public var warmUpFabricDrops = 0
    /// Packets the HNAs dropped (every reason), during the run.
    public var hnaDrops = 0
    /// The rate matrix sampled half way through.
    public var rateMatrix: [RateCell] = []
    public var errors: [String] = []
}

public struct DropFreeReport: Sendable {
    public var receiver: String
    public var senders: [String]
    public var bottleneckMbps: Double
    public var runs: [ScenarioRun] = []
}

/// A cell of the rate matrix: host `from` towards a peer.
public struct RateCell: Sendable {
    public var from: String
    public var rate: PeerRate
}

public struct FabricPort: Sendable {
    public var port: String
    public var txPackets: Int
    public var linkDrops: Int
}

public struct HostReport: Sendable {
    public var host: String
    public var stats: HostStats
}

/// Everything a lab run found, as text for people and JSON for scripts (`hna lab --json`). The JSON
/// keys are a public contract: docs/lab.md lists them.
public struct LabReport: Sendable {
    public var topology: LabTopology
    public var dataplane: String
    public var checks: [LabCheck] = []
    public var pings: [PingResult] = []
    public var isolation: [PingResult] = []
    public var tcp: [ThroughputResult] = []
    public var interopPings: [PingResult] = []
    public var interopTCP: [ThroughputResult] = []
    public var dropFree: DropFreeReport?
    public var fabric: [FabricPort] = []
    public var hnas: [HostReport] = []
    /// A step that failed outside the checks (the build-up, a daemon that would not start).
    public var error: String?

    public init(topology: LabTopology, dataplane: String) {
        self.topology = topology
        self.dataplane = dataplane
    }

    /// No check failed and nothing else went wrong (checks that do not apply do not count).
    public var passed: Bool { error == nil && !checks.isEmpty && checks.allSatisfy { $0.passed != false } }

    public var json: JSONValue {
        func ping(_ p: PingResult) -> JSONValue {
            var o: [(String, JSONValue)] = [("from", .string(p.from)), ("to", .string(p.to)), ("network", .string(p.network)),
                                            ("sent", .integer(p.sent)), ("received", .integer(p.received))]
            if let r = p.rttMs { o += [("rttMinMs", .double(r.min)), ("rttAvgMs", .double(r.avg)), ("rttMaxMs", .double(r.max))] }
            return .object(o)
        }
        func tput(_ t: ThroughputResult) -> JSONValue {
            .object([("from", .string(t.from)), ("to", .string(t.to)), ("network", .string(t.network)),
                     ("gbps", .double(t.result.bitsPerSecond / 1e9))])
        }
        func cell(_ c: RateCell) -> JSONValue {
            var o: [(String, JSONValue)] = [("from", .string(c.from)), ("to", .string(c.rate.peer))]
            if let g = c.rate.grantedMbps { o.append(("grantedMbps", .double(g))) }
            if let u = c.rate.usedMbps { o.append(("usedMbps", .double(u))) }
            if let m = c.rate.measuredMbps { o.append(("measuredMbps", .double(m))) }
            if let q = c.rate.queueBytes { o.append(("queueBytes", .integer(q))) }
            if let f = c.rate.freshGrant { o.append(("freshGrant", .bool(f))) }
            return .object(o)
        }
        var o: [(String, JSONValue)] = [
            ("passed", .bool(passed)),
            ("lab", .object([("hosts", .integer(topology.hosts.count)),
                             ("vmsPerHost", .integer(topology.vms.count / max(1, topology.hosts.count))),
                             ("dataplane", .string(dataplane)),
                             ("networks", .array(topology.networks.map {
                                 .object([("name", .string($0.name)), ("encapsulation", .string($0.encapsulation)),
                                          ("subnet", .string($0.subnet))])
                             }))])),
            ("checks", .array(checks.map {
                .object([("name", .string($0.name)), ("passed", $0.passed.map(JSONValue.bool) ?? .null),
                         ("detail", .string($0.detail))])
            })),
            ("ping", .array(pings.map(ping))),
            ("isolation", .array(isolation.map(ping))),
            ("tcp", .array(tcp.map(tput))),
            ("interop", .object([("ping", .array(interopPings.map(ping))), ("tcp", .array(interopTCP.map(tput)))])),
        ]
        if let d = dropFree {
            o.append(("dropFree", .object([
                ("receiver", .string(d.receiver)), ("senders", .array(d.senders.map(JSONValue.string))),
                ("bottleneckMbps", .double(d.bottleneckMbps)),
                ("runs", .array(d.runs.map { r in
                    .object([("flowControl", .bool(r.flowControl)), ("offeredMbps", .double(r.offeredMbps)),
                             ("goodputMbps", .double(r.goodputMbps)), ("fabricDrops", .integer(r.fabricDrops)),
                             ("warmUpFabricDrops", .integer(r.warmUpFabricDrops)),
                             ("hnaDrops", .integer(r.hnaDrops)), ("rateMatrix", .array(r.rateMatrix.map(cell))),
                             ("errors", .array(r.errors.map(JSONValue.string)))])
                })),
            ])))
        }
        o.append(("fabric", .array(fabric.map {
            .object([("port", .string($0.port)), ("txPackets", .integer($0.txPackets)), ("drops", .integer($0.linkDrops))])
        })))
        o.append(("hnas", .array(hnas.map { h in
            .object([("host", .string(h.host)), ("drops", .integer(h.stats.totalDrops)),
                     ("dropsByReason", .object(h.stats.drops.filter { $0.count != 0 }.map { ($0.reason, .integer($0.count)) }))])
        })))
        if let error { o.append(("error", .string(error))) }
        return .object(o)
    }

    public var text: String {
        var l: [String] = []
        let t = topology
        l.append("hna lab: \(t.hosts.count) hosts × \(t.vms.count / max(1, t.hosts.count)) VMs, dataplane \(dataplane), "
                 + "networks " + t.networks.map { "\($0.name) (\($0.encapsulation), \($0.subnet))" }.joined(separator: ", ")
                 + ", kernel VXLAN host \(t.kernelHost.name)")
        if let error { l.append("error: \(error)") }
        l.append("")
        l.append("checks")
        let width = checks.map(\.name.count).max() ?? 0
        for c in checks {
            let status = c.passed.map { $0 ? "PASS" : "FAIL" } ?? "SKIP"
            l.append("  \(status)  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.detail)")
        }
        if !pings.isEmpty || !interopPings.isEmpty {
            l.append("")
            l.append("ping (received/sent, rtt min/avg/max ms)")
            for p in pings + interopPings {
                let rtt = p.rttMs.map { "\(Report.ms($0.min))/\(Report.ms($0.avg))/\(Report.ms($0.max))" } ?? "-"
                l.append("  \(p.from) → \(p.to)  \(p.network)  \(p.received)/\(p.sent)  \(rtt)")
            }
        }
        if !tcp.isEmpty || !interopTCP.isEmpty {
            l.append("")
            l.append("TCP throughput (iperf3)")
            for x in tcp + interopTCP {
                l.append("  \(x.from) → \(x.to)  \(x.network)  \(Report.gbps(x.result.bitsPerSecond)) Gbit/s")
            }
        }
        if let d = dropFree {
            l.append("")
            l.append("drop-free: \(d.senders.joined(separator: ", ")) → \(d.receiver) through a \(Report.mbps(d.bottleneckMbps)) Mbit/s fabric port")
            for r in d.runs {
                l.append("  flow control \(r.flowControl ? "on " : "off"): offered \(Report.mbps(r.offeredMbps)) Mbit/s, "
                         + "goodput \(Report.mbps(r.goodputMbps)) Mbit/s, fabric drops \(r.fabricDrops), HNA drops \(r.hnaDrops)")
            }
            if let on = d.runs.first(where: { $0.flowControl }), !on.rateMatrix.isEmpty {
                l.append("")
                l.append("rate matrix during the drop-free run with flow control (Mbit/s: measured, sending rate, granted to the peer)")
                for c in on.rateMatrix {
                    l.append("  \(c.from) → \(c.rate.peer)  \(c.rate.measuredMbps.map(Report.mbps) ?? "-")  "
                             + "\(c.rate.usedMbps.map(Report.mbps) ?? "-")  \(c.rate.grantedMbps.map(Report.mbps) ?? "-")"
                             + (c.rate.queueBytes.map { "  queue \($0) B" } ?? "")
                             + (c.rate.freshGrant.map { $0 ? "" : "  grant stale" } ?? ""))
                }
            }
        }
        if !fabric.isEmpty {
            l.append("")
            l.append("fabric ports (packets towards the host, link drops)")
            for f in fabric { l.append("  \(f.port)  \(f.txPackets)  \(f.linkDrops)") }
        }
        if !hnas.isEmpty {
            l.append("")
            l.append("drops at each \(dataplane == "hna" ? "HNA" : "host") during the checks")
            for h in hnas {
                let reasons = h.stats.drops.filter { $0.count != 0 }.map { "\($0.reason) \($0.count)" }
                l.append("  \(h.host)  \(h.stats.totalDrops)" + (reasons.isEmpty ? "" : "  (\(reasons.joined(separator: ", ")))"))
            }
        }
        l.append("")
        l.append(passed ? "lab: all checks passed" : "lab: FAILED")
        return l.joined(separator: "\n")
    }
}

/// Number formats of the report.
enum Report {
    static func gbps(_ bitsPerSecond: Double) -> String { fixed(bitsPerSecond / 1e9, 2) }
    static func mbps(_ v: Double) -> String { fixed(v, 1) }
    static func ms(_ v: Double) -> String { fixed(v, 3) }
    static func fixed(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0 ..< digits { scale *= 10 }
        let r = (v * scale).rounded() / scale
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        } else if digits > 0 {
            s += "." + String(repeating: "0", count: digits)
        }
        return s
    }
}
