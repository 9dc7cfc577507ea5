import HNATestSupport
import Testing
@testable import HNAWire

@Suite struct IPv6Tests {
    /// An MLDv2 report (what a host sends when it joins ff02::1:ff00:1): hop limit 1, a hop-by-hop header
    /// with the Router Alert option and PadN, then ICMPv6 type 143. Laid out by hand from RFC 8200,
    /// RFC 2711 and RFC 3810.
    static let mldReport = L3Fixture.bytes("""
        6000 0000 0024 0001 fe80 0000 0000 0000 0200 5eff fe00 0001 ff02 0000 0000 0000 0000 0000 0000 0016
        3a00 0502 0000 0100
        8f00 1207 0000 0001 0400 0000 ff02 0000 0000 0000 0000 0001 ff00 0001
        """)

    /// 2001:db8::1 → 2001:db8::2 with every walked kind of extension header before a UDP header:
    /// hop-by-hop, destination options, a type 2 routing header (24 bytes), a first fragment
    /// (identification 0xdeadbeef, M set), AH with a 96-bit ICV (payload length 4: 24 bytes).
    static let chain = L3Fixture.bytes("""
        6000 0000 0050 0040 2001 0db8 0000 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0002
        3c00 0104 0000 0000
        2b00 0104 0000 0000
        2c02 0201 0000 0000 2001 0db8 0000 0000 0000 0000 0000 0099
        3300 0001 dead beef
        1104 0000 0000 0100 0000 0001 0102 0304 0506 0708 090a 0b0c
        d431 0035 0008 0000
        """)

    /// A non-first fragment: offset 23 (184 bytes), M clear, then 16 bytes of UDP payload continuation.
    static let laterFragment = L3Fixture.bytes("""
        6000 0000 0018 2c40 2001 0db8 0000 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0002
        1100 00b8 dead beef
        0000 0000 0000 0000 0000 0000 0000 0000
        """)

    static func packet(nextHeader: UInt8, extensions: [UInt8]) -> [UInt8] {
        var header = Array(chain[0 ..< 40])
        header[4] = UInt8(extensions.count >> 8)
        header[5] = UInt8(extensions.count & 0xFF)
        header[6] = nextHeader
        return header + extensions
    }

    static func error(_ bytes: [UInt8], walk: Bool) -> WireError? {
        do {
            try bytes.withUnsafeBytes { b in
                let p = try IPv6Packet(checking: b)
                if walk { _ = try p.upperLayer() }
            }
            return nil
        } catch {
            return error as? WireError
        }
    }

    static func isMalformed(_ e: WireError?) -> Bool { if case .malformed = e { true } else { false } }
    static func isTruncated(_ e: WireError?) -> Bool { if case .truncated = e { true } else { false } }
    static func isUnsupported(_ e: WireError?) -> Bool { if case .unsupported = e { true } else { false } }

    @Test func parsesAnMLDReportWithAHopByHopHeader() throws {
        // Trailing bytes past the payload length (link-layer padding) are not payload.
        let bytes = Self.mldReport + [0, 0, 0, 0]
        try bytes.withUnsafeBytes { b in
            let p = try IPv6Packet(checking: b)
            #expect(p.trafficClass == 0 && p.flowLabel == 0)
            #expect(p.payloadLength == 36)
            #expect(p.payload.count == 36)
            #expect(p.nextHeader == .hopByHop)
            #expect(p.hopLimit == 1)
            #expect(p.source == IPv6Address("fe80::200:5eff:fe00:1"))
            #expect(p.destination == IPv6Address("ff02::16"))
            let upper = try p.upperLayer()
            #expect(upper == IPv6UpperLayer(protocol: .icmpv6, offset: 48, fragment: nil, extensionHeaderCount: 1))
            #expect(upper.hasUpperLayerHeader)
        }
        let h = try bytes.withUnsafeBytes { try IPv6Header(parsing: $0) }
        #expect(h.emitted() == Array(Self.mldReport[0 ..< 40]))
    }

    @Test func walksEveryExtensionHeaderKindToTheUpperLayer() throws {
        let upper = try Self.chain.withUnsafeBytes { try IPv6Packet(checking: $0).upperLayer() }
        #expect(upper.protocol == .udp)
        #expect(upper.offset == 112)
        #expect(upper.extensionHeaderCount == 5)
        #expect(upper.fragment == IPv6FragmentInfo(offset: 0, moreFragments: true, identification: 0xDEAD_BEEF))
        #expect(upper.hasUpperLayerHeader)
        // The UDP destination port (53) is where the walk says.
        #expect(Self.chain[upper.offset + 2] == 0x00 && Self.chain[upper.offset + 3] == 0x35)
    }

    @Test func stopsAfterTheFragmentHeaderOfALaterFragment() throws {
        let upper = try Self.laterFragment.withUnsafeBytes { try IPv6Packet(checking: $0).upperLayer() }
        #expect(upper.protocol == .udp)
        #expect(upper.offset == 48)
        #expect(upper.fragment == IPv6FragmentInfo(offset: 23, moreFragments: false, identification: 0xDEAD_BEEF))
        #expect(!upper.hasUpperLayerHeader)
    }

    @Test func genericHeadersUseEightByteUnits() throws {
        // Mobility (135), HIP (139) and shim6 (140), each 16 bytes (length 1), then TCP.
        var ext: [UInt8] = []
        for next: UInt8 in [139, 140, 6] {
            ext += [next, 1] + [UInt8](repeating: 0, count: 14)
        }
        let bytes = Self.packet(nextHeader: 135, extensions: ext + [UInt8](repeating: 0, count: 20))
        let upper = try bytes.withUnsafeBytes { try IPv6Packet(checking: $0).upperLayer() }
        #expect(upper == IPv6UpperLayer(protocol: .tcp, offset: 88, fragment: nil, extensionHeaderCount: 3))
    }

    @Test func espAndNoNextHeaderEndTheWalk() throws {
        let esp = Self.packet(nextHeader: 60, extensions: [50, 0, 1, 4, 0, 0, 0, 0] + [UInt8](repeating: 0xEE, count: 16))
        let upper = try esp.withUnsafeBytes { try IPv6Packet(checking: $0).upperLayer() }
        #expect(upper == IPv6UpperLayer(protocol: .esp, offset: 48, fragment: nil, extensionHeaderCount: 1))

        // Payload length 0 and No Next Header: a valid, empty packet (padded by Ethernet).
        let empty = Self.packet(nextHeader: 59, extensions: []) + [UInt8](repeating: 0, count: 6)
        try empty.withUnsafeBytes { b in
            let p = try IPv6Packet(checking: b)
            #expect(p.payload.isEmpty)
            #expect(try p.upperLayer() == IPv6UpperLayer(protocol: .ipv6NoNext, offset: 40, fragment: nil,
                                                         extensionHeaderCount: 0))
        }
    }

    @Test func boundsTheWalk() throws {
        func destinationOptions(_ n: Int) -> [UInt8] {
            var ext: [UInt8] = []
            for i in 0 ..< n { ext += [i == n - 1 ? 59 : 60, 0, 1, 4, 0, 0, 0, 0] }
            return Self.packet(nextHeader: 60, extensions: ext)
        }
        let eight = try destinationOptions(IPv6Packet.maxExtensionHeaders).withUnsafeBytes {
            try IPv6Packet(checking: $0).upperLayer()
        }
        #expect(eight.extensionHeaderCount == 8 && eight.offset == 40 + 64)
        #expect(Self.isMalformed(Self.error(destinationOptions(IPv6Packet.maxExtensionHeaders + 1), walk: true)))
    }

    @Test func rejectsBadChains() {
        // Hop-by-hop after a destination options header.
        let lateHopByHop = Self.packet(nextHeader: 60, extensions: [0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0])
        #expect(Self.isMalformed(Self.error(lateHopByHop, walk: true)))
        // Two fragment headers.
        let twoFragments = Self.packet(nextHeader: 44, extensions: [44, 0, 0, 1, 0, 0, 0, 1, 17, 0, 0, 1, 0, 0, 0, 1])
        #expect(Self.isMalformed(Self.error(twoFragments, walk: true)))
        // A routing header whose length runs past the payload (but not past the buffer: padding).
        let longRouting = Self.packet(nextHeader: 43, extensions: [17, 255, 2, 0, 0, 0, 0, 0]) + [UInt8](repeating: 0, count: 64)
        #expect(Self.isTruncated(Self.error(longRouting, walk: true)))
        // AH whose 4-byte units run past the payload.
        let longAH = Self.packet(nextHeader: 51, extensions: [17, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        #expect(Self.isTruncated(Self.error(longAH, walk: true)))
        // A fragment header cut short.
        let shortFragment = Self.packet(nextHeader: 44, extensions: [17, 0, 0, 1])
        #expect(Self.isTruncated(Self.error(shortFragment, walk: true)))
        // The header is fine; only the walk fails.
        #expect(Self.error(longRouting, walk: false) == nil)
    }

    @Test func rejectsBadFixedHeaders() {
        var v4 = Self.chain; v4[0] = 0x40
        #expect(Self.isMalformed(Self.error(v4, walk: false)))
        var long = Self.chain; long[5] = 0x51
        #expect(Self.isTruncated(Self.error(long, walk: false)))
        let jumbo = Self.packet(nextHeader: 0, extensions: []) + [0x3A, 0, 0xC2, 4, 0, 1, 0, 0]
        #expect(Self.isUnsupported(Self.error(jumbo, walk: false)))
    }

    @Test func everyTruncationThrows() {
        for packet in [Self.mldReport, Self.chain, Self.laterFragment] {
            L3Fixture.expectEveryTruncationThrows(packet) { b in _ = try IPv6Packet(checking: b) }
        }
    }

    @Test func walkNeverTrapsOnRandomChains() {
        // Random bytes after a header whose next header and payload are random: the walk either ends
        // inside the payload or throws.
        var rng = SplitMix64(seed: 0x8200)
        let kinds: [UInt8] = [0, 43, 44, 50, 51, 59, 60, 135, 139, 140, 6, 17, 58]
        var walked = 0, refused = 0
        for _ in 0 ..< 5000 {
            var ext = rng.bytes(Int.random(in: 0 ... 200, using: &rng))
            // Mostly extension-header numbers in next-header positions, so chains get long.
            for i in stride(from: 0, to: ext.count, by: 8) { ext[i] = kinds.randomElement(using: &rng)! }
            let bytes = Self.packet(nextHeader: kinds.randomElement(using: &rng)!, extensions: ext)
            let result = bytes.withUnsafeBytes { b in Result { () throws(WireError) in try IPv6Packet(checking: b).upperLayer() } }
            switch result {
            case let .success(upper):
                walked += 1
                #expect(upper.offset >= 40 && upper.offset <= bytes.count)
                #expect(upper.extensionHeaderCount <= IPv6Packet.maxExtensionHeaders)
            case .failure:
                refused += 1
            }
        }
        #expect(walked > 0 && refused > 0)
    }

    @Test func roundTripsRandomHeaders() throws {
        var rng = SplitMix64(seed: 0x6)
        for _ in 0 ..< 3000 {
            let h = IPv6Header(source: L3Fixture.ipv6(&rng), destination: L3Fixture.ipv6(&rng),
                               nextHeader: IPProtocol(rawValue: UInt8.random(in: 1 ... 255, using: &rng)),
                               payloadLength: UInt16.random(in: 0 ... 2000, using: &rng), hopLimit: rng.any(),
                               trafficClass: rng.any(), flowLabel: rng.any())
            let bytes = h.emitted() + [UInt8](repeating: 0, count: Int(h.payloadLength))
            #expect(try bytes.withUnsafeBytes { try IPv6Header(parsing: $0) } == h)
        }
    }

    @Test func decrementsTheHopLimit() {
        var bytes = Self.mldReport
        #expect(bytes.withUnsafeMutableBytes { IPv6Packet.decrementHopLimit(in: $0) } == 0)
        #expect(bytes[7] == 0)
        #expect(bytes.withUnsafeMutableBytes { IPv6Packet.decrementHopLimit(in: $0) } == nil)
        #expect(bytes == Self.mldReport.enumerated().map { $0.offset == 7 ? 0 : $0.element })
    }
}
