import HNATestSupport
import Testing
@testable import HNAWire

/// Fixtures laid out by hand from RFC 4443 and RFC 4861; their checksums (with the IPv6 pseudo-header
/// of the addresses given) were computed apart from this code.
@Suite struct ICMPv6Tests {
    static let linkLocal1 = IPv6Address("fe80::1")!
    static let linkLocal2 = IPv6Address("fe80::2")!
    static let solicitedNode2 = IPv6Address("ff02::1:ff00:2")!
    static let mac1 = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x01)
    static let mac2 = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x02)

    /// fe80::1 (52:54:00:12:34:01) asks ff02::1:ff00:2 who has fe80::2.
    static let ns = L3Fixture.bytes("""
        8700 f630 0000 0000 fe80 0000 0000 0000 0000 0000 0000 0002 0101 5254 0012 3401
        """)
    /// fe80::2 answers fe80::1: solicited, override, at 52:54:00:12:34:02.
    static let na = L3Fixture.bytes("""
        8800 93b3 6000 0000 fe80 0000 0000 0000 0000 0000 0000 0002 0201 5254 0012 3402
        """)
    /// 2001:db8::1 → 2001:db8::2, identifier 0x1c2b, sequence 1, 40 bytes of data 0x10...0x37.
    static let echo = L3Fixture.bytes("8000 4921 1c2b 0001") + (0x10 ... 0x37).map { UInt8($0) }
    /// fe80::200:5eff:fe00:1 → ff02::1: hop limit 64, lifetime 1800 s, source link-layer option, prefix
    /// information for 2001:db8:1::/64 (on-link, autonomous), MTU 1500.
    static let ra = L3Fixture.bytes("""
        8600 30e8 4000 0708 0000 0000 0000 0000
        0101 0200 5e00 0001
        0304 40c0 0027 8d00 0009 3a80 0000 0000 2001 0db8 0001 0000 0000 0000 0000 0000
        0501 0000 0000 05dc
        """)
    static let raSource = IPv6Address("fe80::200:5eff:fe00:1")!
    /// 2001:db8::ff tells 2001:db8::1 its UDP packet to 2001:db8::2 was too big for an MTU of 1280.
    static let packetTooBig = L3Fixture.bytes("""
        0200 faee 0000 0500
        6000 0000 0008 1140 2001 0db8 0000 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0002
        d431 0035 0008 0000
        """)

    static func parse(_ bytes: [UInt8]) throws -> ICMPv6Header {
        try bytes.withUnsafeBytes { try ICMPv6Header(parsing: $0) }
    }

    static func valid(_ bytes: [UInt8], _ source: IPv6Address, _ destination: IPv6Address) -> Bool? {
        bytes.withUnsafeBytes { try? ICMPv6Packet(checking: $0).checksumValid(source: source, destination: destination) }
    }

    static func error(_ bytes: [UInt8]) -> WireError? {
        do {
            _ = try parse(bytes)
            return nil
        } catch {
            return error as? WireError
        }
    }

    @Test func parsesANeighborSolicitation() throws {
        try Self.ns.withUnsafeBytes { b in
            let p = try ICMPv6Packet(checking: b)
            #expect(p.type == .neighborSolicitation && p.code == .zero)
            #expect(p.target == Self.linkLocal2)
            #expect(p.sourceLinkLayerAddress == Self.mac1)
            #expect(p.targetLinkLayerAddress == nil)
            #expect(p.checksumValid(source: Self.linkLocal1, destination: Self.solicitedNode2))
            // The pseudo-header counts: the same bytes from another source fail.
            #expect(!p.checksumValid(source: Self.linkLocal2, destination: Self.solicitedNode2))
        }
        let h = try Self.parse(Self.ns)
        #expect(h == .neighborSolicitation(target: Self.linkLocal2, sourceLinkLayer: Self.mac1))
        #expect(h.emitted(source: Self.linkLocal1, destination: Self.solicitedNode2) == Self.ns)
    }

    @Test func answersTheSolicitationWithTheExpectedAdvertisement() throws {
        let ns = try Self.parse(Self.ns)
        let na = ICMPv6Header.neighborAdvertisement(target: ns.target!, targetLinkLayer: Self.mac2, router: false,
                                                    solicited: true, override: true)
        #expect(na.emitted(source: Self.linkLocal2, destination: Self.linkLocal1) == Self.na)
        let parsed = try Self.parse(Self.na)
        #expect(parsed == na)
        #expect(!parsed.isRouter && parsed.isSolicited && parsed.isOverride)
        #expect(Self.valid(Self.na, Self.linkLocal2, Self.linkLocal1) == true)
    }

    @Test func parsesAnEchoRequest() throws {
        let src = IPv6Address("2001:db8::1")!, dst = IPv6Address("2001:db8::2")!
        let h = try Self.parse(Self.echo)
        #expect(h == .echoRequest(identifier: 0x1C2B, sequence: 1))
        #expect(h.identifier == 0x1C2B && h.sequence == 1)
        #expect(Self.valid(Self.echo, src, dst) == true)
        let body = Array(Self.echo[8...])
        #expect(Self.echo.withUnsafeBytes { Array(try! ICMPv6Packet(checking: $0).body) } == body)
        #expect(h.emitted(source: src, destination: dst, body: body) == Self.echo)
    }

    @Test func parsesARouterAdvertisementAndSkipsOtherOptions() throws {
        try Self.ra.withUnsafeBytes { b in
            let p = try ICMPv6Packet(checking: b)
            #expect(p.routerTimers == RouterAdvertisementTimers(reachableTime: 0, retransTimer: 0))
            #expect(p.sourceLinkLayerAddress == MACAddress(0x02, 0x00, 0x5E, 0x00, 0x00, 0x01))
            #expect(p.options.count == 48)
            #expect(p.target == nil)
            #expect(p.checksumValid(source: Self.raSource, destination: IPv6Address("ff02::1")!))
        }
        let h = try Self.parse(Self.ra)
        #expect(h.curHopLimit == 64 && !h.isManaged && !h.isOtherConfiguration && h.routerLifetime == 1800)
        #expect(h == .routerAdvertisement(curHopLimit: 64, routerLifetime: 1800,
                                          sourceLinkLayer: MACAddress(0x02, 0x00, 0x5E, 0x00, 0x00, 0x01)))
        // The prefix and MTU options are the body after the value's part.
        #expect(h.encodedLength == 24)
        #expect(h.emitted(source: Self.raSource, destination: IPv6Address("ff02::1")!, body: Array(Self.ra[24...])) == Self.ra)
    }

    @Test func parsesPacketTooBig() throws {
        let h = try Self.parse(Self.packetTooBig)
        #expect(h == .packetTooBig(mtu: 1280))
        #expect(h.type.isError)
        #expect(Self.valid(Self.packetTooBig, IPv6Address("2001:db8::ff")!, IPv6Address("2001:db8::1")!) == true)
        #expect(h.emitted(source: IPv6Address("2001:db8::ff")!, destination: IPv6Address("2001:db8::1")!,
                          body: Array(Self.packetTooBig[8...])) == Self.packetTooBig)
    }

    @Test func rejectsBadOptions() {
        func isMalformed(_ e: WireError?) -> Bool { if case .malformed = e { true } else { false } }
        func isTruncated(_ e: WireError?) -> Bool { if case .truncated = e { true } else { false } }
        func isUnsupported(_ e: WireError?) -> Bool { if case .unsupported = e { true } else { false } }
        var zero = Self.ns; zero[25] = 0
        #expect(isMalformed(Self.error(zero)))
        var zeroInRA = Self.ra; zeroInRA[57] = 0
        #expect(isMalformed(Self.error(zeroInRA)))
        var pastEnd = Self.ns; pastEnd[25] = 2
        #expect(isTruncated(Self.error(pastEnd)))
        var wideLinkLayer = Self.ns + [0, 0, 0, 0, 0, 0, 0, 0]; wideLinkLayer[25] = 2
        #expect(isUnsupported(Self.error(wideLinkLayer)))
    }

    @Test func keepsOnlyTheLinkLayerOptionTheTypeCarries() throws {
        // An NS with a target link-layer option (RFC 4861 allows only the source one there).
        var bytes = Self.ns; bytes[24] = 2
        try bytes.withUnsafeBytes { b in
            let p = try ICMPv6Packet(checking: b)
            #expect(p.sourceLinkLayerAddress == nil && p.targetLinkLayerAddress == Self.mac1)
        }
        #expect(try Self.parse(bytes).linkLayerAddress == nil)
    }

    @Test func truncationsThrowUnlessTheyEndOnAnOptionBoundary() throws {
        for packet in [Self.ns, Self.na, Self.ra] {
            let fixed = ICMPv6Packet.fixedLength(of: ICMPv6Type(rawValue: packet[0]))
            L3Fixture.expectEveryTruncationThrows(Array(packet[0 ..< fixed])) { b in _ = try ICMPv6Packet(checking: b) }
            var boundaries: Set<Int> = [fixed]
            var o = fixed
            while o < packet.count { o += 8 * Int(packet[o + 1]); boundaries.insert(o) }
            for n in fixed ..< packet.count {
                let ok = Array(packet[0 ..< n]).withUnsafeBytes { (try? ICMPv6Packet(checking: $0)) != nil }
                #expect(ok == boundaries.contains(n), "prefix of \(n) bytes")
            }
        }
        L3Fixture.expectEveryTruncationThrows(Array(Self.echo[0 ..< 8])) { b in _ = try ICMPv6Packet(checking: b) }
    }

    @Test func changingAnyByteBreaksTheChecksum() {
        let cases: [([UInt8], IPv6Address, IPv6Address)] = [
            (Self.ns, Self.linkLocal1, Self.solicitedNode2), (Self.na, Self.linkLocal2, Self.linkLocal1),
            (Self.echo, IPv6Address("2001:db8::1")!, IPv6Address("2001:db8::2")!),
            (Self.ra, Self.raSource, IPv6Address("ff02::1")!),
        ]
        for (packet, src, dst) in cases {
            #expect(Self.valid(packet, src, dst) == true)
            for i in packet.indices {
                for flip: UInt8 in [0x01, 0x80, 0xFF] {
                    var bytes = packet
                    bytes[i] ^= flip
                    // A change that breaks an option's length is refused before the checksum.
                    #expect(Self.valid(bytes, src, dst) != true, "byte \(i) ^ \(flip)")
                }
            }
        }
    }

    static func randomHeader(_ rng: inout SplitMix64) -> ICMPv6Header {
        let link: MACAddress? = Bool.random(using: &rng) ? L3Fixture.mac(&rng) : nil
        switch rng.next() % 6 {
        case 0:
            return .neighborSolicitation(target: L3Fixture.ipv6(&rng), sourceLinkLayer: link)
        case 1:
            return .neighborAdvertisement(target: L3Fixture.ipv6(&rng), targetLinkLayer: link,
                                          router: .random(using: &rng), solicited: .random(using: &rng),
                                          override: .random(using: &rng))
        case 2:
            return .routerSolicitation(sourceLinkLayer: link)
        case 3:
            return .routerAdvertisement(curHopLimit: rng.any(), managed: .random(using: &rng),
                                        otherConfiguration: .random(using: &rng), routerLifetime: rng.any(),
                                        timers: RouterAdvertisementTimers(reachableTime: rng.any(), retransTimer: rng.any()),
                                        sourceLinkLayer: link)
        default:
            // Any other type, code and rest: echo, errors, unknown types.
            var type = ICMPv6Type(rawValue: rng.any())
            while type.isNeighborDiscovery { type = ICMPv6Type(rawValue: rng.any()) }
            return ICMPv6Header(type: type, code: ICMPv6Code(rawValue: rng.any()), rest: rng.any())
        }
    }

    @Test func roundTripsRandomMessages() throws {
        var rng = SplitMix64(seed: 0x4443)
        for _ in 0 ..< 3000 {
            let h = Self.randomHeader(&rng)
            let src = L3Fixture.ipv6(&rng), dst = L3Fixture.ipv6(&rng)
            // NDP messages get no body here (a random one would not be valid options).
            let body = h.type.isNeighborDiscovery ? [] : rng.bytes(Int.random(in: 0 ... 64, using: &rng))
            let bytes = h.emitted(source: src, destination: dst, body: body)
            try bytes.withUnsafeBytes { b in
                let p = try ICMPv6Packet(checking: b)
                #expect(p.checksumValid(source: src, destination: dst))
                #expect(ICMPv6Header(p) == h)
            }
        }
    }
}
