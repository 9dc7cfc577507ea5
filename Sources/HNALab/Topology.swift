import HNAWire

/// The small data center `hna lab` builds, as plain values: hosts on a shared underlay, VMs on the hosts,
/// virtual networks the VMs belong to, and one Linux kernel VXLAN host that interoperates with the HNAs.
///
/// Every name and address is derived here and nowhere else, so the build-up, the daemon configurations,
/// the checks and `hna lab down` (which finds leftovers by `LabTopology.prefix`) always agree.
public struct LabTopology: Sendable, Equatable {
    /// Every namespace the lab creates starts with this, so `hna lab down` can find leftovers of a crashed
    /// run without any record of it.
    public static let prefix = "hna-lab-"
    /// Where the lab keeps the daemons' configurations, logs and control sockets while it is up.
    public static let stateDirectory = "/run/hna-lab"

    public static let defaultHosts = 3
    public static let defaultVMsPerHost = 2
    /// Host numbers stay below the kernel host's number in the address plan.
    public static let hostRange = 2 ... 16
    public static let vmRange = 1 ... 8

    /// MTU of the underlay links, and of the VMs: the VMs' is lower by more than the largest
    /// encapsulation (outer IPv4/UDP, HNA header, VXLAN or MPLS, inner Ethernet), so no VM packet needs a
    /// "too big" answer from its HNA or fragmentation on the underlay.
    public static let underlayMTU = 1500
    public static let vmMTU = 1400
    /// What an underlay MTU leaves the VMs (the same margin as the defaults').
    public static func vmMTU(underlay: Int) -> Int { underlay - (underlayMTU - vmMTU) }

    /// This lab's MTUs (the defaults above unless a benchmark asks for jumbo frames).
    public var underlayMTU = LabTopology.underlayMTU
    public var vmMTU = LabTopology.vmMTU

    public var hosts: [LabHost]
    public var networks: [LabNetwork]
    public var vms: [LabVM]
    /// The Linux kernel VXLAN host of the interop check (standard VXLAN, no HNA header).
    public var kernelHost: LabHost
    /// Its VM, in the first network (which uses VXLAN, the one encapsulation the kernel peer speaks).
    public var kernelVM: LabVM

    /// The fabric: a Linux bridge in its own namespace, one port per host.
    public var fabricNamespace: String { LabTopology.prefix + "fabric" }
    public static let fabricBridge = "fabric"
    /// The underlay veth end inside each host namespace.
    public static let underlayLink = "ul0"
    /// The underlay prefix length.
    public static let underlayPrefixLength = 24

    /// The default lab: `hosts` HNA hosts with `vmsPerHost` VMs each; VM j of every host joins network
    /// ((j-1) mod 2) — "blue" for VM1, "red" for VM2 — so both isolation and same-network reachability
    /// across hosts can be shown.
    public init(hosts hostCount: Int = defaultHosts, vmsPerHost: Int = defaultVMsPerHost) throws(LabError) {
        guard LabTopology.hostRange.contains(hostCount) else {
            throw .invalidTopology("--hosts must be in \(LabTopology.hostRange.lowerBound)...\(LabTopology.hostRange.upperBound)")
        }
        guard LabTopology.vmRange.contains(vmsPerHost) else {
            throw .invalidTopology("--vms must be in \(LabTopology.vmRange.lowerBound)...\(LabTopology.vmRange.upperBound)")
        }
        networks = [
            LabNetwork(number: 1, name: "blue", encapsulation: "vxlan"),
            LabNetwork(number: 2, name: "red", encapsulation: "mpls-udp"),
        ]
        hosts = (1 ... hostCount).map { LabHost(number: $0, kind: .hna) }
        var vms: [LabVM] = []
        for h in hosts {
            for j in 1 ... vmsPerHost {
                vms.append(LabVM(host: h, number: j, network: networks[(j - 1) % networks.count]))
            }
        }
        self.vms = vms
        kernelHost = LabHost(number: LabHost.kernelNumber, kind: .kernelVXLAN)
        kernelVM = LabVM(host: kernelHost, number: 1, network: networks[0])
    }

    /// All hosts on the underlay: the HNA hosts, then the kernel VXLAN host.
    public var allHosts: [LabHost] { hosts + [kernelHost] }
    /// All VMs, the kernel host's last.
    public var allVMs: [LabVM] { vms + [kernelVM] }

    public func vms(on host: LabHost) -> [LabVM] { allVMs.filter { $0.host == host } }
    public func vms(in network: LabNetwork) -> [LabVM] { allVMs.filter { $0.network == network } }
    public func network(named name: String) -> LabNetwork? { networks.first { $0.name == name } }
    public func host(named name: String) -> LabHost? { allHosts.first { $0.name == name } }

    /// Ordered pairs of VMs of one network on different HNA hosts: what must reach each other.
    public var sameNetworkPairs: [(LabVM, LabVM)] {
        var pairs: [(LabVM, LabVM)] = []
        for a in vms { for b in vms where a.host != b.host && a.network == b.network { pairs.append((a, b)) } }
        return pairs
    }

    /// Ordered pairs of VMs of different networks (on any hosts): what must not reach each other.
    public var crossNetworkPairs: [(LabVM, LabVM)] {
        var pairs: [(LabVM, LabVM)] = []
        for a in vms { for b in vms where a.network != b.network { pairs.append((a, b)) } }
        return pairs
    }
}

/// One machine of the lab: a network namespace with one underlay link into the fabric.
public struct LabHost: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable { case hna, kernelVXLAN = "kernel-vxlan" }

    /// The kernel VXLAN host's number in the address plan, above every HNA host.
    public static let kernelNumber = 100

    public var number: Int
    public var kind: Kind

    /// "h1", "h2", … for HNA hosts; "k1" for the kernel VXLAN host. Also the HNA's `hna.name`.
    public var name: String { kind == .hna ? "h\(number)" : "k1" }
    public var namespace: String { LabTopology.prefix + name }
    /// The fabric bridge's port towards this host (in the fabric namespace).
    public var fabricPort: String { name }
    /// Underlay address 10.77.0.<number>/24.
    public var underlay: IPv4Address { IPv4Address(10, 77, 0, UInt8(number)) }
    /// The daemon's control socket (the daemon's default path for `hna.name`, spelled out in the config).
    public var controlSocket: String { "\(LabTopology.stateDirectory)/\(name).sock" }
    public var configPath: String { "\(LabTopology.stateDirectory)/\(name).yaml" }
    public var logPath: String { "\(LabTopology.stateDirectory)/\(name).log" }
    public var description: String { name }
}

/// A virtual network: one routing instance on every HNA, one VXLAN VNI / MPLS label on the wire.
public struct LabNetwork: Sendable, Hashable, CustomStringConvertible {
    /// 1-based; derives the VRF, VNI, label and subnet.
    public var number: Int
    public var name: String
    /// As docs/config.md spells it: vxlan | mpls-udp | mpls-gre.
    public var encapsulation: String

    public var vrf: Int { number }
    public var vni: Int { 5000 + number }
    public var label: Int { 1000 + number }
    /// 10.(100+n).0.0/16: VM addresses carry the host and VM number in the low octets.
    public var subnetPrefix: IPv4Address { IPv4Address(10, UInt8(100 + number), 0, 0) }
    public static let subnetPrefixLength = 16
    public var subnet: String { "\(subnetPrefix)/\(LabNetwork.subnetPrefixLength)" }
    /// The address the HNA's router answers ARP for: the VMs' default gateway.
    public var gateway: IPv4Address { IPv4Address(10, UInt8(100 + number), 255, 254) }
    public var description: String { name }
}

/// A VM: a network namespace holding one interface (the HNA's TAP port, or a veth for the kernel host).
public struct LabVM: Sendable, Hashable, CustomStringConvertible {
    public var host: LabHost
    /// 1-based on its host.
    public var number: Int
    public var network: LabNetwork

    /// The port name in the host: the TAP device's name (`ports[].name`) and the VM's interface name.
    public var port: String { "vm\(number)" }
    /// "h1-vm1": the VM's name in reports.
    public var name: String { "\(host.name)-\(port)" }
    public var namespace: String { LabTopology.prefix + name }
    /// 02:00:00:<host>:<vm>:00 — locally administered, unique per VM.
    public var mac: MACAddress { MACAddress(0x02, 0, 0, UInt8(host.number), UInt8(number), 0) }
    /// 10.(100+network).<host>.<vm>
    public var ip: IPv4Address {
        IPv4Address(10, UInt8(100 + network.number), UInt8(host.number), UInt8(number))
    }
    public var description: String { name }
}

/// What can go wrong in the lab, said in one line an operator can act on.
public enum LabError: Error, CustomStringConvertible, Sendable {
    case invalidTopology(String)
    case missingPrerequisites([Prerequisite])
    case linux(String)
    case daemon(host: String, reason: String)
    case timeout(String)
    case interrupted
    case notUp

    public var description: String {
        switch self {
        case let .invalidTopology(s): return s
        case let .missingPrerequisites(p): return Prerequisite.message(p)
        case let .linux(s): return s
        case let .daemon(host, reason): return "HNA on \(host): \(reason)"
        case let .timeout(s): return "timed out: \(s)"
        case .interrupted: return "interrupted"
        case .notUp: return "the lab is not up (hna lab up builds it)"
        }
    }
}
