import Testing
import HNATestSupport
@testable import HNAWire

@Suite struct HNAHeaderTests {
    @Test func heartbeatForFourPrioritiesMakesA64ByteFrame() {
        let hb = HNAHeader(nextProtocol: .none, timestamp: 7,
                           queueLengths: PriorityVector([1, 2, 3, 4]), grantedRates: PriorityVector([5, 6, 7, 8]))
        // Ethernet 14 + IPv4 20 + UDP 8 + heartbeat.
        #expect(14 + 20 + 8 + hb.encodedLength == 64)
    }

    @Test func roundTripsEveryOptionalPart() throws {
        let h = HNAHeader(nextProtocol: .mpls, priority: 2, timestamp: 0xDEAD_BEEF,
                          queueLengths: PriorityVector([1, 2, 3]), grantedRates: PriorityVector([9, 8, 7]),
                          sequence: 65535, acks: PriorityVector([4, 5, 6]),
                          nacks: [HNANack(priority: 1, first: 65530, count: 12)], isRetransmission: true)
        let bytes = h.emitted()
        let back = try bytes.withUnsafeBytes { try HNAHeader(parsing: $0) }
        #expect(back == h)
    }

    @Test func rejectsPriorityOutsideCount() {
        // version 1, priority 3, one priority.
        let bytes: [UInt8] = [0x40 | 0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(throws: WireError.self) { try bytes.withUnsafeBytes { try HNAHeader(parsing: $0) } }
    }
}

@Suite struct HNAHeaderPropertyTests {
    /// Random headers of every shape: 1-8 priorities, every optional part on or off, up to 8 NACKs.
    @Test func randomHeadersRoundTrip() throws {
        var rng = SplitMix64(seed: 0x4E4A)
        for _ in 0 ..< 5000 {
            let p = Int.random(in: 1 ... HNAHeader.maxPriorities, using: &rng)
            let q = PriorityVector((0 ..< p).map { _ in rng.any(UInt16.self) })
            let r = PriorityVector((0 ..< p).map { _ in rng.any(UInt16.self) })
            let acks = Bool.random(using: &rng) ? PriorityVector((0 ..< p).map { _ in rng.any(UInt16.self) }) : nil
            let nacks = (0 ..< Int.random(in: 0 ... 8, using: &rng)).map { _ in
                HNANack(priority: UInt8.random(in: 0 ... 7, using: &rng), first: rng.any(),
                        count: UInt16.random(in: 1 ... HNANack.maxCount, using: &rng))
            }
            let h = HNAHeader(nextProtocol: HNANextProtocol(rawValue: UInt8.random(in: 0 ... 5, using: &rng)),
                              priority: UInt8.random(in: 0 ..< UInt8(p), using: &rng), timestamp: rng.any(),
                              queueLengths: q, grantedRates: r,
                              sequence: Bool.random(using: &rng) ? rng.any(UInt16.self) : nil,
                              acks: acks, nacks: nacks, isRetransmission: Bool.random(using: &rng))
            let bytes = h.emitted()
            #expect(bytes.count == h.encodedLength)
            let back = try bytes.withUnsafeBytes { try HNAHeader(parsing: $0) }
            #expect(back == h)
            // The view agrees on the length, so a payload behind the header starts where it should.
            let withPayload = bytes + [0xAB, 0xCD]
            let payload = try withPayload.withUnsafeBytes { raw in Array(try HNAHeaderView(checking: raw).payload) }
            #expect(payload == [0xAB, 0xCD])
        }
    }
}

@Suite struct EthernetPropertyTests {
    @Test func randomFramesRoundTrip() throws {
        var rng = SplitMix64(seed: 0xE7)
        for _ in 0 ..< 5000 {
            let tags = (0 ..< Int.random(in: 0 ... EthernetFrame.maxTags, using: &rng)).map { i in
                VLANTag(tpid: i == 0 && Bool.random(using: &rng) ? .qinq : .vlan, pcp: UInt8.random(in: 0 ... 7, using: &rng),
                        dei: Bool.random(using: &rng), vid: UInt16.random(in: 0 ... 4095, using: &rng))
            }
            var type = EtherType(rawValue: rng.any())
            while type.isVLANTag { type = EtherType(rawValue: rng.any()) }
            let h = EthernetHeader(destination: MACAddress(rawValue: rng.any()), source: MACAddress(rawValue: rng.any()),
                                   vlans: tags, etherType: type)
            let bytes = h.emitted()
            let back = try bytes.withUnsafeBytes { try EthernetHeader(parsing: $0) }
            #expect(back == h)
        }
    }

    @Test func tooManyTagsIsMalformedNotATrap() {
        var bytes = EthernetHeader(destination: .broadcast, source: .zero, etherType: .ipv4).emitted()
        for _ in 0 ... EthernetFrame.maxTags { bytes.insert(contentsOf: [0x81, 0x00, 0x00, 0x01], at: 12) }
        #expect(throws: WireError.self) { try bytes.withUnsafeBytes { try EthernetHeader(parsing: $0) } }
    }
}
