import HNATestSupport
import HNAWire
import Testing

/// The Internet checksum against the textbook definition (RFC 1071: big-endian 16-bit words, a trailing
/// odd byte padded with zero, end-around carry), over lengths that cross every path of the fast loop
/// and added piecewise at odd and even split points.
@Suite("Internet checksum")
struct ChecksumTests {
    /// The definition, one word at a time.
    static func reference(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let hi = UInt32(bytes[i])
            let lo = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            sum += hi << 8 | lo
            sum = (sum & 0xFFFF) + (sum >> 16)
            i += 2
        }
        return ~UInt16(sum)
    }

    static func randomBytes(_ n: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test func matchesTheDefinitionAtEveryLengthUpToThreeKilobytes() {
        var rng = SplitMix64(seed: 0xC4EC)
        for n in 0 ... 3000 {
            let bytes = Self.randomBytes(n, &rng)
            let got = bytes.withUnsafeBytes { InternetChecksum.of($0) }
            #expect(got == Self.reference(bytes), "length \(n)")
        }
    }

    @Test func piecewiseSumsEqualTheWholeAtAnySplit() {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0 ..< 2000 {
            let n = Int(rng.next() % 4000)
            let bytes = Self.randomBytes(n, &rng)
            // Up to four pieces, split anywhere (odd offsets included).
            var cuts = (0 ..< Int(rng.next() % 4)).map { _ in n == 0 ? 0 : Int(rng.next() % UInt64(n + 1)) }
            cuts.sort()
            var c = InternetChecksum()
            var from = 0
            bytes.withUnsafeBytes { raw in
                for cut in cuts + [n] {
                    c.add(UnsafeRawBufferPointer(rebasing: raw[from ..< cut]))
                    from = cut
                }
            }
            #expect(c.checksum == Self.reference(bytes), "length \(n) cuts \(cuts)")
        }
    }

    /// All-ones words are where a sum that drops an end-around carry goes wrong.
    @Test func saturatedAndZeroDataGiveTheDefinitionsValue() {
        for n in [0, 1, 2, 63, 64, 65, 1500, 9000, 65535] {
            for fill: UInt8 in [0x00, 0xFF] {
                let bytes = [UInt8](repeating: fill, count: n)
                #expect(bytes.withUnsafeBytes { InternetChecksum.of($0) } == Self.reference(bytes), "\(n) x \(fill)")
            }
        }
    }
}
