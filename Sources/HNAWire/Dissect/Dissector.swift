/// Layer-by-layer decoding of a captured frame, behind `hna decode`.
///
/// Each step checks one header with its view, records the fields a person (or a script reading
/// `--json`) wants, and picks the next step by the header's own demultiplexing field. A header that
/// fails its check stops the walk: the layers decoded so far are kept and the error is reported, so a
/// truncated or malformed packet is still shown as far as it goes.

/// One decoded header.
public struct DecodedLayer: Sendable, Equatable {
    /// `ethernet`, `ipv4`, `udp`, `hna`, ... (the `"type"` key of `--json`).
    public var type: String
    /// Ordered fields.
    public var fields: [(String, JSONValue)]

    public init(_ type: String, _ fields: [(String, JSONValue)]) {
        self.type = type
        self.fields = fields
    }

    public subscript(key: String) -> JSONValue? { fields.first(where: { $0.0 == key })?.1 }

    public static func == (a: DecodedLayer, b: DecodedLayer) -> Bool {
        a.type == b.type && JSONValue.object(a.fields) == JSONValue.object(b.fields)
    }

    public var json: JSONValue { .object([("type", .string(type))] + fields) }
}

/// A decoded frame: its layers, outermost first, and the error that stopped decoding, if any.
public struct DecodedPacket: Sendable, Equatable {
    public var layers: [DecodedLayer] = []
    public var error: WireError?

    public init(layers: [DecodedLayer] = [], error: WireError? = nil) {
        self.layers = layers
        self.error = error
    }

    /// The first layer of `type`.
    public func layer(_ type: String) -> DecodedLayer? { layers.first(where: { $0.type == type }) }

    /// `{"index": i, "layers": [...], "error": null | "message"}`.
    public func json(index: Int) -> JSONValue {
        .object([
            ("index", .integer(index)),
            ("layers", .array(layers.map(\.json))),
            ("error", error.map { .string($0.description) } ?? .null),
        ])
    }

    /// A few indented lines for people.
    public func text(index: Int, length: Int) -> String {
        var lines = ["#\(index)  \(length) bytes"]
        let width = layers.map(\.type.count).max() ?? 0
        for l in layers {
            let pad = String(repeating: " ", count: width - l.type.count)
            let fields = l.fields.map { k, v in "\(k)=\(Self.text(layer: l.type, key: k, value: v))" }
            lines.append("  \(l.type)\(pad)  " + fields.joined(separator: " "))
        }
        if let error { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }

    /// How people read a field: EtherTypes in hex, TCP flags by name, VLAN tags as vid/pcp. The JSON
    /// form keeps plain integers for scripts.
    static func text(layer: String, key: String, value: JSONValue) -> String {
        switch (layer, key, value) {
        case (_, "etherType", let .int(v)), ("gre", "protocol", let .int(v)):
            return EtherType(rawValue: UInt16(truncatingIfNeeded: v)).description
        case ("tcp", "flags", let .int(v)):
            let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"]
            let set = names.indices.filter { v >> Int64($0) & 1 == 1 }.map { names[$0] }
            return set.isEmpty ? "none" : set.joined(separator: ",")
        case ("ethernet", "vlans", let .array(tags)):
            return tags.map { t in "\(t["vid"].map(\.description) ?? "?")/\(t["pcp"].map(\.description) ?? "?")" }
                .joined(separator: ",")
        case (_, _, let .string(s)):
            return s
        default:
            return value.description
        }
    }
}

/// Which UDP ports mean which tunnel. Defaults are the well-known ports; a deployment that moved them
/// passes its own.
public struct DissectorPorts: Sendable {
    public var vxlan: Set<UInt16> = [WellKnownPort.vxlan]
    public var mplsOverUDP: Set<UInt16> = [WellKnownPort.mplsOverUDP]
    public var hna: Set<UInt16> = [WellKnownPort.hna]
    public init() {}
}

public struct Dissector: Sendable {
    public var ports: DissectorPorts
    /// The innermost IP addresses seen so far, for the transport checksums' pseudo-header.
    enum AddressContext { case none, v4(IPv4Address, IPv4Address), v6(IPv6Address, IPv6Address) }
    var context: AddressContext = .none
    /// Bound on decoded layers, so nested tunnels cannot make the walk unbounded.
    public static let maxLayers = 32

    public init(ports: DissectorPorts = DissectorPorts()) { self.ports = ports }

    /// What to decode next.
    enum Step {
        case ethernet, arp, ipv4, ipv6, ipByVersion, icmp, icmpv6, udp, tcp, gre, mpls, vxlan, hna, payload
    }

    public func decode(_ packet: CapturedPacket) -> DecodedPacket {
        packet.data.withUnsafeBytes { decode($0, linkType: packet.linkType) }
    }

    public func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType = .ethernet) -> DecodedPacket {
        var walker = self
        walker.context = .none
        return walker.walk(frame, linkType: linkType)
    }

    mutating func walk(_ frame: UnsafeRawBufferPointer, linkType: LinkType) -> DecodedPacket {
        var out = DecodedPacket()
        var step: Step
        var bytes = frame
        switch linkType {
        case .ethernet: step = .ethernet
        case .raw: step = .ipByVersion
        case .ipv4: step = .ipv4
        case .ipv6: step = .ipv6
        default:
            out.error = .unsupported(header: "capture", reason: "link type \(linkType)")
            return out
        }
        while out.layers.count < Self.maxLayers {
            do throws(WireError) {
                guard let (next, rest) = try decodeOne(step, bytes, into: &out) else { return out }
                step = next
                bytes = rest
            } catch {
                out.error = error
                return out
            }
        }
        out.error = .malformed(header: "packet", reason: "more than \(Self.maxLayers) layers")
        return out
    }

    /// Decodes one header and returns the next step and its bytes, or nil when the walk is done.
    mutating func decodeOne(_ step: Step, _ bytes: UnsafeRawBufferPointer, into out: inout DecodedPacket) throws(WireError) -> (Step, UnsafeRawBufferPointer)? {
        switch step {
        case .payload:
            if bytes.count > 0 { out.layers.append(DecodedLayer("payload", [("length", .integer(bytes.count))])) }
            return nil

        case .ethernet:
            let f = try EthernetFrame(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("src", .string(f.source.description)),
                ("dst", .string(f.destination.description)),
                ("etherType", .integer(f.etherType.rawValue)),
            ]
            if f.tagCount > 0 {
                fields.append(("vlans", .array((0 ..< f.tagCount).map { i in
                    let t = f.tag(i)
                    return .object([("tpid", .integer(t.tpid.rawValue)), ("pcp", .integer(t.pcp)),
                                    ("dei", .bool(t.dei)), ("vid", .integer(t.vid))])
                })))
            }
            out.layers.append(DecodedLayer("ethernet", fields))
            return (next(etherType: f.etherType), f.payload)

        case .hna:
            let h = try HNAHeaderView(checking: bytes)
            let p = h.priorityCount
            var fields: [(String, JSONValue)] = [
                ("version", .integer(HNAHeader.version)),
                ("nextProtocol", .string(h.nextProtocol.description)),
                ("priority", .integer(h.priority)),
                ("priorities", .integer(p)),
                ("timestamp", .integer(h.timestamp)),
                ("queueLengths", .array((0 ..< p).map { .integer(h.queueLength($0)) })),
                ("grantedRates", .array((0 ..< p).map { .integer(h.grantedRate($0)) })),
                ("heartbeat", .bool(h.nextProtocol == .none && !h.hasData)),
                ("retransmission", .bool(h.isRetransmission)),
            ]
            if let s = h.sequence { fields.append(("sequence", .integer(s))) }
            if h.hasAcks { fields.append(("acks", .array((0 ..< p).map { .integer(h.ack($0)!) }))) }
            if h.hasNacks {
                fields.append(("nacks", .array((0 ..< h.nackCount).map { i in
                    let n = h.nack(i)
                    return .object([("priority", .integer(n.priority)), ("first", .integer(n.first)),
                                    ("count", .integer(n.count))])
                })))
            }
            out.layers.append(DecodedLayer("hna", fields))
            let next: Step
            switch h.nextProtocol {
            case .vxlan: next = .vxlan
            case .mpls: next = .mpls
            case .ethernet: next = .ethernet
            case .ipv4: next = .ipv4
            case .ipv6: next = .ipv6
            default: next = .payload
            }
            return (next, h.payload)

        default:
            return try decodeProtocols(step, bytes, into: &out)
        }
    }

    func next(etherType: EtherType) -> Step {
        switch etherType {
        case .ipv4: return .ipv4
        case .ipv6: return .ipv6
        case .arp: return .arp
        case .mplsUnicast, .mplsMulticast: return .mpls
        case .transparentEthernetBridging: return .ethernet
        case .hna: return .hna
        default: return .payload
        }
    }

    func next(udpDestination dst: UInt16, source src: UInt16) -> Step {
        if ports.hna.contains(dst) { return .hna }
        if ports.vxlan.contains(dst) { return .vxlan }
        if ports.mplsOverUDP.contains(dst) { return .mpls }
        return .payload
    }
}
