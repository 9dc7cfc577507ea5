import Foundation
import HNATestSupport
import Testing
@testable import HNAWire

/// Packets built by HNA's emitters, every encapsulation with and without the HNA header, dissected by
/// tshark (with HNA's Lua dissector from contrib/wireshark) into the fields they were built with.
@Suite struct TsharkCrossCheckTests {
    static let mac1 = MACAddress("02:00:00:00:00:01")!
    static let mac2 = MACAddress("02:00:00:00:00:02")!
    static let outer4 = (IPv4Address("192.0.2.1")!, IPv4Address("192.0.2.2")!)
    static let outer6 = (IPv6Address("2001:db8::a")!, IPv6Address("2001:db8::b")!)
    static let inner4 = (IPv4Address("10.0.0.1")!, IPv4Address("10.0.0.2")!)
    static let inner6 = (IPv6Address("fd00::1")!, IPv6Address("fd00::2")!)

    static func eth(_ type: EtherType) -> Layer {
        .ethernet(EthernetHeader(destination: mac2, source: mac1, etherType: type))
    }

    /// The packets, each with what tshark must report (field name → every occurrence, outermost first).
    static func cases() -> [(name: String, bytes: [UInt8], expect: [String: [String]])] {
        let payload = Layer.payload(Array("overlay payload".utf8))
        let inner4Frame: [Layer] = [eth(.ipv4), .ipv4(source: inner4.0, destination: inner4.1, ttl: 63),
                                    .udp(source: 40000, destination: 40001), payload]
        let hna = HNAHeader(nextProtocol: .vxlan, priority: 1, timestamp: 0xDEAD_BEEF,
                            queueLengths: PriorityVector([1, 2, 3, 4]), grantedRates: PriorityVector([100, 200, 300, 400]),
                            sequence: 4660)
        var hnaMPLS = hna
        hnaMPLS.nextProtocol = .mpls
        hnaMPLS.sequence = 65535
        hnaMPLS.acks = PriorityVector([20, 21, 22, 23])
        hnaMPLS.nacks = [HNANack(priority: 3, first: 65530, count: 8)]
        let heartbeat = HNAHeader(nextProtocol: .none, timestamp: 42, queueLengths: PriorityVector([10, 20, 30, 40]),
                                  grantedRates: PriorityVector([50, 60, 70, 80]))
        let label = MPLSLabelStackEntry(label: MPLSLabel(rawValue: 214), trafficClass: 5, bottomOfStack: true, ttl: 64)
        let twoLabels = [MPLSLabelStackEntry(label: MPLSLabel(rawValue: 1000), trafficClass: 1, bottomOfStack: false, ttl: 9),
                         MPLSLabelStackEntry(label: MPLSLabel(rawValue: 1_048_575), bottomOfStack: true, ttl: 1)]
        let outerV4: Layer = .ipv4(source: outer4.0, destination: outer4.1)
        let o4 = ["192.0.2.1", "10.0.0.1"]

        return [
            ("VXLAN", compose([eth(.ipv4), outerV4, .udp(source: 49152, destination: 4789), .vxlan(5000)] + inner4Frame),
             ["ip.src": o4, "ip.checksum.status": ["1", "1"], "udp.checksum.status": ["1", "1"], "udp.dstport": ["4789", "40001"], "udp.srcport": ["49152", "40000"], "vxlan.vni": ["5000"],
              "ip.ttl": ["64", "63"]]),
            ("VXLAN with HNA", compose([eth(.ipv4), outerV4, .udp(source: 50000, destination: 6650), .hna(hna), .vxlan(0xFFFFFF)] + inner4Frame),
             ["ip.src": o4, "vxlan.vni": ["16777215"], "hna.sequence": ["4660"], "hna.timestamp": ["3735928559"],
              "hna.queue_length": ["1", "2", "3", "4"], "hna.rate": ["100", "200", "300", "400"], "hna.priority": ["1"],
              "hna.priorities": ["4"], "hna.next": ["1"]]),
            ("MPLS-over-UDP", compose([eth(.ipv4), outerV4, .udp(source: 60000, destination: 6635), .mpls([label]),
                                       .ipv4(source: inner4.0, destination: inner4.1, ttl: 63), .udp(source: 40000, destination: 40001), payload]),
             ["ip.src": o4, "mpls.label": ["214"], "mpls.exp": ["5"], "mpls.bottom": ["1"], "mpls.ttl": ["64"],
              "udp.dstport": ["6635", "40001"]]),
            ("MPLS-over-UDP with HNA, IPv6 inside", compose([eth(.ipv4), outerV4, .udp(source: 60001, destination: 6650), .hna(hnaMPLS),
                                                             .mpls(twoLabels), .ipv6(source: inner6.0, destination: inner6.1),
                                                             .udp(source: 40000, destination: 40001), payload]),
             ["ipv6.src": ["fd00::1"], "mpls.label": ["1000", "1048575"], "mpls.bottom": ["0", "1"], "mpls.ttl": ["9", "1"],
              "hna.sequence": ["65535"], "hna.ack": ["20", "21", "22", "23"], "hna.nack.priority": ["3"],
              "hna.nack.first": ["65530"], "hna.nack.count": ["8"], "hna.next": ["2"]]),
            ("MPLS-over-GRE", compose([eth(.ipv4), outerV4, .gre(GREHeader(protocolType: .mplsUnicast, key: 0x1234_5678)), .mpls([label]),
                                       .ipv4(source: inner4.0, destination: inner4.1), .udp(source: 40000, destination: 40001), payload]),
             ["ip.src": o4, "gre.proto": ["0x8847"], "gre.key": ["0x12345678"], "mpls.label": ["214"], "ip.proto": ["47", "17"]]),
            ("MPLS-over-GRE with HNA", compose([eth(.ipv4), outerV4, .gre(GREHeader(protocolType: .hna)), .hna(hnaMPLS), .mpls([label]),
                                                .ipv4(source: inner4.0, destination: inner4.1), .udp(source: 40000, destination: 40001), payload]),
             ["ip.src": o4, "gre.proto": ["0x88b5"], "hna.sequence": ["65535"], "mpls.label": ["214"], "udp.dstport": ["40001"]]),
            ("GRE with checksum, key, sequence and Ethernet inside", compose([eth(.ipv4), outerV4,
                .gre(GREHeader(protocolType: .transparentEthernetBridging, checksumPresent: true, key: 7, sequence: 99))] + inner4Frame),
             ["gre.key": ["0x00000007"], "gre.sequence_number": ["99"], "gre.flags.checksum": ["1"], "gre.checksum.status": ["1"],
              "ip.src": o4]),
            ("heartbeat", compose([eth(.ipv4), outerV4, .udp(source: 6650, destination: 6650), .hna(heartbeat)]),
             ["frame.len": ["64"], "hna.next": ["0"], "hna.flags.data": ["0"], "hna.queue_length": ["10", "20", "30", "40"],
              "hna.rate": ["50", "60", "70", "80"], "hna.timestamp": ["42"]]),
            ("VXLAN with HNA over IPv6", compose([eth(.ipv6), .ipv6(source: outer6.0, destination: outer6.1),
                                                  .udp(source: 55555, destination: 6650), .hna(hna), .vxlan(7)] + inner4Frame),
             ["ipv6.src": ["2001:db8::a"], "ip.src": ["10.0.0.1"], "vxlan.vni": ["7"], "hna.sequence": ["4660"],
              "udp.checksum.status": ["1", "1"]]),
        ]
    }

    @Test(.enabled(if: ExternalTool.tshark || ExternalTool.mustRun, "needs tshark (scripts/test installs it)"))
    func tsharkReadsEveryEncapsulationHNAEmits() throws {
        let cases = Self.cases()
        var writer = PcapWriter()
        for (i, c) in cases.enumerated() { writer.write(c.bytes, timestamp: UInt64(i) * 1000) }
        let dir = try ExternalTool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pcap = dir.appendingPathComponent("hna.pcap")
        try Data(writer.bytes).write(to: pcap)

        let fields = Array(Set(cases.flatMap { $0.expect.keys })).sorted() + ["_ws.malformed", "_ws.expert.severity"]
        let lua = repositoryRoot.appendingPathComponent("contrib/wireshark/hna.lua").path
        var args = ["-X", "lua_script:\(lua)", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                    "-r", pcap.path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=\t"]
        for f in fields { args += ["-e", f] }
        let out = try ExternalTool.check("tshark", args)
        let rows = out.text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        try #require(rows.count == cases.count, "tshark printed \(rows.count) rows: \(out.text) \(out.stderr)")
        for (c, row) in zip(cases, rows) {
            let cols = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            try #require(cols.count == fields.count)
            let got = Dictionary(uniqueKeysWithValues: zip(fields, cols.map { $0.isEmpty ? [] : $0.split(separator: ",").map(String.init) }))
            for (field, want) in c.expect {
                #expect(got[field]!.map(normal) == want.map(normal), "\(c.name): \(field)")
            }
            #expect(got["_ws.malformed"]!.isEmpty, "\(c.name): tshark calls it malformed")
        }
        // Our own dissector agrees on the layer sequence tshark followed.
        for c in cases {
            let d = c.bytes.withUnsafeBytes { Dissector().decode($0) }
            #expect(d.error == nil, "\(c.name): \(String(describing: d.error))")
        }
    }
}

/// tshark prints some integers in hex; compare numbers as numbers and everything else as text.
private func normal(_ s: String) -> String {
    if s.hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return String(v) }
    return s.lowercased()
}
