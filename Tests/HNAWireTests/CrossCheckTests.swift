import Foundation
import HNATestSupport
import Testing
@testable import HNAWire

/// HNA's decoder against independent implementations: packets crafted by scapy must decode to scapy's
/// own field values.
@Suite struct ScapyCrossCheckTests {
    @Test(.enabled(if: ExternalTool.scapy || ExternalTool.mustRun, "needs python3 with scapy (scripts/test installs it)"))
    func packetsCraftedByScapyDecodeToScapysValues() throws {
        let dir = try ExternalTool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pcap = dir.appendingPathComponent("scapy.pcap").path
        let script = repositoryRoot.appendingPathComponent("Tests/HNAWireTests/Fixtures/scapy_packets.py").path
        let out = try ExternalTool.check("python3", [script, pcap])
        let expected = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [[String: Any]])
        let (packets, error) = CaptureReader.read([UInt8](try Data(contentsOf: URL(fileURLWithPath: pcap))))
        #expect(error == nil)
        try #require(packets.count == expected.count)
        #expect(packets.count > 20)
        for (i, (packet, want)) in zip(packets, expected).enumerated() {
            let got = Dissector().decode(packet)
            let wantLayers = want["layers"] as! [[String: Any]]
            let wantError = want["error"] as! Bool
            #expect((got.error != nil) == wantError, "packet \(i): error \(String(describing: got.error))")
            #expect(got.layers.map(\.type) == wantLayers.map { $0["type"] as! String }, "packet \(i)")
            for (layer, wantLayer) in zip(got.layers, wantLayers) {
                for (key, value) in wantLayer where key != "type" {
                    let have = layer[key]
                    #expect(have.map { matches($0, value) } ?? false,
                            "packet \(i) \(layer.type).\(key): scapy says \(value), HNA says \(String(describing: have))")
                }
            }
        }
    }
}

/// Compares a decoded field with a value from JSON, where scapy lists hold only the keys it knows.
func matches(_ have: JSONValue, _ want: Any) -> Bool {
    switch (have, want) {
    case let (.string(h), w as String): return h == w
    case let (.bool(h), w as Bool): return h == w
    case let (.int(h), w as NSNumber): return h == w.int64Value
    case let (.array(h), w as [Any]): return h.count == w.count && zip(h, w).allSatisfy { matches($0, $1) }
    case let (.object(h), w as [String: Any]):
        return w.allSatisfy { k, v in h.first(where: { $0.0 == k }).map { matches($0.1, v) } ?? false }
    default: return false
    }
}
