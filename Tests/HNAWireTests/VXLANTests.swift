import Testing
import HNAWire
import HNATestSupport

@Suite struct VXLANTests {
    /// RFC 7348 section 5: flags 0x08 (I), 24 reserved bits, VNI 0xABCDEF, 8 reserved bits; then the
    /// start of an inner Ethernet frame.
    static let known: [UInt8] = [0x08, 0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01]

    @Test func parsesKnownHeader() throws {
        try Self.known.withUnsafeBytes { raw throws in
            let v = try VXLANPacket(checking: raw)
            #expect(v.vni == 0xAB_CDEF)
            #expect(Array(v.payload) == [0x02, 0x00, 0x00, 0x00, 0x00, 0x01])
        }
        #expect(VXLANHeader(vni: 0xAB_CDEF).emitted() == Array(Self.known[..<8]))
    }

    @Test func theIFlagIsRequiredAndReservedBitsAreIgnored() throws {
        var clear = Self.known
        clear[0] = 0x00
        #expect(L4.isMalformed(L4.error(clear) { raw throws(WireError) in _ = try VXLANPacket(checking: raw) }))
        clear[0] = 0xF7 // every flag but I
        #expect(L4.isMalformed(L4.error(clear) { raw throws(WireError) in _ = try VXLANPacket(checking: raw) }))
        var noisy = Self.known
        noisy[0] = 0xFF; noisy[1] = 0x12; noisy[2] = 0x34; noisy[3] = 0x56; noisy[7] = 0x78
        let h = try noisy.withUnsafeBytes { try VXLANHeader(parsing: $0) }
        #expect(h.vni == 0xAB_CDEF)
        #expect(h.emitted() == Array(Self.known[..<8]))
    }

    @Test func everyTruncationOfTheHeaderThrows() {
        for n in 0 ..< 8 {
            #expect(L4.isTruncated(L4.error(Array(Self.known[..<n])) { raw throws(WireError) in _ = try VXLANHeader(parsing: raw) }))
        }
        for n in 8 ... Self.known.count {
            #expect(L4.error(Array(Self.known[..<n])) { raw throws(WireError) in _ = try VXLANHeader(parsing: raw) } == nil)
        }
    }

    @Test func roundTripsRandomVNIs() throws {
        var rng = SplitMix64(seed: 7348)
        for _ in 0 ..< 5000 {
            let h = VXLANHeader(vni: rng.any(UInt32.self))
            #expect(h.vni <= VXLANHeader.maxVNI)
            let payload = rng.bytes(Int.random(in: 0 ... 8, using: &rng))
            try L4.packet(h, payload: payload).withUnsafeBytes { raw throws in
                #expect(try VXLANHeader(parsing: raw) == h)
                #expect(Array(try VXLANPacket(checking: raw).payload) == payload)
            }
        }
    }

    /// MPLS-over-UDP has no header of its own: the stack follows UDP to port 6635 directly.
    @Test func mplsOverUDPIsUDPThenAStack() throws {
        let stack = MPLSLabelStack([MPLSLabelStackEntry(label: MPLSLabel(rawValue: 1000), bottomOfStack: true, ttl: 64)])
        let inner: [UInt8] = [0x45, 0, 0, 20]
        let udp = UDPHeader(sourcePort: UDPHeader.entropySourcePort(flowHash: 42), destinationPort: WellKnownPort.mplsOverUDP,
                            payloadLength: stack.encodedLength + inner.count)
        let bytes = udp.emitted() + stack.emitted() + inner
        try bytes.withUnsafeBytes { raw throws in
            let d = try UDPDatagram(checking: raw)
            #expect(d.destinationPort == 6635)
            let m = try MPLSPacket(checking: d.payload)
            #expect(m.top.label.rawValue == 1000 && m.payloadType == .ipv4)
        }
    }
}
