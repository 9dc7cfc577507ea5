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
