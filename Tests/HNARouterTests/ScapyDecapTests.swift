import Foundation
import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

/// Decapsulation of tunnel packets crafted by scapy, an independent implementation of the formats.
/// Skipped (with the reason shown) when python3 with scapy is missing, unless `CI` is set: then the
/// test runs and fails on the missing tool.
@Suite struct ScapyDecapTests {
    static let script = #"""
from scapy.all import Ether, IP, IPv6, UDP, TCP, GRE, VXLAN, raw
from scapy.contrib.mpls import MPLS
inner4 = IP(src="10.0.1.5", dst="10.0.0.1", ttl=30) / UDP(sport=5353, dport=8080) / (b"x" * 30)
inner6 = IPv6(src="fd00:1::5", dst="fd00::1", hlim=30) / TCP(sport=443, dport=50000, flags="SA") / (b"y" * 10)
gw = "00:00:5e:00:01:00"
outer4 = IP(src="192.168.0.2", dst="192.168.0.1")
outer6 = IPv6(src="2001:db8::2", dst="2001:db8::1")
pkts = [
    outer4 / UDP(sport=50123, dport=4789) / VXLAN(vni=4001) / Ether(src="02:00:00:00:01:05", dst=gw) / inner4,
    outer6 / UDP(sport=50124, dport=4789) / VXLAN(vni=4001) / Ether(src="02:00:00:00:01:05", dst=gw) / inner6,
    outer4 / UDP(sport=50125, dport=6635) / MPLS(label=16, s=1, ttl=64) / inner4,
    outer4 / GRE(proto=0x8847) / MPLS(label=16, s=1, ttl=64) / inner4,
    outer6 / GRE(proto=0x8847) / MPLS(label=17, s=1, ttl=64) / inner6,
    outer4 / UDP(sport=50126, dport=6635) / MPLS(label=99, s=1, ttl=64) / inner4,
    outer4 / UDP(sport=50127, dport=4789) / VXLAN(vni=4002) / Ether(src="02:00:00:00:01:05", dst=gw) / inner4,
]
for p in pkts:
    print(raw(p).hex())
print("INNER4", raw(inner4).hex())
print("INNER6", raw(inner6).hex())
"""#

    static func hex(_ s: Substring) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i ..< j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test(.enabled(if: ExternalTool.scapy || ExternalTool.mustRun, "python3 with scapy is not installed"))
    func decapsulatesScapyCraftedTunnelPackets() throws {
        let output = try ExternalTool.check("python3", ["-c", Self.script]).text
        let lines = output.split(separator: "\n")
        let packets = lines.filter { !$0.hasPrefix("INNER") }.map { Self.hex($0) }
        let inner4 = Self.hex(try #require(lines.first { $0.hasPrefix("INNER4 ") }).dropFirst(7))
        let inner6 = Self.hex(try #require(lines.first { $0.hasPrefix("INNER6 ") }).dropFirst(7))
        #expect(packets.count == 7)

        var lab = Lab()
        lab.router.addRoute(1, IPv6Prefix(Lab.vm1v6, 128), nextHop: lab.router.addNextHop(.interface(1)))
        var out = RouterOutput()
        lab.router.processFromFabric(packets.map { Build.buffer($0) }, now: 1, output: &out)
        lab.router.runSlowPath(now: 1, output: &out)

        // Five reach VM 1 (VRF 1 via VNI 4001 or label 16, or port 1 straight via label 17); label 99
        // maps to nothing; VNI 4002 is VRF 2, where 10.0.0.1 is port 3.
        #expect(out.dropped.map(\.reason) == [.unknownLabel])
        let byPort = Dictionary(grouping: out.toInterfaces, by: \.interface)
        #expect(byPort[1]?.count == 5 && byPort[3]?.count == 1)
        for d in out.toInterfaces {
            let bytes = d.buffer.array
            let eth = try bytes.withUnsafeBytes { try EthernetHeader(parsing: $0) }
            #expect(eth.source == lab.gateway)
            #expect(eth.destination == Lab.mac1)
            let ip = Array(bytes.dropFirst(14))
            // The inner packet arrives as scapy built it (the receiving side does not decrement).
            #expect(ip == (eth.etherType == .ipv6 ? inner6 : inner4))
        }
    }
}
