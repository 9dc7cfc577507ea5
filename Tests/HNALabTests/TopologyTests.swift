import HNAWire
import Testing
@testable import HNALab

@Suite("Lab topology and address plan")
struct TopologyTests {
    /// Every lab size the CLI accepts: names, addresses and MACs are unique, interface names fit the
    /// kernel's 15 characters, every namespace carries the prefix `hna lab down` sweeps by.
    @Test(arguments: [(2, 1), (3, 2), (4, 3), (16, 8)])
    func namesAndAddressesAreUnique(hosts: Int, vms: Int) throws {
        let t = try LabTopology(hosts: hosts, vmsPerHost: vms)
        #expect(t.hosts.count == hosts)
        #expect(t.vms.count == hosts * vms)
        let all = t.allVMs
        #expect(Set(all.map(\.ip)).count == all.count)
        #expect(Set(all.map(\.mac)).count == all.count)
        #expect(Set(all.map(\.namespace)).count == all.count)
        #expect(Set(t.allHosts.map(\.underlay)).count == t.allHosts.count)
        let namespaces = all.map(\.namespace) + t.allHosts.map(\.namespace) + [t.fabricNamespace]
        #expect(Set(namespaces).count == namespaces.count)
        #expect(namespaces.allSatisfy { $0.hasPrefix(LabTopology.prefix) })
        for vm in all {
            #expect(vm.port.utf8.count <= 15)
            #expect(!vm.mac.isMulticast && vm.mac.rawValue & 0x0200_0000_0000 != 0, "locally administered unicast")
            // Inside its network's subnet, never the gateway.
            let mask = UInt32.max << (32 - LabNetwork.subnetPrefixLength)
            #expect(vm.ip.rawValue & mask == vm.network.subnetPrefix.rawValue)
            #expect(vm.ip != vm.network.gateway)
            #expect(vm.network.gateway.rawValue & mask == vm.network.subnetPrefix.rawValue)
        }
        for h in t.allHosts { #expect(h.fabricPort.utf8.count <= 15) }
    }

    /// VM 1 of every host is blue, VM 2 red, so both networks span every host and the pair lists cover
    /// reachability across hosts and isolation between networks.
    @Test func networksAlternateAndPairsCoverTheChecks() throws {
        let t = try LabTopology()
        #expect(t.hosts.count == 3 && t.vms.count == 6)
        for h in t.hosts {
            #expect(t.vms(on: h).map(\.network.name) == ["blue", "red"])
        }
        #expect(t.kernelVM.network.encapsulation == "vxlan")
        // 3 VMs per network, ordered pairs on different hosts: 2 networks × 3 × 2.
        #expect(t.sameNetworkPairs.count == 12)
        #expect(t.sameNetworkPairs.allSatisfy { $0.0.host != $0.1.host && $0.0.network == $0.1.network })
        // Every blue VM with every red VM, both directions: 3 × 3 × 2.
        #expect(t.crossNetworkPairs.count == 18)
        #expect(t.crossNetworkPairs.allSatisfy { $0.0.network != $0.1.network })
        #expect(Set(t.networks.map(\.vni)).count == t.networks.count)
        #expect(Set(t.networks.map(\.label)).count == t.networks.count)
        #expect(t.networks.allSatisfy { $0.label >= 16 && $0.label < 1 << 20 && $0.vni < 1 << 24 })
    }

    @Test func refusesSizesOutsideTheAddressPlan() {
        #expect(throws: LabError.self) { try LabTopology(hosts: 1) }
        #expect(throws: LabError.self) { try LabTopology(hosts: LabTopology.hostRange.upperBound + 1) }
        #expect(throws: LabError.self) { try LabTopology(vmsPerHost: 0) }
        #expect(throws: LabError.self) { try LabTopology(vmsPerHost: LabTopology.vmRange.upperBound + 1) }
    }

    @Test func parsesPingSummaries() {
        let out = """
        --- 10.101.2.1 ping statistics ---
        4 packets transmitted, 3 received, 25% packet loss, time 603ms
        rtt min/avg/max/mdev = 0.044/0.199/0.394/0.130 ms
        """
        let p = PingResult.parse(out)
        #expect(p.sent == 4 && p.received == 3)
        #expect(p.rtt?.0 == 0.044 && p.rtt?.1 == 0.199 && p.rtt?.2 == 0.394)
        let none = PingResult.parse("2 packets transmitted, 0 received, 100% packet loss, time 1001ms\n")
        #expect(none.sent == 2 && none.received == 0 && none.rtt == nil)
    }

    @Test func reportFailsWhenAnyCheckFails() throws {
        var r = LabReport(topology: try LabTopology(), dataplane: "hna")
        #expect(!r.passed, "no checks ran")
        r.checks = [LabCheck(name: "a", passed: true, detail: ""), LabCheck(name: "b", passed: nil, detail: "")]
        #expect(r.passed)
        #expect(r.json["passed"] == .bool(true))
        r.checks.append(LabCheck(name: "c", passed: false, detail: "x"))
        #expect(!r.passed)
        #expect(r.json["passed"] == .bool(false))
        #expect(r.text.contains("FAIL  c"))
        r.checks.removeLast()
        r.error = "boom"
        #expect(!r.passed)
    }
}
