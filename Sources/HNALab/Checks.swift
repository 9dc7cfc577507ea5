import Foundation
import HNACore
import HNALinux
import HNAWire

/// What a lab run does besides building: the parameters of its checks.
public struct LabOptions: Sendable {
    /// Rate of the fabric bottleneck in the drop-free scenario (tc tbf on the receiver's fabric port).
    public var bottleneckMbps: Double = 20
    /// The bottleneck's buffer: a few packets, so a fabric without flow control overflows it.
    public var bottleneckBurstBytes = 16_000
    public var bottleneckLatencyMicroseconds = 1_000
    /// The receiver's HNA advertises this share of the bottleneck as its receive bandwidth (frame bytes,
    /// the tunnel headers included), leaving room for flow-control messages and a loaded machine's
    /// jitter in a queue of about ten packets.
    public var receiveShare = 0.9
    public var scenarioSeconds = 3.0
    public var tcpSeconds = 2.0
    public var pings = 4
    /// Drop-free passes when goodput reaches this share of the bottleneck. What the receiver grants is
    /// `receiveShare` of it in frame bytes; the VM sees about 95 % of those (its frames without the
    /// outer Ethernet, IP, UDP, HNA and VXLAN headers), 85 % of the bottleneck at best. Debug-build
    /// daemons on a loaded machine wake late now and then and lose a few percent of their grants (a
    /// bucket holds at most its burst), so 0.75.
    public var goodputShare = 0.75
    /// Run the drop-free scenario (it restarts the daemons twice).
    public var dropFree = true

    public init() {}
}

/// Runs the checks on a lab that is up and gathers the report.
public struct LabChecks {
    public let lab: Lab
    public let options: LabOptions
    var topology: LabTopology { lab.topology }

    public init(lab: Lab, options: LabOptions) {
        self.lab = lab
        self.options = options
    }

    public func run() throws(LabError) -> LabReport {
        var report = LabReport(topology: topology, dataplane: lab.dataplane.kind)
        let baseline = hnaDrops()

        // Reachability: every pair of VMs of one network on different hosts.
        report.pings = Probe.ping(pairs: topology.sameNetworkPairs, count: options.pings)
        try LabInterrupt.check()
        let answered = report.pings.filter { $0.received >= $0.sent - 1 && $0.received > 0 }
        report.checks.append(LabCheck(
            name: "reachability", passed: answered.count == report.pings.count,
            detail: "\(answered.count)/\(report.pings.count) VM pairs of one network on different hosts answer ping"))

        // Isolation: no VM reaches a VM of another network, on its own host or any other.
        report.isolation = Probe.ping(pairs: topology.crossNetworkPairs, count: 2, interval: 0.2, wait: 1)
        try LabInterrupt.check()
        let leaks = report.isolation.filter { $0.received > 0 || $0.sent == 0 }
        report.checks.append(LabCheck(
            name: "isolation", passed: leaks.isEmpty,
            detail: leaks.isEmpty ? "0/\(report.isolation.count) pings across virtual networks answered"
                : "answered or not run: " + leaks.map { "\($0.from)→\($0.to)" }.joined(separator: ", ")))

        // TCP throughput, one pair per network.
        var tcpFailures: [String] = []
        for n in topology.networks {
            guard let (a, b) = topology.sameNetworkPairs.first(where: { $0.0.network == n }) else { continue }
            switch Probe.iperf(from: a, to: b, seconds: options.tcpSeconds) {
            case let .success(r): report.tcp.append(ThroughputResult(from: a.name, to: b.name, network: n.name, result: r))
            case let .failure(e): tcpFailures.append(e.description)
            }
            try LabInterrupt.check()
        }
        report.checks.append(LabCheck(
            name: "tcp", passed: tcpFailures.isEmpty && report.tcp.allSatisfy { $0.result.bitsPerSecond > 0 },
            detail: tcpFailures.isEmpty
                ? report.tcp.map { "\($0.network) \($0.from)→\($0.to) \(Report.gbps($0.result.bitsPerSecond)) Gbit/s" }.joined(separator: "; ")
                : tcpFailures.joined(separator: "; ")))

        try interop(&report)
        if lab.dataplane is DaemonDataplane { try captures(&report) }
        if options.dropFree { try dropFree(&report) }

        report.fabric = fabricPorts()
        for host in topology.hosts {
            guard var s = lab.dataplane.stats(host) else { continue }
            // Only what the checks caused: counters can predate the run on a lab kept up.
            let before = Dictionary(baseline[host.name]?.drops.map { ($0.reason, $0.count) } ?? [], uniquingKeysWith: +)
            s.drops = s.drops.map { ($0.reason, $0.count - (before[$0.reason] ?? 0)) }
            report.hnas.append(HostReport(host: host.name, stats: s))
        }
        return report
    }

    /// The kernel VXLAN host: ping between its VM and every VM of its network, and TCP both ways.
    func interop(_ report: inout LabReport) throws(LabError) {
        let k = topology.kernelVM
        let peers = topology.vms.filter { $0.network == k.network }
        report.interopPings = Probe.ping(pairs: peers.flatMap { [(k, $0), ($0, k)] }, count: options.pings)
        try LabInterrupt.check()
        var failures: [String] = []
        if let first = peers.first {
            for reverse in [false, true] {
                switch Probe.iperf(from: first, to: k, seconds: 1, reverse: reverse) {
                case let .success(r):
                    report.interopTCP.append(ThroughputResult(from: reverse ? k.name : first.name, to: reverse ? first.name : k.name,
                                                              network: k.network.name, result: r))
                case let .failure(e): failures.append(e.description)
                }
                try LabInterrupt.check()
            }
        }
        let answered = report.interopPings.filter { $0.received >= $0.sent - 1 && $0.received > 0 }
        let ok = answered.count == report.interopPings.count && failures.isEmpty
        report.checks.append(LabCheck(
            name: "interop", passed: ok,
            detail: "kernel VXLAN host \(k.host.name): \(answered.count)/\(report.interopPings.count) ping directions answer; "
                + (failures.isEmpty ? report.interopTCP.map { "TCP \($0.from)→\($0.to) \(Report.gbps($0.result.bitsPerSecond)) Gbit/s" }
                    .joined(separator: ", ") : failures.joined(separator: "; "))))
    }

    /// The blast's UDP payload: the largest that fits the VM MTU with its IPv4 and UDP headers, so each
    /// datagram leaves the VM as one packet instead of two IP fragments.
    static let blastDatagramLength = LabTopology.vmMTU - IPv4Packet.minimumHeaderLength - UDPDatagram.headerLength

    /// VMs on the other hosts blast UDP at one VM through a slow fabric port, with flow control on (when
    /// the dataplane has it) and off.
    func dropFree(_ report: inout LabReport) throws(LabError) {
        guard let receiver = topology.vms.first(where: { $0.host == topology.hosts[0] }) else { return }
        let senders = topology.vms.filter { $0.network == receiver.network && $0.host != receiver.host }
        let fabric = Namespace(topology.fabricNamespace)
        let port = receiver.host.fabricPort
        let rate = options.bottleneckMbps
        var scenario = DropFreeReport(receiver: receiver.name, senders: senders.map(\.name), bottleneckMbps: rate)
        let daemon = lab.dataplane as? DaemonDataplane
        let modes = daemon != nil ? [false, true] : [false]
        for flowControl in modes {
            if let daemon {
                daemon.config = DaemonConfig(flowControl: flowControl,
                                             rxGbps: [receiver.host.name: rate * options.receiveShare / 1000],
                                             rateUnitBytesPerSecond: Self.rateUnit(rate * options.receiveShare, sources: senders.count),
                                             burstBytes: Self.burst(fabricBuffer: options.bottleneckBurstBytes, sources: senders.count))
                try lab.restartHosts()
            }
            try linux { () throws(LinuxError) in
                _ = try? lab.setup.clearQdisc(port, in: fabric)
                try lab.setup.setTokenBucket(port, in: fabric, rateBitsPerSecond: UInt64(rate * 1e6),
                                             burstBytes: options.bottleneckBurstBytes,
                                             latencyMicroseconds: options.bottleneckLatencyMicroseconds)
            }
            let before = hnaDrops()
            let matrix = Box<[RateCell]>()
            let sampleAt = options.scenarioSeconds / 2 + 0.3
            let hosts = topology.hosts
            let dataplane = lab.dataplane
            Thread {
                usleep(UInt32(sampleAt * 1e6))
                let first = hosts.map { dataplane.stats($0)?.peers ?? [] }
                let t0 = Date()
                usleep(500_000)
                let second = hosts.map { dataplane.stats($0)?.peers ?? [] }
                let dt = Date().timeIntervalSince(t0)
                var cells: [RateCell] = []
                for (h, (a, b)) in zip(hosts, zip(first, second)) {
                    for var cell in b {
                        if let then = a.first(where: { $0.peer == cell.peer })?.txBytes, let now = cell.txBytes {
                            cell.measuredMbps = Double(now - then) * 8 / dt / 1e6
                        }
                        cells.append(RateCell(from: h.name, rate: cell))
                    }
                }
                matrix.set(cells)
            }.start()
            let seconds = options.scenarioSeconds
            let jobs = senders.enumerated().map { Blast(sender: $0.element, port: Probe.basePort + 1 + $0.offset) }
            // Goodput from the receiving VM's interface counters: iperf3's own report needs its control
            // connection to survive the congested path, the counters do not. Measured while every
            // sender blasts (from 0.5 s in to 0.25 s before the end), not over the whole run: with flow
            // control the senders' queues keep draining after iperf3 stops, and counting that against
            // the blast's duration would overstate the rate.
            let window = Box<(bytes: Int, seconds: Double, dropsBefore: Int)>()
            let (start, end) = (0.5, max(1.0, seconds - 0.25))
            let vm = receiver
            let namespace = topology.fabricNamespace
            Thread {
                usleep(UInt32(start * 1e6))
                let rx0 = Self.rxBytes(vm), drops0 = Self.qdiscDrops(port, namespace: namespace), t0 = Date()
                usleep(UInt32((end - start) * 1e6))
                let rx1 = Self.rxBytes(vm)
                window.set((rx1 - rx0, Date().timeIntervalSince(t0), drops0))
            }.start()
            let results = concurrentMap(jobs) { job in
                Probe.iperf(from: job.sender, to: receiver, port: job.port, seconds: seconds,
                            udpBitsPerSecond: UInt64(rate * 1e6), length: Self.blastDatagramLength)
            }
            let measured = window.wait()
            try LabInterrupt.check()
            let after = hnaDrops()
            var run = ScenarioRun(flowControl: flowControl && lab.dataplane.hasFlowControl)
            run.goodputMbps = Double(measured.bytes) * 8 / measured.seconds / 1e6
            run.warmUpFabricDrops = measured.dropsBefore
            for r in results {
                switch r {
                case let .success(x): run.offeredMbps += x.sentBitsPerSecond / 1e6
                case let .failure(e):
                    run.offeredMbps += rate
                    run.errors.append(e.description)
                }
            }
            run.fabricDrops = qdiscDrops(port)
            run.hnaDrops = topology.hosts.reduce(0) { $0 + (after[$1.name]?.totalDrops ?? 0) - (before[$1.name]?.totalDrops ?? 0) }
            run.rateMatrix = matrix.wait()
            scenario.runs.append(run)
        }
        _ = try? lab.setup.clearQdisc(port, in: fabric)
        report.dropFree = scenario

        let off = scenario.runs.first { !$0.flowControl }
        let on = scenario.runs.first { $0.flowControl }
        if let on, let off {
            let ok = on.fabricDrops == 0
                && on.goodputMbps >= options.goodputShare * rate && off.fabricDrops > 0
            report.checks.append(LabCheck(
                name: "drop-free", passed: ok,
                detail: "fabric drops \(on.fabricDrops) with flow control (\(on.warmUpFabricDrops) in the first 0.5 s; goodput "
                    + "\(Report.mbps(on.goodputMbps)) of "
                    + "\(Report.mbps(rate)) Mbit/s), \(off.fabricDrops) without (goodput \(Report.mbps(off.goodputMbps)))"
                    + (on.errors + off.errors).map { "; \($0)" }.joined()))
        } else if let off {
            report.checks.append(LabCheck(
                name: "drop-free", passed: nil,
                detail: "\(lab.dataplane.kind) has no flow control: fabric drops \(off.fabricDrops), goodput "
                    + "\(Report.mbps(off.goodputMbps)) of \(Report.mbps(rate)) Mbit/s" + off.errors.map { "; \($0)" }.joined()))
        }
    }

    struct Blast: Sendable { var sender: LabVM; var port: Int }

    /// The rate unit for a receiver granting `mbps` to `sources`: the largest power of two that leaves
    /// each source's share at least 64 units (rounding down a grant then costs under 2 %), at most the
    /// default unit. One unit for every host, since a receiver decodes with its own.
    static func rateUnit(_ mbps: Double, sources: Int) -> Int {
        let share = mbps * 1e6 / 8 / Double(max(1, sources)) / 64
        var unit = 1
        while unit * 2 <= Int(share), unit * 2 <= 1 << 24 { unit *= 2 }
        return unit
    }

    /// Per-pair burst for the drop-free condition: the sources of one destination may each send their
    /// burst plus one packet at once, and all of that must fit the fabric buffer in front of it.
    /// Half of each source's share of the buffer, less one frame (the packet a bucket may overdraw by):
    /// the other half absorbs a loaded machine's jitter (a sender descheduled for a while, packets
    /// bunched in the kernel). With the whole share the lab still saw a hundred drops per run.
    static func burst(fabricBuffer: Int, sources: Int) -> Int {
        max(FlowControlConfig.minimumBurstBytes, fabricBuffer / max(1, sources) / 2 - 1518)
    }

    /// Captures h1's underlay while its VMs ping over every encapsulation it sends (HNA header + VXLAN,
    /// HNA header + MPLS-over-UDP, plain VXLAN to the kernel host) and decodes the capture with tshark and
    /// the project's Lua dissector: every kind must appear, carrying the ICMP inside, and nothing may be
    /// malformed.
    func captures(_ report: inout LabReport) throws(LabError) {
        guard LabProcesses.locate("dumpcap") != nil, LabProcesses.locate("tshark") != nil, let lua = Self.dissector() else {
            report.checks.append(LabCheck(name: "captures", passed: ProcessInfo.processInfo.environment["CI"] != nil ? false : nil,
                                          detail: "needs tshark, dumpcap and contrib/wireshark/hna.lua"))
            return
        }
        let host = topology.hosts[0]
        let file = "\(LabTopology.stateDirectory)/\(host.name)-underlay.pcapng"
        let log = "\(LabTopology.stateDirectory)/\(host.name)-dumpcap.log"
        let dumpcap = try LabProcesses.start(in: host.namespace, ["dumpcap", "-i", LabTopology.underlayLink, "-w", file],
                                             log: log)
        let end = Date().addingTimeInterval(5)
        while Date() < end, !(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("Capturing on")) {
            usleep(50_000)
        }
        var pairs: [(LabVM, LabVM)] = []
        for n in topology.networks {
            if let p = topology.sameNetworkPairs.first(where: { $0.0.host == host && $0.0.network == n }) { pairs.append(p) }
        }
        if let blue = topology.vms(on: host).first(where: { $0.network == topology.kernelVM.network }) {
            pairs.append((blue, topology.kernelVM))
        }
        _ = Probe.ping(pairs: pairs, count: 2, interval: 0.2, wait: 1)
        usleep(200_000)
        LabProcesses.stop(dumpcap, grace: 3)
        try LabInterrupt.check()
        let r = LabProcesses.run(["tshark", "-r", file, "-X", "lua_script:\(lua)", "-T", "fields",
                                  "-e", "frame.protocols", "-e", "udp.dstport"], timeout: 30)
        var kinds: [String: Int] = [:]
        var malformed = 0
        for line in r.stdout.split(separator: "\n") {
            let protocols = String(line.split(separator: "\t").first ?? "")
            if protocols.contains("_ws.malformed") || protocols.contains("_ws.expert") { malformed += 1 }
            guard protocols.contains("icmp") else { continue }
            let layers = protocols.split(separator: ":")
            if layers.contains("hna"), layers.contains("vxlan") { kinds["HNA+VXLAN", default: 0] += 1 }
            else if layers.contains("hna"), layers.contains("mpls") { kinds["HNA+MPLS-over-UDP", default: 0] += 1 }
            else if layers.contains("vxlan") { kinds["VXLAN", default: 0] += 1 }
        }
        var expected = Set(topology.networks.map { $0.encapsulation == "vxlan" ? "HNA+VXLAN" : "HNA+MPLS-over-UDP" })
        expected.insert("VXLAN")
        let missing = expected.subtracting(kinds.keys).sorted()
        report.checks.append(LabCheck(
            name: "captures", passed: r.succeeded && missing.isEmpty && malformed == 0,
            detail: (r.succeeded ? "" : "tshark: \(r.stderr.prefix(200)); ")
                + "tshark decodes \(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                + (missing.isEmpty ? "" : "; no ICMP seen in \(missing.joined(separator: ", "))")
                + "; \(malformed) malformed"))
    }

    /// contrib/wireshark/hna.lua of the checkout the running `hna` was built in.
    static func dissector() -> String? {
        var dir = URL(fileURLWithPath: LabRunner.ownExecutable).deletingLastPathComponent()
        for _ in 0 ..< 6 {
            let candidate = dir.appendingPathComponent("contrib/wireshark/hna.lua").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    private func hnaDrops() -> [String: HostStats] {
        var out: [String: HostStats] = [:]
        for h in topology.hosts { out[h.name] = lab.dataplane.stats(h) }
        return out
    }

    /// Bytes the VM's interface has received.
    func rxBytes(_ vm: LabVM) -> Int { Self.rxBytes(vm) }

    static func rxBytes(_ vm: LabVM) -> Int {
        let r = LabProcesses.run(["ip", "-n", vm.namespace, "-s", "-j", "link", "show", "dev", vm.port], timeout: 5)
        let links = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        return ((links.first?["stats64"] as? [String: Any])?["rx"] as? [String: Any])?["bytes"] as? Int ?? 0
    }

    /// Packets the tbf on `port` dropped since it was installed.
    func qdiscDrops(_ port: String) -> Int { Self.qdiscDrops(port, namespace: topology.fabricNamespace) }

    static func qdiscDrops(_ port: String, namespace: String) -> Int {
        let r = LabProcesses.run(["tc", "-n", namespace, "-s", "-j", "qdisc", "show", "dev", port], timeout: 5)
        let qdiscs = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        return qdiscs.reduce(0) { $0 + (($1["drops"] as? Int) ?? 0) }
    }

    /// Per fabric port: packets towards the host and drops (queue discipline and link).
    func fabricPorts() -> [FabricPort] {
        let r = LabProcesses.run(["ip", "-n", topology.fabricNamespace, "-s", "-j", "link", "show"], timeout: 5)
        let links = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
        return topology.allHosts.map { host in
            let link = links.first { ($0["ifname"] as? String) == host.fabricPort }
            let tx = (link?["stats64"] as? [String: Any])?["tx"] as? [String: Any]
            return FabricPort(port: host.fabricPort, txPackets: (tx?["packets"] as? Int) ?? 0,
                              linkDrops: (tx?["dropped"] as? Int) ?? 0)
        }
    }
}
