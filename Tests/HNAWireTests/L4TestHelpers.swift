import Testing
import HNAWire
import HNATestSupport

/// Shared by the UDP/TCP/GRE/MPLS/VXLAN suites.
enum L4 {
    /// The `WireError` `body` throws on `bytes`, or nil when it parses.
    static func error(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> Void) -> WireError? {
        bytes.withUnsafeBytes { raw in
            do throws(WireError) {
                try body(raw)
                return nil
            } catch {
                return error
            }
        }
    }

    static func isTruncated(_ e: WireError?) -> Bool {
        if case .truncated = e { return true }
        return false
    }

    static func isMalformed(_ e: WireError?) -> Bool {
        if case .malformed = e { return true }
        return false
    }

    static func isUnsupported(_ e: WireError?) -> Bool {
        if case .unsupported = e { return true }
        return false
    }

    /// Emits `value` followed by `payload` in one buffer, as the datapath lays a packet out.
    static func packet(_ value: some WireEmittable, payload: [UInt8]) -> [UInt8] {
        value.emitted() + payload
    }

    static func randomIPv4(_ rng: inout SplitMix64) -> IPv4Address { IPv4Address(rawValue: rng.any(UInt32.self)) }
    static func randomIPv6(_ rng: inout SplitMix64) -> IPv6Address { IPv6Address(high: rng.any(UInt64.self), low: rng.any(UInt64.self)) }
}
