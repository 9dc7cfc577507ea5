import Foundation
import HNALinux
import HNAWire

/// What moves a host's VM traffic across the fabric: the HNA daemon, or Linux kernel VXLAN devices.
///
/// Both create one link per local VM in the host namespace, named by `LabVM.port`; the lab then moves it
/// into the VM's namespace and configures it. The kernel path is the interop peer of the HNAs, the bench
/// baseline, and a stand-in that exercises the lab's plumbing on its own.
public protocol HostDataplane: AnyObject, Sendable {
    /// "hna" or "kernel-vxlan", as reports and `--dataplane` spell it.
    var kind: String { get }
    /// Whether it rate-limits senders towards a receiver (the drop-free scenario needs it).
    var hasFlowControl: Bool { get }
    /// Creates `host`'s VM ports and starts forwarding them; returns once the ports exist.
    func start(_ host: LabHost, topology: LabTopology, setup: LinkSetup) throws(LabError)
    /// Stops forwarding; the ports may disappear with it.
    func stop(_ host: LabHost)
    /// Counters for the report; nil when there are none.
    func stats(_ host: LabHost) -> HostStats?
}

/// A host's drops by reason and, for HNAs, the live row of the rate matrix.
public struct HostStats: Sendable {
    public var drops: [(reason: String, count: Int)] = []
    public var peers: [PeerRate] = []
    public var totalDrops: Int { drops.reduce(0) { $0 + $1.count } }
}

/// One cell of the rate matrix: what `host` may send towards `peer` and what it does send.
public struct PeerRate: Sendable {
    public var peer: String
    public var grantedMbps: Double?
    public var usedMbps: Double?
    public var queueBytes: Int?
    /// Tunnel bytes sent to the peer so far (two samples give the measured rate).
    public var txBytes: Int?
    /// Whether the peer's latest grant is fresh (a stale one makes the sender fall back to a safe rate).
    public var freshGrant: Bool?
    /// Measured from two samples of `txBytes`.
    public var measuredMbps: Double?
}

/// Linux kernel VXLAN: per network a bridge and a VXLAN device (VNI from the network), static forwarding
/// entries for every remote VM's MAC and flood entries towards every host with VMs in that network (so
/// ARP works where both ends are kernel hosts). Each VM hangs off the bridge by a veth pair.
public final class KernelVXLANDataplane: HostDataplane, @unchecked Sendable {
    public let kind = "kernel-vxlan"
    public let hasFlowControl = false
    /// Which hosts run kernel VXLAN; used for flood entries (an HNA ignores ARP from the fabric, so only
    /// kernel peers get floods).
    private let kernelHosts: @Sendable (LabHost) -> Bool

    public init(kernelHosts: @escaping @Sendable (LabHost) -> Bool) { self.kernelHosts = kernelHosts }

    static func bridge(_ n: LabNetwork) -> String { "br-\(n.name)" }
    static func vxlan(_ n: LabNetwork) -> String { "vx-\(n.name)" }
    static func bridgePort(_ vm: LabVM) -> String { "p-\(vm.port)" }

    public func start(_ host: LabHost, topology: LabTopology, setup: LinkSetup) throws(LabError) {
        let ns = Namespace(host.namespace)
        let local = topology.vms(on: host)
        let networks = topology.networks.filter { n in local.contains { $0.network == n } }
        try linux { () throws(LinuxError) in
            for n in networks {
                let br = KernelVXLANDataplane.bridge(n), vx = KernelVXLANDataplane.vxlan(n)
                try setup.createBridge(br, in: ns)
                try LinkSetup.ip(ns, ["link", "add", vx, "type", "vxlan", "id", String(n.vni),
                                      "local", host.underlay.description, "dstport", String(WellKnownPort.vxlan),
                                      "nolearning"])
                try LinkSetup.ip(ns, ["link", "set", vx, "mtu", String(topology.vmMTU)])
                try setup.disableIPv6(vx, in: ns)
                try setup.attach(vx, toBridge: br, in: ns)
                try setup.setUp(vx, in: ns)
                for vm in topology.vms(in: n) where vm.host != host {
                    try LinkSetup.exec(ns, "bridge", ["fdb", "append", vm.mac.description, "dev", vx,
                                                      "dst", vm.host.underlay.description, "self", "permanent"])
                }
                let floodTo = Set(topology.vms(in: n).map(\.host)).filter { $0 != host && kernelHosts($0) }
                for peer in floodTo.sorted(by: { $0.number < $1.number }) {
                    try LinkSetup.exec(ns, "bridge", ["fdb", "append", "00:00:00:00:00:00", "dev", vx,
                                                      "dst", peer.underlay.description, "self", "permanent"])
                }
            }
            for vm in local {
                let port = KernelVXLANDataplane.bridgePort(vm)
                try setup.createVethPair(vm.port, in: ns, peer: port, peerIn: ns, mtu: topology.vmMTU)
                try setup.attach(port, toBridge: KernelVXLANDataplane.bridge(vm.network), in: ns)
            }
        }
    }

    /// The devices go with the host's namespace.
    public func stop(_ host: LabHost) {}

    /// Drops the kernel counts on the VXLAN devices and bridges.
    public func stats(_ host: LabHost) -> HostStats? {
        let r = LabProcesses.run(["ip", "-n", host.namespace, "-s", "-j", "link", "show"], timeout: 5)
        guard r.succeeded, let links = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]]
        else { return nil }
        var s = HostStats()
        for link in links {
            guard let name = link["ifname"] as? String, name.hasPrefix("vx-") || name.hasPrefix("br-") else { continue }
            let stats = link["stats64"] as? [String: Any]
            let rx = ((stats?["rx"] as? [String: Any])?["dropped"] as? Int) ?? 0
            let tx = ((stats?["tx"] as? [String: Any])?["dropped"] as? Int) ?? 0
            s.drops.append(("\(name) rx", rx))
            s.drops.append(("\(name) tx", tx))
        }
        return s
    }
}

/// Runs a block of HNALinux steps, turning their error into the lab's.
func linux(_ body: () throws(LinuxError) -> Void) throws(LabError) {
    do { try body() } catch { throw .linux(error.description) }
}
