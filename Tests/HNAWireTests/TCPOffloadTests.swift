import HNATestSupport
import HNAWire
import Testing

/// Software TSO/GRO and checksum completion: every segment must parse with valid checksums and the
/// right sequence numbers, and coalescing the segments again must give back the super-frame's stream.
@Suite("TCP offload")
struct TCPOffloadTests {
    static let a4 = IPv4Address(rawValue: 0xC0A8_4D01), b4 = IPv4Address(rawValue: 0xC0A8_4D02)
    static let a6 = IPv6Address(high: 0xFD00_0000_0000_0001, low: 1), b6 = IPv6Address(high: 0xFD00_0000_0000_0001, low: 2)
    /// A timestamps option (kind 8), padded with two NOPs: what Linux sends on every data segment.
    static let timestamps: [UInt8] = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]

    /// An Ethernet/IP/TCP frame with `payload`; the IP length covers the whole payload, as a TSO
    /// super-frame's does, and the TCP checksum is complete.
    static func frame(ipv6: Bool, payload: [UInt8], sequence: UInt32, flags: TCPFlags, id: UInt16 = 7,
                      ipOptions: [UInt8] = [], tcpOptions: [UInt8] = timestamps, sourcePort: UInt16 = 40000) -> [UInt8] {
        var tcp = TCPHeader(sourcePort: sourcePort, destinationPort: 5201, sequenceNumber: sequence, acknowledgmentNumber: 99,
                            flags: flags, window: 502, options: tcpOptions).emitted() + payload
        tcp.withUnsafeMutableBytes { seg in
            if ipv6 { TCPSegment.fillChecksum(in: seg, source: a6, destination: b6) } else { TCPSegment.fillChecksum(in: seg, source: a4, destination: b4) }
        }
        let eth = EthernetHeader(destination: MACAddress(rawValue: 0x0200_0000_0201), source: MACAddress(rawValue: 0x0200_0000_0101),
                                 etherType: ipv6 ? .ipv6 : .ipv4).emitted()
        let ip = ipv6
            ? IPv6Header(source: a6, destination: b6, nextHeader: .tcp, payloadLength: UInt16(tcp.count)).emitted()
            : IPv4Header(source: a4, destination: b4, protocol: .tcp, payloadLength: tcp.count, identification: id,
                         dontFragment: true, options: ipOptions).emitted()
        return eth + ip + tcp
    }

    struct Parsed {
        var sequence: UInt32
        var flags: TCPFlags
        var payload: [UInt8]
        var id: UInt16?
        var checksumsValid: Bool
    }

    /// Parses a frame with HNAWire's own views and checks every checksum.
    static func parse(_ bytes: [UInt8]) throws -> Parsed {
        try bytes.withUnsafeBytes { raw in
            let eth = try EthernetFrame(checking: raw)
            let ipRaw = raw.tail(from: eth.headerLength)
            if eth.etherType == .ipv4 {
                let ip = try IPv4Packet(checking: ipRaw)
                #expect(ip.totalLength == ipRaw.count)
                let tcp = try TCPSegment(checking: ip.payload)
                return Parsed(sequence: tcp.sequenceNumber, flags: tcp.flags, payload: Array(tcp.payload), id: ip.identification,
                              checksumsValid: ip.checksumValid && tcp.checksumIsValid(source: ip.source, destination: ip.destination))
            }
            let ip = try IPv6Packet(checking: ipRaw)
            #expect(IPv6Packet.headerLength + ip.payloadLength == ipRaw.count)
            let tcp = try TCPSegment(checking: ip.payload)
            return Parsed(sequence: tcp.sequenceNumber, flags: tcp.flags, payload: Array(tcp.payload), id: nil,
                          checksumsValid: tcp.checksumIsValid(source: ip.source, destination: ip.destination))
        }
    }

    static func segment(_ frame: [UInt8], mss: Int) throws -> [[UInt8]] {
        try frame.withUnsafeBytes { raw in
            let s = try TCPOffload.Segmenter(frame: raw, segmentSize: mss)
            var out: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 70000)
            for i in 0 ..< s.segmentCount {
                let n = buffer.withUnsafeMutableBytes { s.write(i, into: $0) }
                out.append(Array(buffer[0 ..< n!]))
            }
            return out
        }
    }

    /// The gather form (headers written apart, payload left where it lies) makes the very bytes the
    /// copying form does, also for a super-frame behind a tunnel header (a prefix the layout skips).
    @Test(arguments: [false, true])
    func headersAlonePlusPayloadEqualWholeSegments(ipv6: Bool) throws {
        var rng = SplitMix64(seed: 0x6A7E)
        let prefix = rng.bytes(8)
        let frame = prefix + Self.frame(ipv6: ipv6, payload: rng.bytes(7_001), sequence: 12345, flags: [.ack, .psh])
        let whole = try Self.segment(Array(frame.dropFirst(8)), mss: 1000).map { prefix + $0 }
        try frame.withUnsafeBytes { raw in
            let layout = try TCPOffload.Layout(packet: raw, l3: 8 + 14)
            let s = try TCPOffload.Segmenter(frame: raw, layout: layout, segmentSize: 1000)
            #expect(s.segmentCount == whole.count)
            for i in 0 ..< s.segmentCount {
                var headers = [UInt8](repeating: 0, count: layout.headerLength)
                let n = headers.withUnsafeMutableBytes { s.writeHeaders(i, into: $0) }
                #expect(n == layout.headerLength)
                #expect(headers + Array(s.payload(of: i)) == whole[i], "segment \(i)")
            }
        }
    }

    @Test(arguments: [false, true])
    func segmentsParseWithValidChecksumsAndSequenceNumbers(ipv6: Bool) throws {
        var rng = SplitMix64(seed: 0x7550)
        let payload = rng.bytes(10_000)
        let seq: UInt32 = 0xFFFF_F000  // wraps inside the super-frame
        let flags: TCPFlags = [.ack, .psh, .cwr]
        let super_ = Self.frame(ipv6: ipv6, payload: payload, sequence: seq, flags: flags, id: 0xFFFE)
        let segments = try Self.segment(super_, mss: 1448)
        #expect(segments.count == 7)  // 6 × 1448 + 1312
        var joined: [UInt8] = []
        for (i, s) in segments.enumerated() {
            let p = try Self.parse(s)
            #expect(p.checksumsValid, "segment \(i)")
            #expect(p.sequence == seq &+ UInt32(i * 1448))
            #expect(p.payload.count == (i < 6 ? 1448 : 10_000 - 6 * 1448))
            #expect(p.flags.contains(.ack))
            #expect(p.flags.contains(.psh) == (i == 6), "PSH only on the last segment")
            #expect(p.flags.contains(.cwr) == (i == 0), "CWR only on the first segment")
            if !ipv6 { #expect(p.id == 0xFFFE &+ UInt16(i)) }
            joined += p.payload
        }
        #expect(joined == payload)
    }

    @Test
    func ipv4OptionsAndFinAreCarried() throws {
        let payload = [UInt8](repeating: 0xAB, count: 3000)
        let f = Self.frame(ipv6: false, payload: payload, sequence: 1, flags: [.ack, .fin], ipOptions: [1, 1, 1, 0])
        let segments = try Self.segment(f, mss: 1000)
        #expect(segments.count == 3)
        for (i, s) in segments.enumerated() {
            let p = try Self.parse(s)
            #expect(p.checksumsValid)
            #expect(p.flags.contains(.fin) == (i == 2))
            #expect(s.count == 14 + 24 + 32 + 1000)
        }
    }

    @Test
    func refusesWhatItCannotSegment() {
        var udp = UDPHeader(sourcePort: 1, destinationPort: 2, payloadLength: 4).emitted() + [1, 2, 3, 4]
        let eth = EthernetHeader(destination: .broadcast, source: .zero, etherType: .ipv4).emitted()
        udp = eth + IPv4Header(source: Self.a4, destination: Self.b4, protocol: .udp, payloadLength: udp.count).emitted() + udp
        let fragment = Self.frame(ipv6: false, payload: [1], sequence: 0, flags: .ack).enumerated().map { i, b in
            i == 14 + IPv4Packet.Field.flagsFragmentOffset ? b | 0x20 : b  // more fragments
        }
        for bad in [udp, fragment, Array(Self.frame(ipv6: true, payload: [1], sequence: 0, flags: .ack).prefix(60))] {
            let refused = bad.withUnsafeBytes { raw -> Bool in
                do { _ = try TCPOffload.Segmenter(frame: raw, segmentSize: 100); return false } catch { return true }
            }
            #expect(refused)
        }
        let zero = Self.frame(ipv6: false, payload: [1], sequence: 0, flags: .ack).withUnsafeBytes { raw -> Bool in
            (try? TCPOffload.Segmenter(frame: raw, segmentSize: 0)) == nil
        }
        #expect(zero)
    }

    @Test(arguments: [false, true])
    func completesPartialChecksums(ipv6: Bool) throws {
        let f = Self.frame(ipv6: ipv6, payload: Array(0 ..< 201), sequence: 5, flags: .ack)
        let l4 = 14 + (ipv6 ? 40 : 20)
        var partial = f
        // What a sender with checksum offload hands over: the pseudo-header sum, not inverted.
        let pseudo = ipv6
            ? InternetChecksum.pseudoHeader(source: Self.a6, destination: Self.b6, protocol: .tcp, length: f.count - l4).folded
            : InternetChecksum.pseudoHeader(source: Self.a4, destination: Self.b4, protocol: .tcp, length: f.count - l4).folded
        partial[l4 + 16] = UInt8(pseudo >> 8)
        partial[l4 + 17] = UInt8(pseudo & 0xFF)
        #expect(try !Self.parse(partial).checksumsValid)
        try partial.withUnsafeMutableBytes { try TCPOffload.completeChecksum($0, start: l4, offset: 16) }
        #expect(partial == f)
        let outside = partial.withUnsafeMutableBytes { raw -> Bool in
            do { try TCPOffload.completeChecksum(raw, start: raw.count - 1, offset: 0); return false } catch { return true }
        }
        #expect(outside)
    }

    /// Coalesces `segments` as a driver would: returns the finished frames and their segment counts.
    static func coalesce(_ segments: [[UInt8]]) -> [(frame: [UInt8], segments: Int, mss: Int)] {
        var out: [(frame: [UInt8], segments: Int, mss: Int)] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        buffer.withUnsafeMutableBytes { room in
            var current: TCPOffload.Coalescer?
            for s in segments {
                let joined = s.withUnsafeBytes { current?.append($0) ?? false }
                if joined { continue }
                if let c = current { out.append((Array(c.finish()), c.segments, c.segmentSize)) }
                current = s.withUnsafeBytes { TCPOffload.Coalescer(first: $0, into: room) }
                if current == nil { out.append((s, 1, 0)) }
            }
            if let c = current { out.append((Array(c.finish()), c.segments, c.segmentSize)) }
        }
        return out
    }

    @Test(arguments: [false, true])
    func coalescingUndoesSegmentation(ipv6: Bool) throws {
        var rng = SplitMix64(seed: 0xC0A1)
        for round in 0 ..< 200 {
            let size = Int.random(in: 1 ... 60_000, using: &rng)
            let mss = Int.random(in: 500 ... 9000, using: &rng)
            let seq = rng.any(UInt32.self)
            let payload = rng.bytes(size)
            let f = Self.frame(ipv6: ipv6, payload: payload, sequence: seq, flags: [.ack, .psh])
            let segments = try Self.segment(f, mss: mss)
            let merged = Self.coalesce(segments)
            #expect(merged.count == 1, "round \(round): size \(size) mss \(mss)")
            guard var m = merged.first else { continue }
            #expect(m.segments == segments.count)
            if m.segments > 1 {
                #expect(m.mss == mss)
                // The partial checksum the coalescer leaves, completed as the receiving kernel would.
                let l4 = 14 + (ipv6 ? 40 : 20)
                try m.frame.withUnsafeMutableBytes { try TCPOffload.completeChecksum($0, start: l4, offset: 16) }
            }
            let p = try Self.parse(m.frame)
            #expect(p.checksumsValid, "round \(round)")
            #expect(p.sequence == seq)
            #expect(p.payload == payload)
            #expect(p.flags == [.ack, .psh])
        }
    }

    @Test
    func coalescingStopsAtGapsOtherFlowsAndControlFlags() throws {
        let mss = 1000
        let base = try Self.segment(Self.frame(ipv6: false, payload: [UInt8](repeating: 1, count: 4000), sequence: 100, flags: .ack), mss: mss)
        // A lost segment: the stream has a hole after the first one.
        #expect(Self.coalesce([base[0], base[2], base[3]]).map(\.segments) == [1, 2])
        // Another connection's segment in between.
        let other = try Self.segment(Self.frame(ipv6: false, payload: [UInt8](repeating: 2, count: 1000), sequence: 1100, flags: .ack,
                                                sourcePort: 40001), mss: mss)
        #expect(Self.coalesce([base[0], other[0], base[1]]).map(\.segments) == [1, 1, 1])
        // A SYN or a FIN is never merged; nothing follows a short segment.
        let syn = Self.frame(ipv6: false, payload: [1], sequence: 1, flags: [.syn, .ack])
        #expect(Self.coalesce([syn, base[0]]).map(\.segments) == [1, 1])
        let short = try Self.segment(Self.frame(ipv6: false, payload: [UInt8](repeating: 3, count: 1500), sequence: 100, flags: .ack), mss: mss)
        let after = try Self.segment(Self.frame(ipv6: false, payload: [UInt8](repeating: 3, count: 1000), sequence: 1600, flags: .ack), mss: mss)
        #expect(Self.coalesce(short + after).map(\.segments) == [2, 1])
        // Ordinary data segments in order merge.
        #expect(Self.coalesce(base).map(\.segments) == [4])
    }
}
