import Testing
import HNAWire
import HNATestSupport

@Suite struct TCPTests {
    /// A Linux-style SYN 10.0.0.1:43210 -> 10.0.0.2:80 with MSS 1460, SACK-permitted, timestamps
    /// (1000, 0), NOP, window scale 7 (scapy; checksum 0x8804).
    static let syn: [UInt8] = [
        0xa8, 0xca, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
        0xa0, 0x02, 0xfa, 0xf0, 0x88, 0x04, 0x00, 0x00, // data offset 10, SYN, window 64240
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ]
    static let synSource = IPv4Address(10, 0, 0, 1)
    static let synDestination = IPv4Address(10, 0, 0, 2)

    /// PSH+ACK carrying "SSH-2.0-x\r\n" from [fe80::1]:22 to [fe80::2]:51000 (scapy; checksum 0x878c).
    static let pshV6: [UInt8] = [
        0x00, 0x16, 0xc7, 0x38, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44,
        0x50, 0x18, 0x01, 0xf5, 0x87, 0x8c, 0x00, 0x00,
        0x53, 0x53, 0x48, 0x2d, 0x32, 0x2e, 0x30, 0x2d, 0x78, 0x0d, 0x0a,
    ]
    static let v6Source = IPv6Address("fe80::1")!
    static let v6Destination = IPv6Address("fe80::2")!

    static func options(_ bytes: [UInt8]) throws -> [TCPOption] {
        try bytes.withUnsafeBytes { raw throws in
            var it = TCPOptionIterator(raw)
            var out: [TCPOption] = []
            while let o = try it.next() {
                // `.other` points into `raw`: keep only options that own their data.
                if case .other = o { out.append(.other(kind: 0xFF, data: UnsafeRawBufferPointer(start: nil, count: 0))) } else { out.append(o) }
            }
            return out
        }
    }

    @Test func parsesKnownSYN() throws {
        try Self.syn.withUnsafeBytes { raw throws in
            let s = try TCPSegment(checking: raw)
            #expect(s.sourcePort == 43210 && s.destinationPort == 80)
            #expect(s.sequenceNumber == 0x0102_0304 && s.acknowledgmentNumber == 0)
            #expect(s.dataOffset == 10 && s.headerLength == 40)
            #expect(s.flags == .syn)
            #expect(s.window == 64240 && s.checksum == 0x8804 && s.urgentPointer == 0)
            #expect(s.payload.isEmpty)
            #expect(s.checksumIsValid(source: Self.synSource, destination: Self.synDestination))
            #expect(!s.checksumIsValid(source: Self.synDestination, destination: IPv4Address(10, 0, 0, 3)))
            let h = try TCPHeader(parsing: raw)
            #expect(h.options == Array(Self.syn[20...]))
            #expect(h.flags.contains(.syn) && !h.flags.contains(.ack))
        }
        #expect(try Self.options(Array(Self.syn[20...])) == [
            .maximumSegmentSize(1460), .sackPermitted, .timestamps(value: 1000, echoReply: 0), .noOperation, .windowScale(7),
        ])
    }

    @Test func parsesKnownIPv6Segment() throws {
        try Self.pshV6.withUnsafeBytes { raw throws in
            let s = try TCPSegment(checking: raw)
            #expect(s.flags == [.psh, .ack])
            #expect(s.sequenceNumber == 0xDEAD_BEEF && s.acknowledgmentNumber == 0x1122_3344)
            #expect(s.optionBytes.isEmpty)
            #expect(Array(s.payload) == Array("SSH-2.0-x\r\n".utf8))
            #expect(s.checksumIsValid(source: Self.v6Source, destination: Self.v6Destination))
            #expect(!s.checksumIsValid(source: Self.v6Source, destination: IPv6Address("fe80::3")!))
        }
    }

    @Test func fillReproducesKnownChecksums() {
        var v4 = Self.syn
        v4[16] = 0; v4[17] = 0
        v4.withUnsafeMutableBytes { TCPSegment.fillChecksum(in: $0, source: Self.synSource, destination: Self.synDestination) }
        #expect(v4 == Self.syn)
        var v6 = Self.pshV6
        v6[16] = 0x12; v6[17] = 0x34
        v6.withUnsafeMutableBytes { TCPSegment.fillChecksum(in: $0, source: Self.v6Source, destination: Self.v6Destination) }
        #expect(v6 == Self.pshV6)
    }

    @Test func flagBitsSitWhereRFC9293PutsThem() throws {
        // Every flag set, including NS in the low bit of byte 12, data offset 5.
        var b = [UInt8](repeating: 0, count: 20)
        b[12] = 0x51; b[13] = 0xFF
        let s = try b.withUnsafeBytes { try TCPHeader(parsing: $0) }
        #expect(s.flags == [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr, .ns])
        // Reserved bits between data offset and NS are ignored on receive and emitted as zero.
        b[12] = 0x5E
        let r = try b.withUnsafeBytes { try TCPHeader(parsing: $0) }
        #expect(r.flags == TCPFlags(rawValue: 0xFF))
        #expect(r.emitted()[12] == 0x50)
        #expect(TCPHeader(sourcePort: 0, destinationPort: 0, sequenceNumber: 0, acknowledgmentNumber: 0,
                          flags: [.urg, .fin], window: 0).emitted()[13] == 0x21)
    }

    @Test func rejectsBadDataOffsets() {
        for words in 0 ..< 5 {
            var b = Self.syn
            b[12] = UInt8(words << 4)
            #expect(L4.isMalformed(L4.error(b) { raw throws(WireError) in _ = try TCPSegment(checking: raw) }))
        }
        var b = Self.syn
        b[12] = 0xF0 // 60 bytes of header, 40 present
        #expect(L4.isTruncated(L4.error(b) { raw throws(WireError) in _ = try TCPSegment(checking: raw) }))
    }

    @Test func everyTruncationOfTheHeaderThrowsAndOfThePayloadShortensIt() throws {
        for packet in [Self.syn, Self.pshV6] {
            let headerLength = Int(packet[12] >> 4) * 4
            let full = try packet.withUnsafeBytes { try TCPHeader(parsing: $0) }
            for n in 0 ..< packet.count {
                let prefix = Array(packet[..<n])
                if n < headerLength {
                    #expect(L4.isTruncated(L4.error(prefix) { raw throws(WireError) in _ = try TCPHeader(parsing: raw) }), "prefix \(n)")
                } else {
                    try prefix.withUnsafeBytes { raw throws in
                        let s = try TCPSegment(checking: raw)
                        #expect(s.payload.count == n - headerLength)
                        #expect(TCPHeader(s) == full)
                    }
                }
            }
        }
    }

    @Test func optionWalkRejectsMalformedLengths() throws {
        let bad: [[UInt8]] = [
            [2],                    // MSS with no length byte
            [2, 0, 0, 0],           // length 0 would never advance
            [2, 1, 0, 0],           // length 1 is shorter than kind + length
            [2, 5, 5, 0xb4, 0],     // MSS must be 4
            [3, 4, 7, 0],           // window scale must be 3
            [4, 3, 0, 0],           // SACK-permitted must be 2
            [8, 8, 0, 0, 0, 0, 0, 0], // timestamps must be 10
            [1, 1, 30, 6, 0, 0],    // runs past the option bytes
        ]
        for b in bad {
            #expect(throws: WireError.self, "\(b)") { try Self.options(b) }
        }
        // Nothing after end-of-list is read; unknown kinds are skipped by their length.
        #expect(try Self.options([1, 0, 2, 0]) == [.noOperation, .endOfList])
        #expect(try Self.options([254, 4, 0xAA, 0xBB, 1, 0, 0, 0]).count == 3)
        try [UInt8]([5, 10, 0, 0, 0, 1, 0, 0, 0, 2]).withUnsafeBytes { raw throws in
            var it = TCPOptionIterator(raw)
            guard case let .other(kind, data)? = try it.next() else { Issue.record("no SACK option"); return }
            #expect(kind == 5 && Array(data) == [0, 0, 0, 1, 0, 0, 0, 2])
            #expect(try it.next() == nil)
        }
    }

    @Test func roundTripsRandomHeaders() throws {
        var rng = SplitMix64(seed: 793)
        for _ in 0 ..< 5000 {
            let options = rng.bytes(4 * Int.random(in: 0 ... 10, using: &rng))
            let h = TCPHeader(sourcePort: rng.any(UInt16.self), destinationPort: rng.any(UInt16.self),
                              sequenceNumber: rng.any(UInt32.self), acknowledgmentNumber: rng.any(UInt32.self),
                              flags: TCPFlags(rawValue: rng.any(UInt16.self)), window: rng.any(UInt16.self),
                              checksum: rng.any(UInt16.self), urgentPointer: rng.any(UInt16.self), options: options)
            let payload = rng.bytes(Int.random(in: 0 ... 16, using: &rng))
            let bytes = L4.packet(h, payload: payload)
            try bytes.withUnsafeBytes { raw throws in
                #expect(try TCPHeader(parsing: raw) == h)
                #expect(Array(try TCPSegment(checking: raw).payload) == payload)
            }
        }
        // Options that are not a multiple of 4 are padded with end-of-list.
        let odd = TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: 3, acknowledgmentNumber: 4,
                            flags: .ack, window: 5, options: [3, 3, 7])
        #expect(odd.encodedLength == 24)
        let parsed = try odd.emitted().withUnsafeBytes { try TCPHeader(parsing: $0) }
        #expect(parsed.options == [3, 3, 7, 0])
    }

    @Test func emittedChecksumsVerifyAndAByteFlipBreaksThem() throws {
        var rng = SplitMix64(seed: 9293)
        for round in 0 ..< 2000 {
            let h = TCPHeader(sourcePort: rng.any(UInt16.self), destinationPort: rng.any(UInt16.self),
                              sequenceNumber: rng.any(UInt32.self), acknowledgmentNumber: rng.any(UInt32.self),
                              flags: [.ack], window: rng.any(UInt16.self),
                              options: rng.bytes(4 * Int.random(in: 0 ... 3, using: &rng)))
            var bytes = L4.packet(h, payload: rng.bytes(Int.random(in: 0 ... 100, using: &rng)))
            let v6 = round % 2 == 1
            let s4 = L4.randomIPv4(&rng), d4 = L4.randomIPv4(&rng)
            let s6 = L4.randomIPv6(&rng), d6 = L4.randomIPv6(&rng)
            bytes.withUnsafeMutableBytes { buf in
                if v6 {
                    TCPSegment.fillChecksum(in: buf, source: s6, destination: d6)
                } else {
                    TCPSegment.fillChecksum(in: buf, source: s4, destination: d4)
                }
            }
            func valid(_ b: [UInt8]) throws -> Bool {
                try b.withUnsafeBytes { raw throws in
                    let s = try TCPSegment(checking: raw)
                    return v6 ? s.checksumIsValid(source: s6, destination: d6) : s.checksumIsValid(source: s4, destination: d4)
                }
            }
            #expect(try valid(bytes))
            var i = Int.random(in: 0 ..< bytes.count, using: &rng)
            if i == 12 { i = 13 } // keep the data offset, so the flipped segment still parses
            var flipped = bytes
            flipped[i] ^= UInt8.random(in: 1 ... 255, using: &rng)
            #expect(try !valid(flipped), "byte \(i)")
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 60)
        for _ in 0 ..< 5000 {
            var bytes = rng.bytes(Int.random(in: 0 ... 64, using: &rng))
            if bytes.count > 12, Bool.random(using: &rng) { bytes[12] = 0x50 | bytes[12] & 0x0F }
            bytes.withUnsafeBytes { raw in
                guard let s = try? TCPSegment(checking: raw) else { return }
                _ = (s.sourcePort, s.destinationPort, s.sequenceNumber, s.acknowledgmentNumber, s.flags,
                     s.window, s.checksum, s.urgentPointer, s.payload.count)
                var it = s.options
                var steps = 0
                while let _ = try? it.next() { steps += 1 }
                #expect(steps <= 40)
            }
        }
    }
}
