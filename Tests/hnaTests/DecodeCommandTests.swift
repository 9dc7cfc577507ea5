import Foundation
import HNATestSupport
import HNAWire
import Testing

@Suite struct DecodeCommandTests {
    func capture(_ frames: [[UInt8]]) throws -> URL {
        var w = PcapWriter()
        for (i, f) in frames.enumerated() { w.write(f, timestamp: UInt64(i)) }
        let url = try ExternalTool.temporaryDirectory().appendingPathComponent("t.pcap")
        try Data(w.bytes).write(to: url)
        return url
    }

    var vxlanFrame: [UInt8] {
        let inner = EthernetHeader(destination: .broadcast, source: MACAddress(rawValue: 1), etherType: .arp).emitted()
            + ARPHeader(operation: .request, senderMAC: MACAddress(rawValue: 1), senderIP: IPv4Address(10, 0, 0, 1),
                        targetMAC: .zero, targetIP: IPv4Address(10, 0, 0, 2)).emitted()
        let vx = VXLANHeader(vni: 77).emitted() + inner
        let udp = UDPHeader(sourcePort: 50000, destinationPort: WellKnownPort.vxlan, payloadLength: vx.count).emitted() + vx
        let ip = IPv4Header(source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(192, 0, 2, 2), protocol: .udp,
                            payloadLength: udp.count).emitted() + udp
        return EthernetHeader(destination: MACAddress(rawValue: 2), source: MACAddress(rawValue: 3), etherType: .ipv4).emitted() + ip
    }

    @Test func jsonIsOneObjectPerPacketWithTheContractKeys() throws {
        let good = vxlanFrame
        let cut = Array(good.prefix(40))
        let url = try capture([good, cut])
        let out = try HNACommand.run(["decode", url.path, "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.text.split(separator: "\n")
        try #require(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["index"] as? Int == 0)
        #expect(first["error"] is NSNull)
        let layers = try #require(first["layers"] as? [[String: Any]])
        #expect(layers.map { $0["type"] as? String } == ["ethernet", "ipv4", "udp", "vxlan", "ethernet", "arp"])
        #expect(layers[0]["src"] as? String == "00:00:00:00:00:03")
        #expect(layers[0]["etherType"] as? Int == 0x0800)
        #expect(layers[3]["vni"] as? Int == 77)
        #expect(layers[5]["targetIP"] as? String == "10.0.0.2")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["index"] as? Int == 1)
        #expect((second["error"] as? String)?.contains("truncated") == true)
        #expect((second["layers"] as? [[String: Any]])?.first?["type"] as? String == "ethernet")
    }

    @Test func textShowsEveryLayer() throws {
        let url = try capture([vxlanFrame])
        let out = try HNACommand.run(["decode", url.path])
        #expect(out.status == 0)
        for word in ["ethernet", "ipv4", "udp", "vxlan", "vni=77", "arp"] { #expect(out.text.contains(word), "\(word)") }
    }

    @Test func notACaptureIsAOneLineErrorWithStatus2() throws {
        let url = try ExternalTool.temporaryDirectory().appendingPathComponent("junk")
        try Data("hello".utf8).write(to: url)
        let out = try HNACommand.run(["decode", url.path])
        #expect(out.status == 2)
        #expect(out.stderr.contains("not a pcap"))
        let missing = try HNACommand.run(["decode", "/nonexistent/x.pcap"])
        #expect(missing.status != 0)
        #expect(!missing.stderr.isEmpty)
    }
}
