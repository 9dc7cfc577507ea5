/// One oracle per parser, shared by the fuzz targets (`hna-fuzz`) and the truncation tests: feed any
/// bytes; the parser must not trap, and whatever it accepts must round-trip (the value it parses emits
/// bytes that parse to the same value). `run` returns a description of a violation, or nil.
public enum ParserChecks {
    public struct Check: Sendable {
        public let name: String
        public let run: @Sendable (UnsafeRawBufferPointer) -> String?
    }

    /// Parses with `parse`; if accepted, emits the value over a copy of the input (so length fields that
    /// count payload still find their payload) and parses again: the value must come back unchanged.
    ///
    /// `overInput: false` emits into a fresh buffer instead, for values that keep only part of what
    /// follows their fixed header (ICMPv6 keeps one NDP option; emitting it over the input would leave
    /// the input's other options behind as garbage).
    static func roundTrip<H: WireEmittable & Equatable & Sendable>(
        _ name: String, overInput: Bool = true,
        _ parse: @escaping @Sendable (UnsafeRawBufferPointer) throws(WireError) -> H
    ) -> Check {
        Check(name: name) { bytes in
            guard let value = try? parse(bytes) else { return nil }
            guard value.encodedLength <= bytes.count else {
                return "parsed value needs \(value.encodedLength) bytes, the input had \(bytes.count)"
            }
            var again = overInput ? Array(bytes) : [UInt8](repeating: 0, count: value.encodedLength)
            again.withUnsafeMutableBytes { value.emit(into: $0) }
            let back = again.withUnsafeBytes { raw -> Result<H, WireError> in
                do throws(WireError) { return .success(try parse(raw)) } catch { return .failure(error) }
            }
            switch back {
            case let .failure(error): return "re-parse of emitted bytes failed: \(error)"
            case let .success(b): return b == value ? nil : "round trip changed the value: \(value) -> \(b)"
            }
        }
    }

    public static let all: [Check] = [
        roundTrip("ethernet") { b throws(WireError) in try EthernetHeader(parsing: b) },
        roundTrip("hna") { b throws(WireError) in try HNAHeader(parsing: b) },
        roundTrip("arp") { b throws(WireError) in try ARPHeader(parsing: b) },
        roundTrip("ipv4") { b throws(WireError) in try IPv4Header(parsing: b) },
        roundTrip("ipv6") { b throws(WireError) in try IPv6Header(parsing: b) },
        Check(name: "ipv6-extensions") { bytes in
            guard let p = try? IPv6Packet(checking: bytes), let u = try? p.upperLayer() else { return nil }
            return u.offset <= IPv6Packet.headerLength + p.payloadLength ? nil : "upper layer beyond the payload"
        },
        roundTrip("icmpv4") { b throws(WireError) in try ICMPv4Header(parsing: b) },
        roundTrip("icmpv6", overInput: false) { b throws(WireError) in try ICMPv6Header(parsing: b) },
        roundTrip("udp") { b throws(WireError) in try UDPHeader(parsing: b) },
        roundTrip("tcp") { b throws(WireError) in try TCPHeader(parsing: b) },
        Check(name: "tcp-options") { bytes in
            guard let t = try? TCPSegment(checking: bytes) else { return nil }
            var it = t.options
            var n = 0
            while (try? it.next()) != nil, n <= 40 { n += 1 }
            return n <= 40 ? nil : "option walk did not end"
        },
        roundTrip("gre") { b throws(WireError) in try GREHeader(parsing: b) },
        roundTrip("mpls") { b throws(WireError) in try MPLSLabelStack(parsing: b) },
        roundTrip("vxlan") { b throws(WireError) in try VXLANHeader(parsing: b) },
        Check(name: "dissector") { bytes in
            // Must terminate with at most maxLayers layers, whatever the input.
            let d = Dissector().decode(bytes)
            return d.layers.count <= Dissector.maxLayers ? nil : "too many layers"
        },
        Check(name: "capture") { bytes in
            _ = CaptureReader.read(Array(bytes))
            return nil
        },
    ]
}
