import Foundation
import HNACore
import HNANode
import HNARouter
import HNAWire
import Logging
import Yams

/// A configuration error with the position of the offending YAML node (docs/config.md).
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// The daemon's configuration: what `NodeConfiguration` holds plus the driver's own settings.
public struct DaemonConfiguration: Sendable {
    /// How long a pair must be idle before it gets a heartbeat, unless the file says otherwise. Longer
    /// than the core's default (`FlowControlConfig.heartbeatIdle`, 100 µs, sized for hardware and the
    /// simulator): a software datapath's round trip is hundreds of microseconds anyway, and a daemon
    /// waking every 100 µs per idle peer spent a fifth of a core doing nothing else.
    public static let defaultHeartbeatIdle: UInt64 = 1_000_000
    /// The RTO's least margin over the smoothed round trip (`FlowControlConfig.resendTimeout`), unless
    /// the file says otherwise. A daemon is a process the kernel may not run for a scheduler slice or
    /// two (milliseconds on a busy host), so an ack can come that much later than the round trip said:
    /// with the core's 500 µs, 2.5 % of a bulk transfer was resent for nothing on a loaded 2-core host.
    /// Losses inside a window are still asked for by NACK within about a round trip.
    public static let defaultResendMargin: UInt64 = 4_000_000

    public var node: NodeConfiguration
    /// UDP port for HNA-header traffic.
    public var port: UInt16
    public var controlPath: String
    /// host:port for GET /metrics, nil when off.
    public var metrics: String?
    public var logLevel: Logger.Level

    /// Reads and checks `path`. Every error names file:line:column; unknown keys are refused.
    public static func load(path: String) throws(ConfigError) -> DaemonConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: 0, column: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigError) -> DaemonConfiguration {
        var reader = ConfigReader(file: file)
        return try reader.read(text)
    }
}

/// Walks the composed YAML tree, keeping marks for errors.
struct ConfigReader {
    let file: String

    func fail(_ node: Node?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message: message)
    }

    /// A mapping's entries by key, refusing keys outside `allowed` and duplicates.
    func mapping(_ node: Node, _ what: String, allowed: [String], required: [String] = []) throws(ConfigError) -> [String: Node] {
        guard case let .mapping(m) = node else { throw fail(node, "\(what) must be a mapping") }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.scalar?.string else { throw fail(k, "\(what): keys must be strings") }
            guard allowed.contains(key) else {
                throw fail(k, "\(what): unknown key '\(key)' (allowed: \(allowed.joined(separator: ", ")))")
            }
            if out[key] != nil { throw fail(k, "\(what): duplicate key '\(key)'") }
            out[key] = v
        }
        for r in required where out[r] == nil { throw fail(node, "\(what): missing required key '\(r)'") }
        return out
    }

    func sequence(_ node: Node?, _ what: String) throws(ConfigError) -> [Node] {
        guard let node else { return [] }
        if case .scalar(let s) = node, s.string.isEmpty || s.string == "null" || s.string == "~" { return [] }
        guard case let .sequence(seq) = node else { throw fail(node, "\(what) must be a list") }
        return Array(seq)
    }

    func string(_ node: Node, _ what: String) throws(ConfigError) -> String {
        guard case let .scalar(s) = node else { throw fail(node, "\(what) must be a scalar") }
        return s.string
    }

    func int(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let s = try string(node, what)
        guard let v = Int(s), range.contains(v) else { throw fail(node, "\(what) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(s)'") }
        return v
    }

    func double(_ node: Node, _ what: String) throws(ConfigError) -> Double {
        let s = try string(node, what)
        guard let v = Double(s), v > 0, v.isFinite else { throw fail(node, "\(what) must be a positive number, got '\(s)'") }
        return v
    }

    func bool(_ node: Node, _ what: String) throws(ConfigError) -> Bool {
        switch try string(node, what) {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let s: throw fail(node, "\(what) must be true or false, got '\(s)'")
        }
    }

    func address(_ node: Node, _ what: String) throws(ConfigError) -> IPAddress {
        let s = try string(node, what)
        guard let a = IPAddress(s) else { throw fail(node, "\(what): '\(s)' is not an IPv4 or IPv6 address") }
        return a
    }

    /// A scalar or a list of scalars.
    func list(_ node: Node?, _ what: String) -> [Node] {
        guard let node else { return [] }
        if case let .sequence(seq) = node { return Array(seq) }
        return [node]
    }

    func mac(_ node: Node, _ what: String) throws(ConfigError) -> MACAddress {
        let s = try string(node, what)
        guard let m = MACAddress(s) else { throw fail(node, "\(what): '\(s)' is not a MAC address") }
        return m
    }

    func prefix(_ node: Node, _ what: String) throws(ConfigError) -> IPPrefix {
        let s = try string(node, what)
        guard let p = IPPrefix(s) else { throw fail(node, "\(what): '\(s)' is not a prefix (address/length)") }
        return p
    }

    func ports(_ node: Node, _ what: String) throws(ConfigError) -> ClosedRange<UInt16> {
        let s = try string(node, what)
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard (1 ... 2).contains(parts.count), let lo = UInt16(parts[0]), let hi = UInt16(parts.last!), lo <= hi else {
            throw fail(node, "\(what): '\(s)' is not a port or a range like 5201-5210")
        }
        return lo ... hi
    }

    mutating func read(_ text: String) throws(ConfigError) -> DaemonConfiguration {
        let rootNode: Node?
        do {
            rootNode = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw ConfigError(file: file, line: 1, column: 1, message: "YAML: \(e)")
        } catch {
            throw ConfigError(file: file, line: 1, column: 1, message: "YAML: \(error)")
        }
        guard let root = rootNode else { throw ConfigError(file: file, line: 1, column: 1, message: "empty file") }
        let top = try mapping(root, "top level", allowed: ["hna", "peers", "networks", "ports", "endpoints", "policies"],
                              required: ["hna"])
        let h = try mapping(top["hna"]!, "hna", allowed: ["name", "underlay", "port", "bandwidthGbps", "txGbps", "rxGbps",
                                                         "priorities", "queueUnitBytes", "rateUnitBytesPerSecond",
                                                         "burstBytes", "nicBurstBytes", "heartbeatIdleMicroseconds", "heartbeatSpanPeriods",
                                                         "resendMarginMicroseconds", "flowControl",
                                                         "mtu", "control", "metrics", "logLevel"],
                            required: ["name", "underlay"])
        let name = try string(h["name"]!, "hna.name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw fail(h["name"], "hna.name must be letters, digits, '-', '_' or '.'")
        }
        let underlay = try address(h["underlay"]!, "hna.underlay")
        let port = try h["port"].map { n throws(ConfigError) in UInt16(try int(n, "hna.port", 1 ... 65535)) } ?? WellKnownPort.hna
        if port != WellKnownPort.hna {
            // The node and the router both name the HNA port by its one constant; another value would
            // split them. Refused rather than half-honoured.
            throw fail(h["port"], "hna.port: only \(WellKnownPort.hna) is supported (the port is a protocol constant in HNAWire)")
        }
        let bandwidth = try h["bandwidthGbps"].map { n throws(ConfigError) in try double(n, "hna.bandwidthGbps") } ?? 10
        let tx = try h["txGbps"].map { n throws(ConfigError) in try double(n, "hna.txGbps") } ?? bandwidth
        let rx = try h["rxGbps"].map { n throws(ConfigError) in try double(n, "hna.rxGbps") } ?? bandwidth
        var fc = FlowControlConfig()
        if let n = h["priorities"] { fc.priorities = try int(n, "hna.priorities", 1 ... HNAHeader.maxPriorities) }
        if let n = h["queueUnitBytes"] { fc.units.queueUnitBytes = UInt64(try int(n, "hna.queueUnitBytes", 1 ... 1 << 20)) }
        if let n = h["rateUnitBytesPerSecond"] {
            fc.units.rateUnitBytesPerSecond = UInt64(try int(n, "hna.rateUnitBytesPerSecond", 1 ... 1 << 40))
        }
        // Bursts default to a few microseconds of line rate (FlowControlConfig.defaultBurstBytes); the
        // drop-free condition is on the sum over a destination's sources (docs/flow-control.md).
        fc.rateBurstBytes = try h["burstBytes"].map { n throws(ConfigError) in try int(n, "hna.burstBytes", 64 ... 1 << 24) }
            ?? FlowControlConfig.defaultBurstBytes(bandwidth: min(tx, rx) * 1e9 / 8)
        fc.nicBurstBytes = try h["nicBurstBytes"].map { n throws(ConfigError) in try int(n, "hna.nicBurstBytes", 64 ... 1 << 24) }
            ?? FlowControlConfig.defaultNICBurstBytes(bandwidth: tx * 1e9 / 8)
        fc.heartbeatIdle = try h["heartbeatIdleMicroseconds"].map { n throws(ConfigError) in
            UInt64(try int(n, "hna.heartbeatIdleMicroseconds", 10 ... 1_000_000)) * 1000
        } ?? DaemonConfiguration.defaultHeartbeatIdle
        if let n = h["heartbeatSpanPeriods"] { fc.heartbeatSpanPeriods = try int(n, "hna.heartbeatSpanPeriods", 1 ... 1_000) }
        fc.resendTimeout = try h["resendMarginMicroseconds"].map { n throws(ConfigError) in
            UInt64(try int(n, "hna.resendMarginMicroseconds", 10 ... 1_000_000)) * 1000
        } ?? DaemonConfiguration.defaultResendMargin
        if let problem = fc.validate() { throw fail(top["hna"], "hna: \(problem)") }
        let flowControl = try h["flowControl"].map { n throws(ConfigError) in try bool(n, "hna.flowControl") } ?? true
        let mtu = try h["mtu"].map { n throws(ConfigError) in try int(n, "hna.mtu", NodeConfiguration.underlayMTURange) }
            ?? NodeConfiguration.defaultUnderlayMTU
        let control = try h["control"].map { n throws(ConfigError) in try string(n, "hna.control") } ?? "/run/hna/\(name).sock"
        let metrics = try h["metrics"].map { n throws(ConfigError) in try string(n, "hna.metrics") }
        if let m = metrics, let n = h["metrics"], MetricsServer.parseListen(m) == nil {
            throw fail(n, "hna.metrics: '\(m)' is not an IPv4 host:port")
        }
        var level = Logger.Level.info
        if let n = h["logLevel"] {
            let s = try string(n, "hna.logLevel")
            guard let l = Logger.Level(rawValue: s) else {
                throw fail(n, "hna.logLevel: '\(s)' is not one of trace, debug, info, notice, warning, error, critical")
            }
            level = l
        }

        var peers: [PeerConfiguration] = []
        var peerNodes: [String: Node] = [:]
        for p in try sequence(top["peers"], "peers") {
            let m = try mapping(p, "peer", allowed: ["name", "underlay", "hna", "bandwidthGbps", "rxGbps"],
                                required: ["name", "underlay"])
            let pn = try string(m["name"]!, "peer.name")
            if peerNodes[pn] != nil { throw fail(m["name"], "peer '\(pn)' defined twice") }
            peerNodes[pn] = p
            let a = try address(m["underlay"]!, "peer.underlay")
            if a == underlay { throw fail(m["underlay"], "peer '\(pn)': underlay is this HNA's own address") }
            if peers.contains(where: { $0.underlay == a }) { throw fail(m["underlay"], "peer '\(pn)': underlay \(a) used twice") }
            if !Self.sameFamily(a, underlay) { throw fail(m["underlay"], "peer '\(pn)': address family differs from hna.underlay") }
            let hna = try m["hna"].map { n throws(ConfigError) in try bool(n, "peer.hna") } ?? true
            let peerBandwidth = try m["bandwidthGbps"].map { n throws(ConfigError) in try double(n, "peer.bandwidthGbps") }
            let peerRx = try m["rxGbps"].map { n throws(ConfigError) in try double(n, "peer.rxGbps") } ?? peerBandwidth
            peers.append(PeerConfiguration(name: pn, underlay: a, hna: hna, rxBandwidth: peerRx.map { $0 * 1e9 / 8 }))
        }

        var networks: [NetworkConfiguration] = []
        var networkNodes: [String: Node] = [:]
        for n in try sequence(top["networks"], "networks") {
            let m = try mapping(n, "network", allowed: ["name", "vrf", "vni", "label", "encapsulation", "subnets", "gateway"],
                                required: ["name", "vrf", "vni", "label"])
            let nn = try string(m["name"]!, "network.name")
            if networkNodes[nn] != nil { throw fail(m["name"], "network '\(nn)' defined twice") }
            networkNodes[nn] = n
            let vrf = VRFID(try int(m["vrf"]!, "network.vrf", 1 ... 65535))
            if networks.contains(where: { $0.vrf == vrf }) { throw fail(m["vrf"], "network '\(nn)': vrf \(vrf) used twice") }
            let vni = UInt32(try int(m["vni"]!, "network.vni", 0 ... Int(VXLANHeader.maxVNI)))
            let label = UInt32(try int(m["label"]!, "network.label", 16 ... Int(MPLSLabel.max)))
            var encapsulation = Encapsulation.vxlan
            if let e = m["encapsulation"] {
                switch try string(e, "network.encapsulation") {
                case "vxlan": encapsulation = .vxlan
                case "mpls-udp": encapsulation = .mplsOverUDP
                case "mpls-gre": encapsulation = .mplsOverGRE
                case let s: throw fail(e, "network '\(nn)': encapsulation '\(s)' is not one of vxlan, mpls-udp, mpls-gre")
                }
            }
            var subnets: [IPPrefix] = []
            for s in list(m["subnets"], "subnets") { subnets.append(try prefix(s, "network.subnets")) }
            var gateways: [IPAddress] = []
            for g in list(m["gateway"], "gateway") { gateways.append(try address(g, "network.gateway")) }
            networks.append(NetworkConfiguration(name: nn, vrf: vrf, vni: vni, label: label, encapsulation: encapsulation,
                                                 subnets: subnets, gateways: gateways))
        }

        var ports: [PortConfiguration] = []
        for p in try sequence(top["ports"], "ports") {
            let m = try mapping(p, "port", allowed: ["name", "network", "mac", "ip"], required: ["name", "network", "mac"])
            let pn = try string(m["name"]!, "port.name")
            guard (1 ... 15).contains(pn.utf8.count), !pn.contains("/"), !pn.contains(" ") else {
                throw fail(m["name"], "port name '\(pn)' must be 1 to 15 characters without '/' or spaces")
            }
            if ports.contains(where: { $0.name == pn }) { throw fail(m["name"], "port '\(pn)' defined twice") }
            let net = try string(m["network"]!, "port.network")
            guard networkNodes[net] != nil else { throw fail(m["network"], "port '\(pn)': unknown network '\(net)'") }
            var addrs: [IPAddress] = []
            for a in list(m["ip"], "ip") { addrs.append(try address(a, "port.ip")) }
            ports.append(PortConfiguration(name: pn, id: InterfaceID(ports.count + 1), network: net,
                                           mac: try mac(m["mac"]!, "port.mac"), addresses: addrs))
        }

        var endpoints: [EndpointConfiguration] = []
        for e in try sequence(top["endpoints"], "endpoints") {
            let m = try mapping(e, "endpoint", allowed: ["network", "ip", "mac", "peer"], required: ["network", "ip", "mac", "peer"])
            let net = try string(m["network"]!, "endpoint.network")
            guard networkNodes[net] != nil else { throw fail(m["network"], "endpoint: unknown network '\(net)'") }
            let peer = try string(m["peer"]!, "endpoint.peer")
            guard peerNodes[peer] != nil else { throw fail(m["peer"], "endpoint: unknown peer '\(peer)'") }
            var addrs: [IPAddress] = []
            for a in list(m["ip"], "ip") { addrs.append(try address(a, "endpoint.ip")) }
            endpoints.append(EndpointConfiguration(network: net, addresses: addrs, mac: try mac(m["mac"]!, "endpoint.mac"), peer: peer))
        }

        for p in try sequence(top["policies"], "policies") {
            let m = try mapping(p, "policy", allowed: ["network", "rules"], required: ["network"])
            let net = try string(m["network"]!, "policy.network")
            guard let ni = networks.firstIndex(where: { $0.name == net }) else {
                throw fail(m["network"], "policy: unknown network '\(net)'")
            }
            var rules: [PolicyRule] = []
            for r in try sequence(m["rules"], "rules") {
                rules.append(try rule(r))
            }
            networks[ni].policy = Policy(rules: rules, defaultAction: .allow)
        }

        var node = NodeConfiguration(name: name, underlay: underlay, peers: peers, networks: networks, ports: ports,
                                     endpoints: endpoints, flowControl: fc, txBandwidth: tx * 1e9 / 8,
                                     rxBandwidth: rx * 1e9 / 8, rateLimits: flowControl, underlayMTU: mtu)
        node.flowControl = fc
        if let problem = node.validate() { throw fail(root, problem.message) }
        return DaemonConfiguration(node: node, port: port, controlPath: control, metrics: metrics, logLevel: level)
    }

    func rule(_ node: Node) throws(ConfigError) -> PolicyRule {
        let m = try mapping(node, "rule", allowed: ["action", "protocol", "source", "destination", "sourcePorts",
                                                    "destinationPorts"], required: ["action"])
        let action: PolicyRule.Action
        switch try string(m["action"]!, "rule.action") {
        case "allow": action = .allow
        case "deny": action = .deny
        case let s: throw fail(m["action"], "rule.action '\(s)' is not allow or deny")
        }
        var proto: IPProtocol?
        if let n = m["protocol"] {
            switch try string(n, "rule.protocol") {
            case "any": proto = nil
            case "icmp": proto = .icmp
            case "icmpv6": proto = .icmpv6
            case "tcp": proto = .tcp
            case "udp": proto = .udp
            case let s:
                guard let v = UInt8(s) else { throw fail(n, "rule.protocol '\(s)' is not any, icmp, icmpv6, tcp, udp or 0-255") }
                proto = IPProtocol(rawValue: v)
            }
        }
        let source = try m["source"].map { n throws(ConfigError) in try prefix(n, "rule.source") }
        let destination = try m["destination"].map { n throws(ConfigError) in try prefix(n, "rule.destination") }
        // A missing prefix means any address of the family the other prefix names (IPv4 when neither).
        let v6 = { (p: IPPrefix?) -> Bool in if case .v6 = p { return true } else { return false } }
        let family6 = v6(source) || v6(destination)
        let any: IPPrefix = family6 ? .anyV6 : .anyV4
        if let s = source, let d = destination, v6(s) != v6(d) {
            throw fail(m["destination"], "rule: source and destination are different address families")
        }
        let sp = try m["sourcePorts"].map { n throws(ConfigError) in try ports(n, "rule.sourcePorts") } ?? 0 ... .max
        let dp = try m["destinationPorts"].map { n throws(ConfigError) in try ports(n, "rule.destinationPorts") } ?? 0 ... .max
        return PolicyRule(action, proto: proto, source: source ?? any, destination: destination ?? any,
                          sourcePorts: sp, destinationPorts: dp)
    }

    static func sameFamily(_ a: IPAddress, _ b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4, .v4), (.v6, .v6): return true
        default: return false
        }
    }
}
