import Foundation
import HNALinux
import HNATestSupport
import Testing
@testable import HNALab

/// Root and `ip netns` are needed; under CI these run regardless, so a CI machine without them fails
/// instead of passing by skipping.
let kernelUsable = (Namespace.supported && Prerequisite.missing().isEmpty) || ExternalTool.mustRun

/// The lab's plumbing with kernel VXLAN on every host (no daemon): the namespaces come up, VMs of one
/// network reach each other across hosts and the kernel VXLAN host, VMs of different networks do not,
/// and teardown leaves nothing behind.
@Suite("Lab build-up and teardown (kernel VXLAN stand-in)", .serialized,
       .enabled(if: kernelUsable, "needs root, ip netns, ping (set CI to force)"))
struct KernelLabTests {
    @Test func buildsPingsAndTearsDown() throws {
        try #require(Lab.leftovers().isEmpty, "a lab is up on this machine; `hna lab down` first")
        let t = try LabTopology(hosts: 2, vmsPerHost: 2)
        let lab = Lab(topology: t, dataplane: nil)
        do {
            defer {
                #expect(lab.down().isEmpty)
                #expect(Lab.leftovers().isEmpty, "namespaces left behind")
                #expect(!FileManager.default.fileExists(atPath: LabTopology.stateDirectory))
            }
            try lab.up()
            #expect(Set(Lab.leftovers()) == Set(t.allVMs.map(\.namespace) + t.allHosts.map(\.namespace) + [t.fabricNamespace]))
            // The VM interface is configured as the topology says.
            let vm = t.vms[0]
            let link = try LinkSetup.ip(Namespace(vm.namespace), ["-o", "link", "show", "dev", vm.port])
            #expect(link.contains(vm.mac.description))
            let addr = try LinkSetup.ip(Namespace(vm.namespace), ["-o", "-4", "addr", "show", "dev", vm.port])
            #expect(addr.contains("\(vm.ip)/\(LabNetwork.subnetPrefixLength)"))

            let same = t.sameNetworkPairs + [(t.kernelVM, t.vms[0]), (t.vms[0], t.kernelVM)]
            for p in Probe.ping(pairs: same, count: 2, interval: 0.1, wait: 2) {
                #expect(p.received > 0, "\(p.from) → \(p.to) unanswered")
            }
            for p in Probe.ping(pairs: t.crossNetworkPairs, count: 1, wait: 1) {
                #expect(p.sent == 1 && p.received == 0, "\(p.from) → \(p.to) crossed networks")
            }
        }
    }

    /// `hna lab down` finds a lab by its name prefix alone, as after a crash: nothing recorded in this
    /// process is needed.
    @Test func sweepRemovesLeftoversByPrefix() throws {
        try #require(Lab.leftovers().isEmpty, "a lab is up on this machine; `hna lab down` first")
        let setup = LinkSetup()
        let a = try setup.createNamespace(LabTopology.prefix + "h1")
        let b = try setup.createNamespace(LabTopology.prefix + "h1-vm1")
        try setup.createVethPair("x0", in: a, peer: "x1", peerIn: b)
        let sleeper = try LabProcesses.start(in: a.name, ["sleep", "30"])
        #expect(sleeper.isRunning)
        #expect(Lab.sweep().isEmpty)
        #expect(Lab.leftovers().isEmpty)
        #expect(!sleeper.isRunning, "processes inside the namespaces are stopped")
    }
}
