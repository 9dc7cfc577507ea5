import Testing
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
