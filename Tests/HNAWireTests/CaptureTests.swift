import Foundation
import HNATestSupport
import Testing
@testable import HNAWire

@Suite struct CaptureTests {
    static let fixture = repositoryRoot.appendingPathComponent("Tests/HNAWireTests/Fixtures/scapy.pcap")

    @Test func writerOutputReadsBackExactly() throws {
        var rng = SplitMix64(seed: 42)
        var w = PcapWriter(snapLength: 100)
        var frames: [(UInt64, [UInt8])] = []
        for i in 0 ..< 50 {
            let f = rng.bytes(Int.random(in: 0 ... 200, using: &rng))
            let ts = UInt64(i) * 1_234_567_891
            w.write(f, timestamp: ts)
            frames.append((ts, f))
        }
        let (packets, error) = CaptureReader.read(w.bytes)
        #expect(error == nil)
        try #require(packets.count == frames.count)
        for (p, (ts, f)) in zip(packets, frames) {
            #expect(p.timestamp == ts)
            #expect(p.data == Array(f.prefix(100)))
            #expect(p.originalLength == f.count)
            #expect(p.linkType == .ethernet)
        }
    }

    @Test func truncatedCaptureKeepsWhatCameBefore() {
        var w = PcapWriter()
        w.write([1, 2, 3], timestamp: 1)
        w.write([4, 5, 6, 7], timestamp: 2)
        let cut = Array(w.bytes.dropLast(2))
        let (packets, error) = CaptureReader.read(cut)
        #expect(packets.count == 1)
        #expect(error != nil)
        #expect(CaptureReader.read([0x12, 0x34]).error == .notACapture)
    }

    /// pcapng written by Wireshark's own editcap holds the same packets as the pcap it came from.
    @Test(.enabled(if: ExternalTool.available("editcap") || ExternalTool.mustRun, "needs editcap (comes with tshark)"))
    func pcapngFromEditcapMatchesThePcap() throws {
        let dir = try ExternalTool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = CaptureReader.read([UInt8](try Data(contentsOf: Self.fixture)))
        try #require(original.error == nil)
        for (name, extra) in [("us.pcapng", [String]()), ("ns.pcapng", ["--set-tsprec", "9"])] {
            let out = dir.appendingPathComponent(name)
            let r = try ExternalTool.run("editcap", extra + ["-F", "pcapng", Self.fixture.path, out.path])
            if r.status != 0, !extra.isEmpty { continue } // older editcap without --set-tsprec
            #expect(r.status == 0, "\(r.stderr)")
            let ng = CaptureReader.read([UInt8](try Data(contentsOf: out)))
            #expect(ng.error == nil)
            #expect(ng.packets.map(\.data) == original.packets.map(\.data))
            #expect(ng.packets.map(\.timestamp) == original.packets.map(\.timestamp))
        }
    }
}
