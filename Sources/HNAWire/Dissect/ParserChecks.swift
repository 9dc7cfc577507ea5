/// One oracle per parser, shared by the fuzz targets (`hna-fuzz`) and the truncation tests: feed any
/// bytes; the parser must not trap, and whatever it accepts must round-trip (the value it parses emits
/// bytes that parse to the same value). `run` returns a description of a violation, or nil.
public enum ParserChecks {
    public struct Check: Sendable {
        public let name: String
        public let run: @Sendable (UnsafeRawBufferPointer) -> String?
    }

    /// Parses with `parse`; if accepted, emits and parses again and compares.
    static func roundTrip<H: WireEmittable & Equatable & Sendable>(
        _ name: String, _ parse: @escaping @Sendable (UnsafeRawBufferPointer) throws(WireError) -> H
    ) -> Check {
        Check(name: name) { bytes in
            guard let value = try? parse(bytes) else { return nil }
            let again = value.emitted()
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
