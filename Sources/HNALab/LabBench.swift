import Foundation
import HNABench
import HNALinux

/// `hna bench lab`: VM→VM throughput and packet rate through two HNAs, through two Linux kernel VXLAN
/// devices, and over a bare veth, in one run on one machine, so the ratios compare like with like.
public enum LabBench {
    /// A datagram of 18 payload bytes makes a 64-byte Ethernet frame (with the 4-byte FCS a wire adds).
    static let smallPayload = 18
    /// The NIC bandwidth the HNAs are configured with for the measurement.
    static let nicGbps = 100.0

    public struct Path: Sendable {
        public var key: String
        public var label: String
        public var tcpGbps: Double?
        public var udpMpps: Double?
        public var error: String?
    }

    /// Measures every path (`paths` picks from "hna", "kernelVxlan", "veth"); nil figures are left out.
    /// `underlayMTU` sets the underlay links' MTU on every path (the VMs' is lower by the usual margin):
    /// 1500 by default, 9000 for a fabric of jumbo frames.
    /// With `rounds` > 1 the paths are measured in turn, round after round, and each figure is the
    /// median of its rounds (every round's value is in the context lines).
    public static func run(seconds: Double, executable: String, paths: [String] = ["hna", "kernelVxlan", "veth"],
                           underlayMTU: Int = LabTopology.underlayMTU, rounds: Int = 1,
                           log: (String) -> Void) -> BenchReport {
        var report = BenchReport(name: "hna bench lab: VM → VM between two namespaces (iperf3)")
        report.context = machineContext(executable: executable) + [("seconds per figure", Report.fixed(seconds, 1)),
                                                                  ("rounds (median)", String(rounds)),
                                                                  ("HNA bandwidthGbps", Report.fixed(nicGbps, 0)),
                                                                  ("underlay MTU", String(underlayMTU)),
                                                                  ("VM MTU", String(LabTopology.vmMTU(underlay: underlayMTU)))]
        var all: [String: [Path]] = [:]
        for round in 0 ..< max(1, rounds) {
            for key in paths {
                if LabInterrupt.requested { break }
                log("measuring \(key)" + (rounds > 1 ? " (round \(round + 1) of \(rounds))" : ""))
                all[key, default: []].append(measure(key, seconds: seconds, executable: executable, underlayMTU: underlayMTU))
            }
        }
        var results: [Path] = []
        for key in paths {
            guard let runs = all[key], var p = runs.first else { continue }
            p.tcpGbps = median(runs.compactMap(\.tcpGbps))
            p.udpMpps = median(runs.compactMap(\.udpMpps))
            p.error = runs.compactMap(\.error).first
            if runs.count > 1 {
                report.context.append(("\(key) TCP Gbit/s per round", runs.map { $0.tcpGbps.map { Report.fixed($0, 2) } ?? "-" }.joined(separator: " ")))
                report.context.append(("\(key) UDP Mpps per round", runs.map { $0.udpMpps.map { Report.fixed($0, 3) } ?? "-" }.joined(separator: " ")))
            }
            results.append(p)
        }
        for p in results {
            if let t = p.tcpGbps { report.add("\(p.key)TcpGbps", t, "Gbit/s", "\(p.label): TCP throughput") }
            if let u = p.udpMpps { report.add("\(p.key)UdpMpps", u, "Mpps", "\(p.label): 64-byte UDP packet rate") }
            if let e = p.error { report.context.append(("\(p.key) error", e)) }
        }
        func ratio(_ a: String, _ b: String, _ tcp: Bool) {
            guard let x = results.first(where: { $0.key == a }), let y = results.first(where: { $0.key == b }),
                  let xv = tcp ? x.tcpGbps : x.udpMpps, let yv = tcp ? y.tcpGbps : y.udpMpps, yv > 0 else { return }
            let what = tcp ? "Tcp" : "Udp"
            report.add("\(a)Vs\(b.prefix(1).uppercased() + b.dropFirst())\(what)Ratio", xv / yv, "×",
                       "\(x.label) / \(y.label): \(tcp ? "TCP" : "UDP packet rate")")
        }
        for tcp in [true, false] {
            ratio("hna", "kernelVxlan", tcp)
            ratio("hna", "veth", tcp)
            ratio("kernelVxlan", "veth", tcp)
        }
        return report
    }

    static func measure(_ key: String, seconds: Double, executable: String, underlayMTU: Int) -> Path {
        var path = Path(key: key, label: key == "hna" ? "two HNAs" : key == "veth" ? "bare veth" : "two kernel VXLAN devices")
        var topology: LabTopology
        do { topology = try LabTopology(hosts: 2, vmsPerHost: 1) } catch { path.error = error.description; return path }
        topology.underlayMTU = underlayMTU
        topology.vmMTU = LabTopology.vmMTU(underlay: underlayMTU)
        let (a, b) = (topology.vms[0], topology.vms[1])
        // The HNAs are told their NIC is a 100 Gbit/s one (`hna.bandwidthGbps`): a veth has no line rate,
        // and the default of 10 would cap their pacing below what the kernel paths reach here.
        let daemons = DaemonDataplane(executable: executable, config: DaemonConfig(bandwidthGbps: Self.nicGbps))
        let lab = Lab(topology: topology, dataplane: key == "hna" ? daemons : nil)
        defer { lab.down() }
        do throws(LabError) {
            if key == "veth" {
                // Just the two VMs, wired to each other.
                try linux { () throws(LinuxError) in
                    let na = try lab.setup.createNamespace(a.namespace), nb = try lab.setup.createNamespace(b.namespace)
                    try lab.setup.createVethPair(a.port, in: na, peer: "peer", peerIn: nb, mtu: topology.vmMTU)
                    try LinkSetup.ip(nb, ["link", "set", "peer", "down"])
                    try LinkSetup.ip(nb, ["link", "set", "peer", "name", b.port])
                    try lab.setup.setUp(b.port, in: nb)
                    for (vm, ns) in [(a, na), (b, nb)] {
                        try lab.setup.addAddress("\(vm.ip)/\(LabNetwork.subnetPrefixLength)", to: vm.port, in: ns)
                    }
                }
            } else {
                try lab.up()
            }
            // Warm up the path (neighbour entries, flow set-up) before timing.
            _ = Probe.ping(a, b, count: 2, interval: 0.1, wait: 2)
            switch Probe.iperf(from: a, to: b, seconds: seconds) {
            case let .success(r): path.tcpGbps = r.bitsPerSecond / 1e9
            case let .failure(e): path.error = e.description
            }
            switch Probe.iperf(from: a, to: b, seconds: seconds, udpBitsPerSecond: 0, length: smallPayload) {
            case let .success(r): path.udpMpps = r.receivedPacketsPerSecond.map { $0 / 1e6 }
            case let .failure(e): path.error = (path.error.map { $0 + "; " } ?? "") + e.description
            }
        } catch {
            path.error = error.description
        }
        return path
    }

    static func machineContext(executable: String) -> [(String, String)] {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let build = executable.contains("/release/") ? "release" : executable.contains("/debug/") ? "debug" : "unknown"
        return [("cpu", model), ("cores", String(ProcessInfo.processInfo.activeProcessorCount)),
                ("kernel", kernel), ("hna build", build)]
    }
}
