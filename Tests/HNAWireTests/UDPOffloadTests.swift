import HNATestSupport
import HNAWire
import Testing

/// Software UDP GRO (towards a TAP offered USO) and its inverse: datagrams coalesced into one frame
/// and cut apart again come back byte for byte; anything that would not is refused.
@Suite("UDP offload")
struct UDPOffloadTests {
    static func datagram(ipv6: Bool, payload: [UInt8], id: UInt16, sourcePort: UInt16 = 40000) -> [UInt8] {
        var udp = UDPHeader(sourcePort: sourcePort, destinationPort: 5201, payloadLength: payload.count).emitted() + payload
        udp.withUnsafeMutableBytes { seg in
            if ipv6 {
                UDPDatagram.fillChecksum(in: seg, source: TCPOffloadTests.a6, destination: TCPOffloadTests.b6)
            } else {
                UDPDatagram.fillChecksum(in: seg, source: TCPOffloadTests.a4, destination: TCPOffloadTests.b4)
            }
        }
        let eth = EthernetHeader(destination: MACAddress(rawValue: 0x0200_0000_0201), source: MACAddress(rawValue: 0x0200_0000_0101),
                                 etherType: ipv6 ? .ipv6 : .ipv4).emitted()
        let ip = ipv6
            ? IPv6Header(source: TCPOffloadTests.a6, destination: TCPOffloadTests.b6, nextHeader: .udp, payloadLength: UInt16(udp.count)).emitted()
            : IPv4Header(source: TCPOffloadTests.a4, destination: TCPOffloadTests.b4, protocol: .udp, payloadLength: udp.count,
                         identification: id).emitted()
        return eth + ip + udp
    }

    /// Coalesces `datagrams` as a driver would; the frames and how many datagrams each holds.
    static func coalesce(_ datagrams: [[UInt8]]) -> [(frame: [UInt8], segments: Int, size: Int)] {
        var out: [(frame: [UInt8], segments: Int, size: Int)] = []
        var buffer = [UInt8](repeating: 0, count: 70000)
        var current: UDPOffload.Coalescer?
        func finish() {
            guard let c = current else { return }
            out.append((Array(c.finish()), c.segments, c.segmentSize))
            current = nil
        }
        for d in datagrams {
            let appended = d.withUnsafeBytes { current?.append($0) } ?? false
            if appended { continue }
            finish()
            current = d.withUnsafeBytes { raw in buffer.withUnsafeMutableBytes { UDPOffload.Coalescer(first: raw, into: $0) } }
        }
        finish()
        return out
    }

    @Test(arguments: [false, true])
    func coalescedDatagramsComeBackWhole(ipv6: Bool) throws {
        var rng = SplitMix64(seed: 0x0D90)
        let datagrams = (0 ..< 10).map { i in Self.datagram(ipv6: ipv6, payload: rng.bytes(i == 9 ? 7 : 18), id: 500 &+ UInt16(i)) }
        let frames = Self.coalesce(datagrams)
        #expect(frames.count == 1 && frames[0].segments == 10 && frames[0].size == 18)
        let frame = frames[0].frame
        try frame.withUnsafeBytes { raw in
            let layout = try UDPOffload.Layout(frame: raw)
            #expect(layout.payloadLength == 9 * 18 + 7)
            // The UDP checksum field holds the pseudo-header sum over the whole length (NEEDS_CSUM).
            let udpLength = raw.count - layout.l4
            let partial = ipv6
                ? InternetChecksum.pseudoHeader(source: TCPOffloadTests.a6, destination: TCPOffloadTests.b6, protocol: .udp, length: udpLength)
                : InternetChecksum.pseudoHeader(source: TCPOffloadTests.a4, destination: TCPOffloadTests.b4, protocol: .udp, length: udpLength)
            #expect(raw.u16(at: layout.l4 + UDPDatagram.Field.checksum) == partial.folded)
            let s = try UDPOffload.Segmenter(frame: raw, segmentSize: 18)
            #expect(s.segmentCount == 10)
            var out = [UInt8](repeating: 0, count: 2000)
            for i in 0 ..< s.segmentCount {
                let n = try #require(out.withUnsafeMutableBytes { s.write(i, into: $0) })
                #expect(Array(out[0 ..< n]) == datagrams[i], "datagram \(i)")
            }
        }
    }

    @Test func coalescingStopsWhereGROWould() {
        var rng = SplitMix64(seed: 0x0D91)
        let a = Self.datagram(ipv6: false, payload: rng.bytes(18), id: 1)
        let otherFlow = Self.datagram(ipv6: false, payload: rng.bytes(18), id: 2, sourcePort: 40001)
        let short = Self.datagram(ipv6: false, payload: rng.bytes(10), id: 3)
        let longer = Self.datagram(ipv6: false, payload: rng.bytes(30), id: 4)
        let after = Self.datagram(ipv6: false, payload: rng.bytes(18), id: 5)
        // Another flow starts a frame of its own; a shorter datagram ends one; a longer one starts anew.
        let frames = Self.coalesce([a, a, otherFlow, a, short, after, longer, longer])
        #expect(frames.map(\.segments) == [2, 1, 2, 1, 2])
        #expect(frames.map(\.size) == [18, 18, 18, 18, 30])
        // More than the kernel's 64 datagrams never go in one frame.
        #expect(Self.coalesce([[UInt8]](repeating: a, count: 70)).map(\.segments) == [64, 6])
    }

    @Test func segmenterRefusesWhatIsNotUDP() {
        let tcp = TCPOffloadTests.frame(ipv6: false, payload: [1, 2, 3], sequence: 1, flags: [.ack])
        #expect(throws: WireError.self) { try tcp.withUnsafeBytes { try UDPOffload.Segmenter(frame: $0, segmentSize: 100) } }
        #expect(throws: WireError.self) {
            try Self.datagram(ipv6: false, payload: [1], id: 1).withUnsafeBytes { try UDPOffload.Segmenter(frame: $0, segmentSize: 0) }
        }
    }
}
