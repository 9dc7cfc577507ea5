import Testing
import HNAWire
import HNATestSupport

@Suite struct GRETests {
    /// MPLS-over-GRE with C, K and S set (RFC 2784 + RFC 2890): key 0x12345, sequence 7, label 100
    /// (S=1, TTL 64) over an ICMP echo 10.1.0.1 -> 10.2.0.1. Built by scapy; the GRE checksum 0x6324
    /// re-checked by hand-summing in Python.
    static let mplsOverGRE: [UInt8] = [
        0xb0, 0x00, 0x88, 0x47, // C K S, version 0, protocol 0x8847
        0x63, 0x24, 0x00, 0x00, // checksum, reserved1
        0x00, 0x01, 0x23, 0x45, // key
        0x00, 0x00, 0x00, 0x07, // sequence
        0x00, 0x06, 0x41, 0x40, // label 100, S, TTL 64
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x66, 0xdc, 0x0a, 0x01, 0x00, 0x01,
        0x0a, 0x02, 0x00, 0x01, 0x08, 0x00, 0xf7, 0xff, 0x00, 0x00, 0x00, 0x00,
    ]

    @Test func parsesKnownPacket() throws {
        try Self.mplsOverGRE.withUnsafeBytes { raw throws in
            let g = try GREPacket(checking: raw)
            #expect(g.checksumPresent && g.keyPresent && g.sequencePresent)
            #expect(g.headerLength == 16)
            #expect(g.protocolType == .mplsUnicast)
            #expect(g.checksum == 0x6324 && g.key == 0x12345 && g.sequence == 7)
            #expect(g.checksumIsValid)
            #expect(g.payload.count == Self.mplsOverGRE.count - 16)
            #expect(try MPLSPacket(checking: g.payload).top.label == MPLSLabel(rawValue: 100))
            let h = try GREHeader(parsing: raw)
            #expect(h == GREHeader(protocolType: .mplsUnicast, checksumPresent: true, checksum: 0x6324, key: 0x12345, sequence: 7))
        }
    }

    @Test func minimalHeaderAndEachOptionalFieldAlone() throws {
        // RFC 2784's smallest header: no optional fields, protocol HNA.
        let plain: [UInt8] = [0x00, 0x00, 0x88, 0xb5, 0xAA]
        let p = try plain.withUnsafeBytes { try GREHeader(parsing: $0) }
        #expect(p == GREHeader(protocolType: .hna))
        #expect(p.encodedLength == 4)
        // K alone: the key directly follows the protocol type.
        let keyed: [UInt8] = [0x20, 0x00, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]
        let k = try keyed.withUnsafeBytes { try GREHeader(parsing: $0) }
        #expect(k == GREHeader(protocolType: .ipv4, key: 0xDEAD_BEEF))
        // S alone.
        let sequenced: [UInt8] = [0x10, 0x00, 0x86, 0xdd, 0x00, 0x00, 0x01, 0x00]
        let s = try sequenced.withUnsafeBytes { try GREHeader(parsing: $0) }
        #expect(s == GREHeader(protocolType: .ipv6, sequence: 256))
        // No checksum: nothing to verify.
        try keyed.withUnsafeBytes { raw throws in #expect(try GREPacket(checking: raw).checksumIsValid) }
    }

    @Test func refusesOtherVersionsAndRFC1701Features() {
        var v1 = Self.mplsOverGRE
        v1[1] = 0x01 // version 1: the PPTP variant
        #expect(L4.isUnsupported(L4.error(v1) { raw throws(WireError) in _ = try GREPacket(checking: raw) }))
        for bit: UInt8 in [0x40, 0x08, 0x04] { // routing, strict source route, recursion high bit
            var b = Self.mplsOverGRE
            b[0] |= bit
            #expect(L4.isUnsupported(L4.error(b) { raw throws(WireError) in _ = try GREPacket(checking: raw) }))
        }
        // The rest of the recursion field and the flag bits are ignored, as RFC 2784 asks.
        var ignored = Self.mplsOverGRE
        ignored[0] |= 0x03
        ignored[1] |= 0xF8
        #expect(L4.error(ignored) { raw throws(WireError) in _ = try GREPacket(checking: raw) } == nil)
    }

    @Test func everyTruncationOfTheHeaderThrows() throws {
        let full = try Self.mplsOverGRE.withUnsafeBytes { try GREHeader(parsing: $0) }
        for n in 0 ..< Self.mplsOverGRE.count {
            let prefix = Array(Self.mplsOverGRE[..<n])
            let e = L4.error(prefix) { raw throws(WireError) in _ = try GREHeader(parsing: raw) }
            if n < 16 {
                #expect(L4.isTruncated(e), "prefix \(n)")
            } else {
                #expect(e == nil)
                #expect(try prefix.withUnsafeBytes { try GREHeader(parsing: $0) } == full)
            }
        }
    }

    static func randomHeader(_ rng: inout SplitMix64) -> GREHeader {
        let c = Bool.random(using: &rng)
        return GREHeader(protocolType: EtherType(rawValue: rng.any(UInt16.self)), checksumPresent: c,
                         checksum: c ? rng.any(UInt16.self) : 0,
                         key: Bool.random(using: &rng) ? rng.any(UInt32.self) : nil,
                         sequence: Bool.random(using: &rng) ? rng.any(UInt32.self) : nil)
    }

    @Test func roundTripsRandomHeaders() throws {
        var rng = SplitMix64(seed: 2784)
        for _ in 0 ..< 5000 {
            let h = Self.randomHeader(&rng)
            let payload = rng.bytes(Int.random(in: 0 ... 16, using: &rng))
            let bytes = L4.packet(h, payload: payload)
            #expect(bytes.count == h.encodedLength + payload.count)
            try bytes.withUnsafeBytes { raw throws in
                #expect(try GREHeader(parsing: raw) == h)
                #expect(Array(try GREPacket(checking: raw).payload) == payload)
            }
        }
    }

    @Test func fillReproducesKnownChecksum() {
        var b = Self.mplsOverGRE
        b[4] = 0; b[5] = 0
        b.withUnsafeMutableBytes { GREPacket.fillChecksum(in: $0) }
        #expect(b == Self.mplsOverGRE)
    }

    @Test func emittedChecksumsVerifyAndAByteFlipBreaksThem() throws {
        var rng = SplitMix64(seed: 2890)
        for _ in 0 ..< 3000 {
            var h = Self.randomHeader(&rng)
            h.checksumPresent = true
            var bytes = L4.packet(h, payload: rng.bytes(Int.random(in: 0 ... 100, using: &rng)))
            bytes.withUnsafeMutableBytes { GREPacket.fillChecksum(in: $0) }
            func valid(_ b: [UInt8]) throws -> Bool {
                try b.withUnsafeBytes { raw throws in try GREPacket(checking: raw).checksumIsValid }
            }
            #expect(try valid(bytes))
            // Flip a byte past the flags (changing those changes the layout, not just the sum).
            let i = Int.random(in: 2 ..< bytes.count, using: &rng)
            var flipped = bytes
            flipped[i] ^= UInt8.random(in: 1 ... 255, using: &rng)
            #expect(try !valid(flipped), "byte \(i)")
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 47)
        for _ in 0 ..< 5000 {
            var bytes = rng.bytes(Int.random(in: 0 ... 20, using: &rng))
            if bytes.count > 1, Bool.random(using: &rng) { bytes[0] &= 0xB0; bytes[1] = 0 }
            bytes.withUnsafeBytes { raw in
                guard let g = try? GREPacket(checking: raw) else { return }
                _ = (g.protocolType, g.checksum, g.key, g.sequence, g.payload.count, g.checksumIsValid)
            }
        }
    }
}
