import HNATestSupport
import Testing
@testable import HNAWire

@Suite struct IPv4Tests {
    /// The widely published header-checksum example: 192.168.0.1 → 192.168.0.199, UDP, TTL 64, DF,
    /// total length 115, checksum 0xb861. The payload is filler.
    static let udp = L3Fixture.bytes("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
        + [UInt8](repeating: 0x5A, count: 95)

    /// An IGMPv2 report for 224.0.0.251 with the Router Alert option (RFC 2113), DSCP CS6, TTL 1; both
    /// checksums computed by hand.
    static let igmpWithOptions = L3Fixture.bytes("""
        46c0 0020 0000 4000 0102 4172 c0a8 0102 e000 00fb 9404 0000
        1600 0904 e000 00fb
        """)

    @Test func parsesThePublishedChecksumExample() throws {
        try Self.udp.withUnsafeBytes { b in
            let p = try IPv4Packet(checking: b)
            #expect(p.headerLength == 20)
            #expect(p.totalLength == 115)
            #expect(p.dscp == 0 && p.ecn == 0)
            #expect(p.identification == 0)
            #expect(p.dontFragment && !p.moreFragments && p.fragmentOffset == 0 && !p.isFragment)
            #expect(p.ttl == 64)
            #expect(p.protocol == .udp)
            #expect(p.checksum == 0xB861)
            #expect(p.checksumValid)
            #expect(p.source == IPv4Address(192, 168, 0, 1))
            #expect(p.destination == IPv4Address(192, 168, 0, 199))
            #expect(p.options.isEmpty)
            #expect(p.payload.count == 95)
        }
        let h = try Self.udp.withUnsafeBytes { try IPv4Header(parsing: $0) }
        #expect(h.payloadLength == 95)
        // The emitter computes the published checksum.
        #expect(h.emitted() == Array(Self.udp[0 ..< 20]))
    }

    @Test func keepsOptionsAsBytesAndIgnoresEthernetPadding() throws {
        // Padded to the 46-byte minimum Ethernet payload.
        let padded = Self.igmpWithOptions + [UInt8](repeating: 0, count: 14)
        try padded.withUnsafeBytes { b in
            let p = try IPv4Packet(checking: b)
            #expect(p.headerLength == 24)
            #expect(p.dscp == 48)
            #expect(p.ttl == 1)
            #expect(p.protocol == IPProtocol(rawValue: 2))
            #expect(Array(p.options) == [0x94, 0x04, 0x00, 0x00])
            #expect(Array(p.payload) == [0x16, 0x00, 0x09, 0x04, 0xE0, 0x00, 0x00, 0xFB])
            #expect(p.checksumValid)
        }
        let h = try padded.withUnsafeBytes { try IPv4Header(parsing: $0) }
        #expect(h.options == [0x94, 0x04, 0x00, 0x00])
        #expect(h.emitted() == Array(Self.igmpWithOptions[0 ..< 24]))
    }

    @Test func readsFragmentFields() throws {
        // MF set, offset 3 (24 bytes); identification 0x1234.
        var bytes = Self.udp
        bytes[4] = 0x12; bytes[5] = 0x34
        bytes[6] = 0x20; bytes[7] = 0x03
        let p = try bytes.withUnsafeBytes { try IPv4Header(parsing: $0) }
        #expect(p.identification == 0x1234)
        #expect(!p.dontFragment && p.moreFragments && p.fragmentOffset == 3)
    }

    static func error(_ bytes: [UInt8]) -> WireError? {
        do {
            _ = try bytes.withUnsafeBytes { try IPv4Header(parsing: $0) }
            return nil
        } catch {
            return error as? WireError
        }
    }

    @Test func rejectsBadVersionHeaderAndTotalLengths() {
        func isMalformed(_ e: WireError?) -> Bool { if case .malformed = e { true } else { false } }
        func isTruncated(_ e: WireError?) -> Bool { if case .truncated = e { true } else { false } }
        var v6 = Self.udp; v6[0] = 0x65
        #expect(isMalformed(Self.error(v6)))
        var ihl4 = Self.udp; ihl4[0] = 0x44
        #expect(isMalformed(Self.error(ihl4)))
        var totalBelowHeader = Self.udp; totalBelowHeader[2] = 0; totalBelowHeader[3] = 19
        #expect(isMalformed(Self.error(totalBelowHeader)))
        var totalBeyondBuffer = Self.udp; totalBeyondBuffer[3] = 0x74
        #expect(isTruncated(Self.error(totalBeyondBuffer)))
        // IHL 15 (60 bytes) with a 40-byte buffer whose total length claims 40.
        var ihlBeyondBuffer = Array(Self.udp[0 ..< 40]); ihlBeyondBuffer[0] = 0x4F; ihlBeyondBuffer[3] = 40
        #expect(isTruncated(Self.error(ihlBeyondBuffer)))
        var reserved = Self.udp; reserved[6] = 0xC0
        #expect(isMalformed(Self.error(reserved)))
    }

    @Test func everyTruncationThrows() {
        L3Fixture.expectEveryTruncationThrows(Self.igmpWithOptions) { b in
            _ = try IPv4Packet(checking: b)
        }
        L3Fixture.expectEveryTruncationThrows(Self.udp) { b in _ = try IPv4Packet(checking: b) }
    }

    @Test func changingAnyHeaderByteBreaksTheChecksum() throws {
        for packet in [Self.udp, Self.igmpWithOptions] {
            let hl = Int(packet[0] & 0xF) * 4
            for i in 0 ..< hl {
                for flip: UInt8 in [0x01, 0x80, 0xFF] {
                    var bytes = packet
                    bytes[i] ^= flip
                    // A change the check refuses (version, lengths) is caught before the checksum.
                    let valid = bytes.withUnsafeBytes { b in (try? IPv4Packet(checking: b))?.checksumValid }
                    #expect(valid != true, "byte \(i) ^ \(flip)")
                }
            }
        }
    }

    static func randomHeader(_ rng: inout SplitMix64) -> IPv4Header {
        let options = rng.bytes(4 * Int.random(in: 0 ... 10, using: &rng))
        let hl = 20 + options.count
        let payload = rng.next() % 8 == 0 ? 65535 - hl : Int.random(in: 0 ... 1500, using: &rng)
        return IPv4Header(
            source: L3Fixture.ipv4(&rng), destination: L3Fixture.ipv4(&rng), protocol: IPProtocol(rawValue: rng.any()),
            payloadLength: payload, ttl: rng.any(), dscp: rng.any(), ecn: rng.any(), identification: rng.any(),
            dontFragment: Bool.random(using: &rng), moreFragments: Bool.random(using: &rng),
            fragmentOffset: rng.any(), options: options)
    }

    @Test func roundTripsRandomHeadersWithValidChecksums() throws {
        var rng = SplitMix64(seed: 0x1F4)
        for _ in 0 ..< 3000 {
            let h = Self.randomHeader(&rng)
            var bytes = [UInt8](repeating: 0, count: h.totalLength)
            bytes.withUnsafeMutableBytes { h.emit(into: $0) }
            try bytes.withUnsafeBytes { b in
                let p = try IPv4Packet(checking: b)
                #expect(p.checksumValid)
                #expect(p.payload.count == h.payloadLength)
                #expect(IPv4Header(p) == h)
            }
        }
    }

    @Test func ttlDecrementPatchesTheChecksumLikeARecomputation() throws {
        var rng = SplitMix64(seed: 0x1624)
        for _ in 0 ..< 2000 {
            var h = Self.randomHeader(&rng)
            h.payloadLength = 0
            h.ttl = UInt8.random(in: 1 ... 255, using: &rng)
            var bytes = h.emitted()
            let new = bytes.withUnsafeMutableBytes { IPv4Packet.decrementTTL(in: $0) }
            #expect(new == h.ttl - 1)
            h.ttl -= 1
            // Incremental update and full recomputation agree bit for bit (RFC 1624 avoids -0).
            #expect(bytes == h.emitted())
        }
        // Down from the published example to zero, then no further.
        var bytes = Self.udp
        for expected in (0 ..< 64).reversed() {
            let new = bytes.withUnsafeMutableBytes { IPv4Packet.decrementTTL(in: $0) }
            #expect(new == UInt8(expected))
            #expect(bytes.withUnsafeBytes { try! IPv4Packet(checking: $0).checksumValid })
        }
        let before = bytes
        #expect(bytes.withUnsafeMutableBytes { IPv4Packet.decrementTTL(in: $0) } == nil)
        #expect(bytes == before)
        var short = [UInt8](repeating: 0x45, count: 19)
        #expect(short.withUnsafeMutableBytes { IPv4Packet.decrementTTL(in: $0) } == nil)
    }
}
