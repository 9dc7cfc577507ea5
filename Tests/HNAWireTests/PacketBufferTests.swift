import Testing
@testable import HNAWire

@Suite struct PacketBufferTests {
    @Test func prependAndTrimMoveTheStartWithoutCopying() throws {
        let b = PacketBuffer(capacity: 64, headroom: 16)
        b.load([1, 2, 3, 4], headroom: 16)
        let dataStart = b.bytes.baseAddress
        let h = try #require(b.prepend(2))
        h.setU16(0xAABB, at: 0)
        #expect(b.array == [0xAA, 0xBB, 1, 2, 3, 4] && b.headroom == 14)
        // The original bytes did not move.
        #expect(b.bytes.baseAddress! + 2 == dataStart)
        #expect(b.trimFront(3))
        #expect(b.array == [2, 3, 4])
        #expect(!b.trimFront(4))
        #expect(b.prepend(18) == nil)
        #expect(b.truncate(to: 1) && b.array == [2])
        #expect(!b.truncate(to: 2))
    }

    @Test func appendStopsAtTheTailroom() {
        let b = PacketBuffer(capacity: 16, headroom: 8)
        b.reset(headroom: 8)
        #expect(b.append(8) != nil && b.tailroom == 0)
        #expect(b.append(1) == nil)
        #expect(!b.load([UInt8](repeating: 0, count: 9), headroom: 8))
    }

    @Test func resetClearsMetadataAndThePoolRecycles() {
        let pool = PacketPool(preallocate: 2, bufferCapacity: 128)
        let a = pool.take()
        a.meta.trace = true
        a.meta.ingressInterface = 7
        pool.recycle(a)
        let b = pool.take()
        #expect(b === a)
        #expect(b.meta == PacketMetadata())
        _ = pool.take()
        _ = pool.take()
        #expect(pool.allocations == 1)
    }
}
