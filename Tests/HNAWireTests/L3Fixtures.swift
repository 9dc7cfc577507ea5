import HNATestSupport
import Testing
@testable import HNAWire

/// Helpers shared by the ARP, IPv4, IPv6, ICMPv4 and ICMPv6 tests.
enum L3Fixture {
    /// Bytes from a hex dump; spaces and newlines are ignored.
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = hex.filter { !$0.isWhitespace }
        precondition(digits.count % 2 == 0, "odd hex dump")
        var out: [UInt8] = []
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            out.append(UInt8(digits[i ..< j], radix: 16)!)
            i = j
        }
        return out
    }

    /// Every strict prefix of `packet` (including the empty one) must be refused with a `WireError`.
    static func expectEveryTruncationThrows(_ packet: [UInt8], _ parse: (UnsafeRawBufferPointer) throws -> Void,
                                            sourceLocation: SourceLocation = #_sourceLocation) {
        for n in 0 ..< packet.count {
            let prefix = Array(packet[0 ..< n])
            var threw = false
            do {
                try prefix.withUnsafeBytes { try parse($0) }
            } catch {
                threw = error is WireError
            }
            #expect(threw, "prefix of \(n) bytes was accepted", sourceLocation: sourceLocation)
        }
    }

    static func mac(_ rng: inout SplitMix64) -> MACAddress { MACAddress(rawValue: rng.any()) }
    static func ipv4(_ rng: inout SplitMix64) -> IPv4Address { IPv4Address(rawValue: rng.any()) }
    static func ipv6(_ rng: inout SplitMix64) -> IPv6Address { IPv6Address(high: rng.any(), low: rng.any()) }
}
