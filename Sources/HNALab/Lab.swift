import Foundation
import HNALinux

/// Builds the lab's namespaces and links, starts a dataplane per host, wires the VMs, and takes it all
/// down again.
///
/// ```
///                       hna-lab-fabric: bridge "fabric" (tc tbf on a port = a slow receiver)
///              port h1 /        port h2 |          port h3 \          port k1 \
///   hna-lab-h1 ul0 10.77.0.1   hna-lab-h2 ...     hna-lab-h3 ...     hna-lab-k1 ul0 10.77.0.100
///     HNA daemon (TAP vm1, vm2)                                        kernel VXLAN (vx-blue, br-blue)
///      |            |                                                   |
///   hna-lab-h1-vm1  hna-lab-h1-vm2                                    hna-lab-k1-vm1
///   blue 10.101.1.1 red 10.102.1.2                                    blue 10.101.100.1
/// ```
public final class Lab {
    public let topology: LabTopology
    /// The dataplane of the HNA hosts (the daemon, or kernel VXLAN as a stand-in).
    public let dataplane: HostDataplane
    /// The kernel VXLAN host's dataplane (and every host's, when it is also `dataplane`).
    public let kernel: KernelVXLANDataplane
    public let setup = LinkSetup()

    public init(topology: LabTopology, dataplane: HostDataplane?) {
        self.topology = topology
        let standIn = dataplane == nil
        kernel = KernelVXLANDataplane(kernelHosts: { standIn || $0.kind == .kernelVXLAN })
        self.dataplane = dataplane ?? kernel
    }

    public func dataplane(of host: LabHost) -> HostDataplane {
        host.kind == .hna ? dataplane : kernel
    }

    /// Namespaces of an earlier lab that is still up, or left behind by a crashed one.
    public static func leftovers() -> [String] {
        ((try? Namespace.list()) ?? []).filter { $0.hasPrefix(LabTopology.prefix) }
    }

    /// Builds everything and starts every host's dataplane. On failure the caller's `down()` removes
    /// what was made.
    public func up() throws(LabError) {
        let missing = Prerequisite.missing()
        guard missing.isEmpty else { throw .missingPrerequisites(missing) }
        let left = Lab.leftovers()
        guard left.isEmpty else {
            throw .linux("a lab is already up or was left behind (\(left.joined(separator: ", "))): run `hna lab down` first")
        }
        do {
            try FileManager.default.createDirectory(atPath: LabTopology.stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw .linux("cannot create \(LabTopology.stateDirectory): \(error)")
        }
        try writeState()
        try buildFabric()
        for host in topology.allHosts {
            try LabInterrupt.check()
            try dataplane(of: host).start(host, topology: topology, setup: setup)
        }
        for vm in topology.allVMs {
            try LabInterrupt.check()
            try attach(vm)
        }
    }

    /// The fabric bridge, every host namespace with its underlay link, every VM namespace.
    func buildFabric() throws(LabError) {
        let fabric = Namespace(topology.fabricNamespace)
        try linux { () throws(LinuxError) in
            try setup.createNamespace(fabric.name)
            try setup.createBridge(LabTopology.fabricBridge, in: fabric)
            try setup.setMTU(topology.underlayMTU, link: LabTopology.fabricBridge, in: fabric)
            for host in topology.allHosts {
                let ns = try setup.createNamespace(host.namespace)
                try setup.createVethPair(LabTopology.underlayLink, in: ns, peer: host.fabricPort, peerIn: fabric,
                                         mtu: topology.underlayMTU)
                try setup.attach(host.fabricPort, toBridge: LabTopology.fabricBridge, in: fabric)
                try setup.addAddress("\(host.underlay)/\(LabTopology.underlayPrefixLength)",
                                     to: LabTopology.underlayLink, in: ns)
            }
            for vm in topology.allVMs { try setup.createNamespace(vm.namespace) }
        }
    }

    /// Moves `vm`'s port from its host into the VM's namespace and configures it as a guest would: its
    /// MAC and address, a default route via the network's gateway. The kernel host's VM also gets static
    /// neighbour entries for the other VMs of its network, because HNAs answer ARP only from their own
    /// VMs, never from the fabric.
    public func attach(_ vm: LabVM) throws(LabError) {
        let host = Namespace(vm.host.namespace), guest = Namespace(vm.namespace)
        try linux { () throws(LinuxError) in
            try setup.moveLink(vm.port, from: host, to: guest)
            try setup.disableIPv6(vm.port, in: guest)
            try setup.setMAC(vm.mac.description, link: vm.port, in: guest)
            try setup.setMTU(topology.vmMTU, link: vm.port, in: guest)
            try setup.addAddress("\(vm.ip)/\(LabNetwork.subnetPrefixLength)", to: vm.port, in: guest)
            try setup.setUp(vm.port, in: guest)
            try setup.addRoute("default", via: vm.network.gateway.description, in: guest)
            if vm.host.kind == .kernelVXLAN, dataplane !== kernel {
                // A veth hands its peer TCP/UDP packets whose checksum is still to be filled in; through
                // the kernel's VXLAN device they would reach the HNA, and then its VM, unfinished. A real
                // NIC would finish them; here the guest must.
                try LinkSetup.exec(guest, "ethtool", ["-K", vm.port, "tx", "off"])
            }
            if vm.host.kind == .kernelVXLAN {
                for other in topology.vms(in: vm.network) where other != vm {
                    try LinkSetup.ip(guest, ["neigh", "replace", other.ip.description, "lladdr",
                                             other.mac.description, "dev", vm.port, "nud", "permanent"])
                }
            }
        }
    }

    /// Restarts the HNA hosts' dataplane (with a new configuration, say) and re-attaches their VMs: a
    /// daemon's TAP ports go away with it.
    public func restartHosts() throws(LabError) {
        for host in topology.hosts { dataplane.stop(host) }
        for host in topology.hosts {
            try LabInterrupt.check()
            if dataplane !== kernel {
                try dataplane.start(host, topology: topology, setup: setup)
                for vm in topology.vms(on: host) { try attach(vm) }
            }
        }
    }

    /// Stops the dataplanes and removes everything this lab made, then anything else by the name prefix.
    /// Returns what could not be removed (empty: nothing is left).
    @discardableResult
    public func down() -> [String] {
        for host in topology.allHosts { dataplane(of: host).stop(host) }
        var problems = setup.teardown().map(\.description)
        problems += Lab.sweep()
        return problems
    }

    /// Removes every namespace whose name starts with `LabTopology.prefix` — stopping the processes inside
    /// first (daemons, iperf3 servers) — and the state directory. Works without any record of the run
    /// that made them, so it also cleans up after a crash.
    @discardableResult
    public static func sweep() -> [String] {
        var problems: [String] = []
        let names = leftovers()
        let pids = names.flatMap { LabProcesses.pids(in: $0) }.filter { $0 != getpid() }
        for pid in pids { kill(pid, SIGTERM) }
        let end = Date().addingTimeInterval(3)
        while Date() < end, pids.contains(where: { kill($0, 0) == 0 && !isZombie($0) }) { usleep(20_000) }
        for pid in pids where kill(pid, 0) == 0 && !isZombie(pid) { kill(pid, SIGKILL) }
        // VMs first, hosts next, the fabric last: the reverse of the build-up.
        let ordered = names.sorted { depth($0) > depth($1) }
        for ns in ordered {
            let r = LabProcesses.run(["ip", "netns", "del", ns], timeout: 10)
            if !r.succeeded, Namespace(ns).exists { problems.append("ip netns del \(ns): \(r.stderr)") }
        }
        try? FileManager.default.removeItem(atPath: LabTopology.stateDirectory)
        return problems
    }

    private static func depth(_ ns: String) -> Int {
        ns == LabTopology.prefix + "fabric" ? 0 : ns.split(separator: "-").count
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    // MARK: state kept for `hna lab status` and `down`

    private var statePath: String { "\(LabTopology.stateDirectory)/lab.json" }

    func writeState() throws(LabError) {
        let state: [String: Any] = ["hosts": topology.hosts.count, "vmsPerHost": topology.vms.count / topology.hosts.count,
                                    "dataplane": dataplane.kind]
        guard let data = try? JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]),
              FileManager.default.createFile(atPath: statePath, contents: data)
        else { throw .linux("cannot write \(statePath)") }
    }

    /// The lab described by the state file of a lab that is up.
    public static func readState() -> (hosts: Int, vmsPerHost: Int, dataplane: String)? {
        guard let data = FileManager.default.contents(atPath: "\(LabTopology.stateDirectory)/lab.json"),
              let d = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let h = d["hosts"] as? Int, let v = d["vmsPerHost"] as? Int, let k = d["dataplane"] as? String
        else { return nil }
        return (h, v, k)
    }
}

/// Ctrl-C and SIGTERM during a lab run: the first one stops the running tools and makes the next lab
/// step throw `.interrupted`, so the run unwinds through its teardown; a second one (or a run that does
/// not unwind within a few seconds) sweeps the lab away and exits at once.
public enum LabInterrupt {
    private static let flag = Flag()

    /// Blocks SIGINT/SIGTERM in this thread (call it first thing on the main thread, before any other
    /// thread starts, so every thread inherits the mask) and waits for them on a thread of its own.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let mask = set
        Thread {
            var signals = 0
            while true {
                var s = mask
                var sig: Int32 = 0
                guard sigwait(&s, &sig) == 0 else { continue }
                signals += 1
                if signals == 1 {
                    FileHandle.standardError.write(Data("hna lab: interrupted, tearing down\n".utf8))
                    flag.set()
                    LabProcesses.terminateAll()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 15) { hardExit() }
                } else {
                    hardExit()
                }
            }
        }.start()
    }

    private static func hardExit() {
        LabProcesses.terminateAll()
        Lab.sweep()
        exit(130)
    }

    public static var requested: Bool { flag.isSet }

    /// Throws `.interrupted` once a signal arrived.
    public static func check() throws(LabError) {
        if flag.isSet { throw .interrupted }
    }
}
