import HNATestSupport
import Testing
@testable import HNAWire

@Suite struct ARPTests {
    /// A who-has request laid out by hand from RFC 826 (24.166.172.1 at 00:07:0d:af:f4:54 asks for
    /// 24.166.173.159), followed by the 18 bytes of padding that bring its Ethernet frame to 60 bytes.
    static let request = L3Fixture.bytes("""
        0001 0800 0604 0001 0007 0daf f454 18a6 ac01 0000 0000 0000 18a6 ad9f
        0000 0000 0000 0000 0000 0000 0000 0000 0000
        """)

    @Test func parsesACapturedRequestAndIgnoresPadding() throws {
        let h = try Self.request.withUnsafeBytes { try ARPHeader(parsing: $0) }
        #expect(h.operation == .request)
        #expect(h.senderMAC == MACAddress(0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54))
        #expect(h.senderIP == IPv4Address(24, 166, 172, 1))
        #expect(h.targetMAC == .zero)
        #expect(h.targetIP == IPv4Address(24, 166, 173, 159))
        // The packet is 28 bytes; emitting it again gives the capture without the padding.
        #expect(h.emitted() == Array(Self.request[0 ..< 28]))
    }

    @Test func replyAnswersTheRequest() throws {
        let request = try Self.request.withUnsafeBytes { try ARPHeader(parsing: $0) }
        let mac = MACAddress(0x02, 0, 0, 0, 0, 0x01)
        let reply = request.reply(with: mac)
        let expected = L3Fixture.bytes("""
            0001 0800 0604 0002 0200 0000 0001 18a6 ad9f 0007 0daf f454 18a6 ac01
            """)
        #expect(reply.emitted() == expected)
    }

    @Test func unknownOperationIsData() throws {
        var bytes = Self.request
        bytes[7] = 9
        let h = try bytes.withUnsafeBytes { try ARPHeader(parsing: $0) }
        #expect(h.operation == ARPOperation(rawValue: 9))
    }

    @Test func otherHardwareOrProtocolTypesAreUnsupported() {
        var ieee802 = Self.request
        ieee802[1] = 6
        var ipv6 = Self.request
        ipv6[2] = 0x86
        ipv6[3] = 0xDD
        for bytes in [ieee802, ipv6] {
            #expect {
                try bytes.withUnsafeBytes { try ARPHeader(parsing: $0) }
            } throws: { e in
                if case .unsupported = e as? WireError { return true } else { return false }
            }
        }
    }

    @Test func wrongAddressLengthsAreMalformed() {
        for (index, value) in [(4, UInt8(8)), (5, UInt8(16)), (4, UInt8(0))] {
            var bytes = Self.request
            bytes[index] = value
            #expect {
                try bytes.withUnsafeBytes { try ARPHeader(parsing: $0) }
            } throws: { e in
                if case .malformed = e as? WireError { return true } else { return false }
            }
        }
    }

    @Test func everyTruncationThrows() {
        L3Fixture.expectEveryTruncationThrows(Array(Self.request[0 ..< 28])) { b in
            _ = try ARPPacket(checking: b)
        }
    }

    @Test func roundTripsRandomValues() throws {
        var rng = SplitMix64(seed: 0xA12B)
        for _ in 0 ..< 5000 {
            let h = ARPHeader(operation: ARPOperation(rawValue: rng.any()), senderMAC: L3Fixture.mac(&rng),
                              senderIP: L3Fixture.ipv4(&rng), targetMAC: L3Fixture.mac(&rng),
                              targetIP: L3Fixture.ipv4(&rng))
            let bytes = h.emitted()
            #expect(bytes.count == ARPPacket.length)
            #expect(try bytes.withUnsafeBytes { try ARPHeader(parsing: $0) } == h)
        }
    }
}
