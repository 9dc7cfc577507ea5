/// The configuration file `hna run --config` reads for one lab host, written to docs/config.md's schema:
/// the peers are the other hosts (the kernel VXLAN host as a plain-tunnel peer), the ports are the host's
/// own VMs, the endpoints every other host's VMs.
public struct DaemonConfig: Sendable, Equatable {
    /// Whether HNA peers get flow control (docs/config.md `hna.flowControl`). Off is the baseline of the
    /// drop-free scenario; reliability stays on either way.
    public var flowControl = true
    /// `hna.bandwidthGbps`; nil keeps the daemon's default.
    public var bandwidthGbps: Double?
    /// `hna.rxGbps` per host name: what a host may receive, set on the scenario's receiver to the
    /// fabric bottleneck so the senders' grants add up to what the fabric can carry.
    /// Also written into every other host's entry for that peer (`peers[].rxGbps`), so a sender's safe
    /// rate towards it (before the first grant, after a stale one) is a share of what it can take.
    public var rxGbps: [String: Double] = [:]
    /// `hna.rateUnitBytesPerSecond` on every host (all HNAs decode rates in one unit); nil keeps the
    /// default. A grant below one unit is sent as one unit, so the unit must be well below the grants.
    public var rateUnitBytesPerSecond: Int?
    /// `hna.burstBytes` on every host; nil keeps the daemon's default.
    public var burstBytes: Int?
    public var logLevel = "info"

    public init(flowControl: Bool = true, bandwidthGbps: Double? = nil, rxGbps: [String: Double] = [:],
                rateUnitBytesPerSecond: Int? = nil, burstBytes: Int? = nil) {
        self.flowControl = flowControl
        self.bandwidthGbps = bandwidthGbps
        self.rxGbps = rxGbps
        self.rateUnitBytesPerSecond = rateUnitBytesPerSecond
        self.burstBytes = burstBytes
    }

    /// The YAML text for `host`.
    public func yaml(for host: LabHost, in topology: LabTopology) -> String {
        var out = "# hna lab: host \(host.name) (written by `hna lab`; schema in docs/config.md)\n"
        var hna: [(String, String)] = [("name", host.name), ("underlay", host.underlay.description)]
        if let b = bandwidthGbps { hna.append(("bandwidthGbps", DaemonConfig.number(b))) }
        if let rx = rxGbps[host.name] { hna.append(("rxGbps", DaemonConfig.number(rx))) }
        if let u = rateUnitBytesPerSecond { hna.append(("rateUnitBytesPerSecond", String(u))) }
        if let b = burstBytes { hna.append(("burstBytes", String(b))) }
        if topology.underlayMTU != LabTopology.underlayMTU { hna.append(("mtu", String(topology.underlayMTU))) }
        hna += [("flowControl", flowControl ? "true" : "false"), ("control", host.controlSocket), ("logLevel", logLevel)]
        out += "hna:\n" + hna.map { "  \($0.0): \($0.1)\n" }.joined()

        let peers = topology.allHosts.filter { $0 != host }.map { peer in
            [("name", peer.name), ("underlay", peer.underlay.description), ("hna", peer.kind == .hna ? "true" : "false")]
                + (peer.kind == .hna ? rxGbps[peer.name].map { [("rxGbps", DaemonConfig.number($0))] } ?? [] : [])
        }
        let networks = topology.networks.map {
            [("name", $0.name), ("vrf", String($0.vrf)), ("vni", String($0.vni)), ("label", String($0.label)),
             ("encapsulation", $0.encapsulation), ("subnets", "[\($0.subnet)]"), ("gateway", "[\($0.gateway)]")]
        }
        let ports = topology.vms(on: host).map {
            [("name", $0.port), ("network", $0.network.name), ("mac", $0.mac.description), ("ip", "[\($0.ip)]")]
        }
        let endpoints = topology.allVMs.filter { $0.host != host }.map {
            [("network", $0.network.name), ("ip", "[\($0.ip)]"), ("mac", $0.mac.description), ("peer", $0.host.name)]
        }
        for (key, items) in [("peers", peers), ("networks", networks), ("ports", ports), ("endpoints", endpoints)] {
            out += "\n" + DaemonConfig.sequence(key, items)
        }
        return out
    }

    /// A block sequence of mappings; the scalars are names, addresses and numbers, none needing quotes.
    static func sequence(_ key: String, _ items: [[(String, String)]]) -> String {
        if items.isEmpty { return "\(key): []\n" }
        var out = "\(key):\n"
        for item in items {
            for (i, (k, v)) in item.enumerated() { out += (i == 0 ? "  - " : "    ") + "\(k): \(v)\n" }
        }
        return out
    }

    /// Whole numbers without a fraction ("10"), others as Swift prints them ("0.09").
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
