import Testing
import HNAWire
import HNATestSupport

@Suite struct MPLSTests {
    /// Three entries laid out by RFC 3032 figure 1 (label 20, TC 3, S 1, TTL 8), checked against scapy:
    /// label 0x12345 TC 5 TTL 255; the entropy label indicator (7); label 0xABCDE S=1 TTL 1; then the
    /// first bytes of an IPv6 header.
    static let stack: [UInt8] = [
        0x12, 0x34, 0x5a, 0xff,
        0x00, 0x00, 0x70, 0x00,
        0xab, 0xcd, 0xe1, 0x01,
        0x60, 0x00, 0x00, 0x00,
    ]

    @Test func parsesKnownStack() throws {
        try Self.stack.withUnsafeBytes { raw throws in
            let m = try MPLSPacket(checking: raw)
            #expect(m.depth == 3 && m.headerLength == 12)
            #expect(m.entry(0) == MPLSLabelStackEntry(label: MPLSLabel(rawValue: 0x12345), trafficClass: 5,
                                                      bottomOfStack: false, ttl: 255))
            #expect(m.entry(1).label == .entropyLabelIndicator && !m.entry(1).bottomOfStack && m.entry(1).ttl == 0)
            #expect(m.entry(2) == MPLSLabelStackEntry(label: MPLSLabel(rawValue: 0xABCDE), bottomOfStack: true, ttl: 1))
            #expect(m.payload.count == 4)
            #expect(m.payloadType == .ipv6)
        }
    }

    @Test func reservedLabelsHaveTheirRFCValues() {
        #expect(MPLSLabel.ipv4ExplicitNull.rawValue == 0)
        #expect(MPLSLabel.routerAlert.rawValue == 1)
        #expect(MPLSLabel.ipv6ExplicitNull.rawValue == 2)
        #expect(MPLSLabel.implicitNull.rawValue == 3)
        #expect(MPLSLabel.entropyLabelIndicator.rawValue == 7)
        #expect(MPLSLabel(rawValue: 15).isReserved && !MPLSLabel(rawValue: 16).isReserved)
    }

    @Test func payloadTypeComesFromTheVersionNibble() throws {
        // 0x45: an IPv4 header with IHL 5; 0x60: IPv6; 0x00: a pseudowire control word.
        for (first, expected) in [(UInt8(0x45), EtherType.ipv4), (0x4F, .ipv4), (0x60, .ipv6), (0x6A, .ipv6)] {
            let b: [UInt8] = [0x00, 0x06, 0x41, 0x40, first]
            try b.withUnsafeBytes { raw throws in #expect(try MPLSPacket(checking: raw).payloadType == expected) }
        }
        for first: UInt8 in [0x00, 0x10, 0x50, 0xF0] {
            let b: [UInt8] = [0x00, 0x06, 0x41, 0x40, first]
            try b.withUnsafeBytes { raw throws in #expect(try MPLSPacket(checking: raw).payloadType == nil) }
        }
        try [UInt8]([0x00, 0x06, 0x41, 0x40]).withUnsafeBytes { raw throws in
            #expect(try MPLSPacket(checking: raw).payloadType == nil)
        }
    }

    @Test func depthIsBounded() throws {
        // Eight entries without S: malformed, however many bytes follow.
        let noBottom = [UInt8](repeating: 0x10, count: 4 * 8 + 64).enumerated().map { $0.offset % 4 == 2 ? 0x00 : $0.element }
        #expect(L4.isMalformed(L4.error(noBottom) { raw throws(WireError) in _ = try MPLSPacket(checking: raw) }))
        // S on the eighth entry is the deepest accepted stack.
        var eight = noBottom
        eight[4 * 7 + 2] = 0x01
        let m = try eight.withUnsafeBytes { try MPLSLabelStack(parsing: $0) }
        #expect(m.entries.count == MPLSPacket.maxDepth)
    }

    @Test func runningOutBeforeTheBottomIsTruncated() throws {
        for n in 0 ..< 12 {
            let e = L4.error(Array(Self.stack[..<n])) { raw throws(WireError) in _ = try MPLSLabelStack(parsing: raw) }
            #expect(L4.isTruncated(e), "prefix \(n)")
        }
        let full = try Self.stack.withUnsafeBytes { try MPLSLabelStack(parsing: $0) }
        for n in 12 ... Self.stack.count {
            #expect(try Array(Self.stack[..<n]).withUnsafeBytes { try MPLSLabelStack(parsing: $0) } == full)
        }
    }

    static func randomEntry(_ rng: inout SplitMix64) -> MPLSLabelStackEntry {
        MPLSLabelStackEntry(label: MPLSLabel(rawValue: rng.any(UInt32.self)), trafficClass: rng.any(UInt8.self),
                            bottomOfStack: Bool.random(using: &rng), ttl: rng.any(UInt8.self))
    }

    @Test func roundTripsRandomStacks() throws {
        var rng = SplitMix64(seed: 3032)
        for _ in 0 ..< 5000 {
            let s = MPLSLabelStack((0 ..< Int.random(in: 1 ... MPLSPacket.maxDepth, using: &rng)).map { _ in Self.randomEntry(&rng) })
            #expect(s.entries.last!.bottomOfStack && s.entries.dropLast().allSatisfy { !$0.bottomOfStack })
            let payload = rng.bytes(Int.random(in: 0 ... 8, using: &rng))
            let bytes = L4.packet(s, payload: payload)
            try bytes.withUnsafeBytes { raw throws in
                #expect(try MPLSLabelStack(parsing: raw) == s)
                let m = try MPLSPacket(checking: raw)
                #expect(m.depth == s.entries.count && Array(m.payload) == payload)
            }
            let e = Self.randomEntry(&rng)
            #expect(MPLSLabelStackEntry(rawValue: e.rawValue) == e)
            try e.emitted().withUnsafeBytes { raw throws in
                #expect(MPLSLabelStackEntry(rawValue: raw.u32(at: 0)) == e)
            }
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 7510)
        for _ in 0 ..< 5000 {
            let bytes = rng.bytes(Int.random(in: 0 ... 40, using: &rng))
            bytes.withUnsafeBytes { raw in
                guard let m = try? MPLSPacket(checking: raw) else { return }
                #expect((1 ... MPLSPacket.maxDepth).contains(m.depth))
                #expect(m.entry(m.depth - 1).bottomOfStack)
                _ = (m.payloadType, (0 ..< m.depth).map(m.entry))
            }
        }
    }
}
