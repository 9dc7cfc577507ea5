import HNATestSupport
import Testing
@testable import HNACore

@Suite struct SupportTests {
    /// The call-free ceiling agrees with the library's rounding on whole numbers, on values just
    /// around them, on the negative fractions it maps to zero, and on random magnitudes up to 2^60.
    @Test func ceilingMatchesRoundingUp() {
        var rng = HNATestSupport.SplitMix64(seed: 97)
        var values: [Double] = [0, -0.0, -0.25, -0.999, 0.5, 1, 1.0000001, 2.5, 1e15 + 0.5, 0x1p53, 0x1p60,
                                0x1p62.nextDown, 0x1p62, 0x1p62.nextUp, 0x1p63.nextDown]
        for _ in 0 ..< 20_000 {
            let magnitude = Double(1 << (rng.next() % 60))
            let x = Double(rng.next() >> 11) * 0x1p-53 * magnitude
            values.append(x)
            values.append(x.rounded(.down))
            values.append(x.rounded(.down).nextUp)
            values.append(x.rounded(.down).nextDown)
        }
        for x in values where x > -1 {
            #expect(ceilToUInt64(x) == UInt64(x.rounded(.up)), "x \(x)")
        }
    }
}

@Suite struct RawRingTests {
    /// A ring never used holds no buffer (most lanes of a large fabric never queue anything); filled
    /// past its capacity while wrapped around, it keeps FIFO order; a copy has its own buffer; indexed
    /// writes change the element in place; release leaves it empty and unallocated.
    @Test func growsLazilyKeepsOrderAndCopiesApart() {
        var r = RawRing<Int>()
        #expect(r.capacity == 0 && r.isEmpty && r.first == nil && r.popFirst() == nil)
        for i in 0 ..< 3 { r.append(i) }
        #expect(r.capacity == 4)
        #expect(r.removeFirst() == 0 && r.removeFirst() == 1)
        // Wrapped: head at 2, then growth while wrapped.
        for i in 3 ..< 40 { r.append(i) }
        #expect(r.count == 38 && r.capacity == 64)
        #expect((0 ..< r.count).map { r[$0] } == Array(2 ..< 40))
        r[5] += 1000
        #expect(r[5] == 1007)
        var c = r.copy()
        c[0] = -1
        #expect(r.first == 2 && c.first == -1 && c.count == r.count)
        var drained: [Int] = []
        while let x = r.popFirst() { drained.append(x) }
        #expect(drained.count == 38 && drained.first == 2 && drained.last == 39)
        #expect(r.isEmpty && r.head == 0)
        c.release()
        r.release()
        #expect(c.capacity == 0 && c.isEmpty && r.capacity == 0)
    }
}
