import HNATestSupport
import Testing
@testable import HNAWire

@Suite struct ICMPv4Tests {
    /// The echo request a Windows ping sends (identifier 1, sequence 33, the 32-byte alphabet body);
    /// checksum 0x4d3a.
    static let echo = L3Fixture.bytes("0800 4d3a 0001 0021") + Array("abcdefghijklmnopqrstuvwabcdefghi".utf8)

    /// The IPv4 header and first 8 bytes (a UDP header) of the packet that caused an error.
    static let quoted = L3Fixture.bytes("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 d431 0035 005f 0000")

    /// Fragmentation needed with a next-hop MTU of 1500 (RFC 1191 section 4), checksum by hand.
    static let fragmentationNeeded = L3Fixture.bytes("0304 225a 0000 05dc") + quoted

    /// Time exceeded in transit, checksum by hand.
    static let timeExceeded = L3Fixture.bytes("0b00 203a 0000 0000") + quoted

    @Test func parsesAnEchoRequest() throws {
        try Self.echo.withUnsafeBytes { b in
            let p = try ICMPv4Packet(checking: b)
            #expect(p.type == .echoRequest && p.code == .zero)
            #expect(p.checksum == 0x4D3A)
            #expect(p.checksumValid)
            #expect(p.identifier == 1 && p.sequence == 33)
            #expect(Array(p.body) == Array(Self.echo[8...]))
        }
        let h = try Self.echo.withUnsafeBytes { try ICMPv4Header(parsing: $0) }
        #expect(h == .echoRequest(identifier: 1, sequence: 33))
        #expect(h.emitted(body: Array(Self.echo[8...])) == Self.echo)
    }

    @Test func echoReplyDiffersOnlyInTypeAndChecksum() {
        let reply = ICMPv4Header.echoReply(identifier: 1, sequence: 33).emitted(body: Array(Self.echo[8...]))
        // Type 8 → 0 lowers the first word by 0x0800, so the checksum rises by 0x0800.
        #expect(reply == [0x00, 0x00, 0x55, 0x3A] + Self.echo[4...])
    }

    @Test func parsesErrorsWithTheirQuotedPacket() throws {
        let frag = try Self.fragmentationNeeded.withUnsafeBytes { b in
            let p = try ICMPv4Packet(checking: b)
            #expect(p.checksumValid)
            #expect(p.nextHopMTU == 1500)
            #expect(p.type.isError)
            // The quoted packet is cut after 8 bytes of its payload, so it is read field by field.
            #expect(IPv4Address(reading: p.body, at: IPv4Packet.Field.source) == IPv4Address(192, 168, 0, 1))
            return ICMPv4Header(p)
        }
        #expect(frag == .fragmentationNeeded(nextHopMTU: 1500))
        #expect(frag.code == .fragmentationNeeded && frag.type == .destinationUnreachable)
        #expect(frag.emitted(body: Self.quoted) == Self.fragmentationNeeded)

        let te = try Self.timeExceeded.withUnsafeBytes { try ICMPv4Header(parsing: $0) }
        #expect(te == .timeExceeded())
        #expect(te.emitted(body: Self.quoted) == Self.timeExceeded)
    }

    @Test func truncationsThrowOrFailTheChecksum() {
        for packet in [Self.echo, Self.fragmentationNeeded] {
            L3Fixture.expectEveryTruncationThrows(Array(packet[0 ..< 8])) { b in _ = try ICMPv4Packet(checking: b) }
            // Past the header, the message is whatever the IP payload holds: the checksum catches a cut,
            // except one that drops only zero bytes (they add nothing to the sum).
            for n in 8 ..< packet.count {
                let valid = Array(packet[0 ..< n]).withUnsafeBytes { try? ICMPv4Packet(checking: $0).checksumValid }
                #expect(valid == packet[n...].allSatisfy { $0 == 0 }, "prefix of \(n) bytes")
            }
        }
    }

    @Test func changingAnyByteBreaksTheChecksum() {
        for packet in [Self.echo, Self.fragmentationNeeded, Self.timeExceeded] {
            for i in packet.indices {
                for flip: UInt8 in [0x01, 0x80, 0xFF] {
                    var bytes = packet
                    bytes[i] ^= flip
                    let valid = bytes.withUnsafeBytes { try? ICMPv4Packet(checking: $0).checksumValid }
                    #expect(valid == false, "byte \(i) ^ \(flip)")
                }
            }
        }
    }

    @Test func emitsInPlaceOverABodyAlreadyThere() {
        var message = [UInt8](repeating: 0, count: 8) + Array(Self.echo[8...])
        message.withUnsafeMutableBytes { ICMPv4Header.echoRequest(identifier: 1, sequence: 33).emit(into: $0) }
        #expect(message == Self.echo)
    }

    @Test func roundTripsRandomMessages() throws {
        var rng = SplitMix64(seed: 0x792)
        for _ in 0 ..< 3000 {
            let h = ICMPv4Header(type: ICMPv4Type(rawValue: rng.any()), code: ICMPv4Code(rawValue: rng.any()), rest: rng.any())
            let body = rng.bytes(Int.random(in: 0 ... 100, using: &rng))
            let bytes = h.emitted(body: body)
            try bytes.withUnsafeBytes { b in
                let p = try ICMPv4Packet(checking: b)
                #expect(p.checksumValid)
                #expect(Array(p.body) == body)
                #expect(ICMPv4Header(p) == h)
            }
        }
    }
}
