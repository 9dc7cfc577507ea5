import Testing
import HNAWire
import HNATestSupport

@Suite struct UDPTests {
    /// A DNS query for example.com A, 192.168.1.2:53000 -> 8.8.8.8:53. Bytes and checksum from scapy
    /// (an independent implementation); the checksum re-checked by hand-summing in Python.
    static let dnsQuery: [UInt8] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0x7d, 0x0a, // ports 53000 -> 53, length 37, checksum 0x7d0a
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ]
    static let dnsSource = IPv4Address(192, 168, 1, 2)
    static let dnsDestination = IPv4Address(8, 8, 8, 8)

    /// "hello, fabric!" from [2001:db8::1]:40000 to [2001:db8::2]:6650 (scapy).
    static let helloV6: [UInt8] = [
        0x9c, 0x40, 0x19, 0xfa, 0x00, 0x16, 0x52, 0xc1,
        0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x66, 0x61, 0x62, 0x72, 0x69, 0x63, 0x21,
    ]
    static let v6Source = IPv6Address("2001:db8::1")!
    static let v6Destination = IPv6Address("2001:db8::2")!

    @Test func parsesKnownIPv4Datagram() throws {
        try Self.dnsQuery.withUnsafeBytes { raw throws in
            let d = try UDPDatagram(checking: raw)
            #expect(d.sourcePort == 53000)
            #expect(d.destinationPort == 53)
            #expect(d.length == 37)
            #expect(d.checksum == 0x7d0a)
            #expect(d.payload.count == 29)
            #expect(d.payload.first == 0x12)
            #expect(d.checksumIsValid(source: Self.dnsSource, destination: Self.dnsDestination))
            #expect(!d.checksumIsValid(source: Self.dnsSource, destination: IPv4Address(8, 8, 4, 4)))
            let h = try UDPHeader(parsing: raw)
            #expect(h == UDPHeader(sourcePort: 53000, destinationPort: 53, length: 37, checksum: 0x7d0a))
        }
    }

    @Test func parsesKnownIPv6Datagram() throws {
        try Self.helloV6.withUnsafeBytes { raw throws in
            let d = try UDPDatagram(checking: raw)
            #expect(d.sourcePort == 40000)
            #expect(d.destinationPort == WellKnownPort.hna)
            #expect(Array(d.payload) == Array("hello, fabric!".utf8))
            #expect(d.checksumIsValid(source: Self.v6Source, destination: Self.v6Destination))
            #expect(!d.checksumIsValid(source: Self.v6Destination, destination: Self.v6Source.advanced()))
        }
    }

    @Test func fillReproducesKnownChecksums() {
        var v4 = Self.dnsQuery
        v4[6] = 0; v4[7] = 0
        v4.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: Self.dnsSource, destination: Self.dnsDestination) }
        #expect(v4 == Self.dnsQuery)
        var v6 = Self.helloV6
        v6[6] = 0xAA; v6[7] = 0x55
        v6.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: Self.v6Source, destination: Self.v6Destination) }
        #expect(v6 == Self.helloV6)
    }

    @Test func zeroChecksumMeansNoneOverIPv4ButIsInvalidOverIPv6() throws {
        var v4 = Self.dnsQuery
        v4[6] = 0; v4[7] = 0
        v4[20] ^= 0x40 // corrupt the payload too: with no checksum nothing can notice
        try v4.withUnsafeBytes { raw throws in
            #expect(try UDPDatagram(checking: raw).checksumIsValid(source: Self.dnsSource, destination: Self.dnsDestination))
        }
        var v6 = Self.helloV6
        v6[6] = 0; v6[7] = 0
        try v6.withUnsafeBytes { raw throws in
            #expect(!(try UDPDatagram(checking: raw).checksumIsValid(source: Self.v6Source, destination: Self.v6Destination)))
        }
    }

    @Test func computedZeroIsSentAsAllOnes() throws {
        // Pick the payload word so that the sum is 0xFFFF: the checksum would compute to 0, which must
        // go on the wire as 0xFFFF (zero means "no checksum").
        var bytes = UDPHeader(sourcePort: 1, destinationPort: 2, payloadLength: 2).emitted() + [0, 0]
        bytes.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: Self.dnsSource, destination: Self.dnsDestination) }
        let c = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        bytes[8] = UInt8(c >> 8); bytes[9] = UInt8(c & 0xFF)
        bytes.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: Self.dnsSource, destination: Self.dnsDestination) }
        #expect(bytes[6] == 0xFF && bytes[7] == 0xFF)
        try bytes.withUnsafeBytes { raw throws in
            #expect(try UDPDatagram(checking: raw).checksumIsValid(source: Self.dnsSource, destination: Self.dnsDestination))
        }
    }

    @Test func lengthFieldBoundsThePayload() throws {
        // Ethernet pads short frames: the padding is not payload.
        let padded = Self.dnsQuery + [0, 0, 0, 0, 0, 0]
        try padded.withUnsafeBytes { raw throws in
            let d = try UDPDatagram(checking: raw)
            #expect(d.length == 37 && d.payload.count == 29)
            #expect(d.checksumIsValid(source: Self.dnsSource, destination: Self.dnsDestination))
        }
        for bad in [0, 1, 7] {
            var b = Self.dnsQuery
            b[4] = 0; b[5] = UInt8(bad)
            #expect(L4.isMalformed(L4.error(b) { raw throws(WireError) in _ = try UDPDatagram(checking: raw) }))
        }
        var long = Self.dnsQuery
        long[5] = 38
        #expect(L4.isTruncated(L4.error(long) { raw throws(WireError) in _ = try UDPDatagram(checking: raw) }))
    }

    @Test func everyTruncationThrows() {
        for packet in [Self.dnsQuery, Self.helloV6] {
            for n in 0 ..< packet.count {
                let e = L4.error(Array(packet[..<n])) { raw throws(WireError) in _ = try UDPHeader(parsing: raw) }
                #expect(L4.isTruncated(e), "prefix \(n)")
            }
        }
    }

    @Test func roundTripsRandomHeaders() throws {
        var rng = SplitMix64(seed: 0x0DD_BA11)
        for _ in 0 ..< 5000 {
            let payload = rng.bytes(Int.random(in: 0 ... 64, using: &rng))
            let h = UDPHeader(sourcePort: rng.any(), destinationPort: rng.any(),
                              length: UInt16(8 + payload.count), checksum: rng.any())
            let bytes = L4.packet(h, payload: payload)
            try bytes.withUnsafeBytes { raw throws in
                #expect(try UDPHeader(parsing: raw) == h)
                #expect(Array(try UDPDatagram(checking: raw).payload) == payload)
            }
        }
    }

    @Test func emittedChecksumsVerifyAndAByteFlipBreaksThem() throws {
        var rng = SplitMix64(seed: 768)
        for round in 0 ..< 2000 {
            let payload = rng.bytes(Int.random(in: 0 ... 100, using: &rng))
            var bytes = UDPHeader(sourcePort: rng.any(), destinationPort: rng.any(), payloadLength: payload.count).emitted()
                + payload
            let v6 = round % 2 == 1
            let s4 = L4.randomIPv4(&rng), d4 = L4.randomIPv4(&rng)
            let s6 = L4.randomIPv6(&rng), d6 = L4.randomIPv6(&rng)
            bytes.withUnsafeMutableBytes { buf in
                if v6 {
                    UDPDatagram.fillChecksum(in: buf, source: s6, destination: d6)
                } else {
                    UDPDatagram.fillChecksum(in: buf, source: s4, destination: d4)
                }
            }
            func valid(_ b: [UInt8]) throws -> Bool {
                try b.withUnsafeBytes { raw throws in
                    let d = try UDPDatagram(checking: raw)
                    return v6 ? d.checksumIsValid(source: s6, destination: d6) : d.checksumIsValid(source: s4, destination: d4)
                }
            }
            #expect(bytes[6] != 0 || bytes[7] != 0)
            #expect(try valid(bytes))
            // Flip a byte outside the length field (which would change the framing, not the checksum).
            var i = Int.random(in: 0 ..< bytes.count, using: &rng)
            if i == 4 || i == 5 { i = 0 }
            var flipped = bytes
            flipped[i] ^= UInt8.random(in: 1 ... 255, using: &rng)
            let zeroedChecksum = flipped[6] == 0 && flipped[7] == 0
            if zeroedChecksum && !v6 { continue } // became "no checksum": legitimately accepted
            #expect(try !valid(flipped), "byte \(i) of \(bytes)")
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 17)
        for _ in 0 ..< 5000 {
            let bytes = rng.bytes(Int.random(in: 0 ... 24, using: &rng))
            bytes.withUnsafeBytes { raw in
                guard let d = try? UDPDatagram(checking: raw) else { return }
                _ = (d.sourcePort, d.destinationPort, d.checksum, d.payload.count)
                _ = d.checksumIsValid(source: IPv4Address.any, destination: .any)
                _ = d.checksumIsValid(source: IPv6Address.any, destination: .any)
            }
        }
    }

    @Test func entropyPortStaysInRangeAndSpreads() {
        let range = WellKnownPort.entropyRange
        #expect(UDPHeader.entropySourcePort(flowHash: 0) == range.lowerBound)
        #expect(range.contains(UDPHeader.entropySourcePort(flowHash: .max)))
        var rng = SplitMix64(seed: 4789)
        var buckets = [Int](repeating: 0, count: 16)
        let width = (Int(range.upperBound) - Int(range.lowerBound) + 1) / buckets.count
        let samples = 32000
        for _ in 0 ..< samples {
            let h = rng.any(UInt32.self)
            let p = UDPHeader.entropySourcePort(flowHash: h)
            #expect(range.contains(p))
            #expect(UDPHeader.entropySourcePort(flowHash: h) == p)
            buckets[(Int(p) - Int(range.lowerBound)) / width] += 1
        }
        // 2000 expected per bucket; the standard deviation is about 43.
        #expect(buckets.allSatisfy { (1700 ... 2300).contains($0) }, "\(buckets)")
        // A hash with entropy only in its low bits still spreads.
        let lowOnly = Set((0 ..< UInt32(4096)).map { UDPHeader.entropySourcePort(flowHash: $0) })
        #expect(lowOnly.count > 3500, "\(lowOnly.count) distinct ports")
    }
}

private extension IPv6Address {
    func advanced() -> IPv6Address { IPv6Address(high: high, low: low &+ 1) }
}
