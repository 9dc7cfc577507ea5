import Foundation
import HNATestSupport
import Testing
@testable import HNAWire

/// Every truncation of every test packet: no parser traps, every parser oracle holds, and the dissector
/// reports an error instead of inventing layers.
@Suite struct TruncationTests {
    /// The scapy-crafted packets (a committed copy of what Fixtures/scapy_packets.py writes) and every
    /// encapsulation HNA emits.
    static func packets() throws -> [(String, [UInt8])] {
        let url = repositoryRoot.appendingPathComponent("Tests/HNAWireTests/Fixtures/scapy.pcap")
        let (captured, error) = CaptureReader.read([UInt8](try Data(contentsOf: url)))
        #expect(error == nil)
        return captured.enumerated().map { ("scapy #\($0.offset)", $0.element.data) }
            + TsharkCrossCheckTests.cases().map { ($0.name, $0.bytes) }
    }

    @Test func everyTruncationIsRefusedCleanly() throws {
        let packets = try Self.packets()
        #expect(packets.count > 30)
        var prefixes = 0
        for (name, bytes) in packets {
            let full = bytes.withUnsafeBytes { Dissector().decode($0) }
            let fullTypes = full.layers.map(\.type)
            // Packets whose lengths are all covered by IP length fields: any cut must be noticed.
            let covered = full.error == nil && fullTypes.count > 1 && ["ipv4", "ipv6"].contains(fullTypes[1])
            for n in 0 ..< bytes.count {
                let cut = Array(bytes[0 ..< n])
                prefixes += 1
                cut.withUnsafeBytes { raw in
                    for check in ParserChecks.all {
                        if let violation = check.run(raw) { Issue.record("\(name) cut at \(n): \(check.name): \(violation)") }
                    }
                    let d = Dissector().decode(raw)
                    let types = d.layers.map(\.type)
                    // Decoded layers are a prefix of the full packet's, except the trailing payload
                    // summary that a cut can move.
                    let comparable = types.last == "payload" ? Array(types.dropLast()) : types
                    #expect(Array(fullTypes.prefix(comparable.count)) == comparable, "\(name) cut at \(n): \(types)")
                    if covered { #expect(d.error != nil, "\(name) cut at \(n) decoded without error: \(types)") }
                }
            }
        }
        #expect(prefixes > 2000)
    }

    @Test func randomBytesNeverTrapAnyParser() {
        var rng = SplitMix64(seed: 0x7E57)
        for _ in 0 ..< 20_000 {
            let bytes = rng.bytes(Int.random(in: 0 ... 128, using: &rng))
            bytes.withUnsafeBytes { raw in
                for check in ParserChecks.all {
                    if let v = check.run(raw) { Issue.record("\(check.name): \(v) on \(bytes)") }
                }
            }
        }
    }
}
