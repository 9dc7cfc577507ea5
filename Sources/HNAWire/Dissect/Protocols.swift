/// The dissector's steps for the standard protocols (Ethernet and the HNA header are in Dissector.swift).
extension Dissector {
    mutating func decodeProtocols(_ step: Step, _ bytes: UnsafeRawBufferPointer, into out: inout DecodedPacket) throws(WireError) -> (Step, UnsafeRawBufferPointer)? {
        switch step {
        case .arp:
            let a = try ARPPacket(checking: bytes)
            out.layers.append(DecodedLayer("arp", [
                ("operation", .integer(a.operation.rawValue)),
                ("senderMAC", .string(a.senderMAC.description)),
                ("senderIP", .string(a.senderIP.description)),
                ("targetMAC", .string(a.targetMAC.description)),
                ("targetIP", .string(a.targetIP.description)),
            ]))
            return nil

        case .ipByVersion:
            guard bytes.count > 0 else { throw .truncated(header: "ip", needed: 1, available: 0) }
            switch bytes.u8(at: 0) >> 4 {
            case 4: return (.ipv4, bytes)
            case 6: return (.ipv6, bytes)
            default: return (.payload, bytes)
            }

        case .ipv4:
            let p = try IPv4Packet(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("src", .string(p.source.description)),
                ("dst", .string(p.destination.description)),
                ("ttl", .integer(p.ttl)),
                ("protocol", .integer(p.protocol.rawValue)),
                ("totalLength", .integer(p.totalLength)),
                ("checksumValid", .bool(p.checksumValid)),
                ("headerLength", .integer(p.headerLength)),
                ("dscp", .integer(p.dscp)),
                ("ecn", .integer(p.ecn)),
                ("identification", .integer(p.identification)),
                ("dontFragment", .bool(p.dontFragment)),
            ]
            if p.isFragment {
                fields.append(("moreFragments", .bool(p.moreFragments)))
                fields.append(("fragmentOffset", .integer(Int(p.fragmentOffset) * 8)))
            }
            out.layers.append(DecodedLayer("ipv4", fields))
            context = .v4(p.source, p.destination)
            // A later fragment carries no upper-layer header to decode.
            if p.fragmentOffset != 0 { return (.payload, p.payload) }
            return (next(ipProtocol: p.protocol), p.payload)

        case .ipv6:
            let p = try IPv6Packet(checking: bytes)
            let upper = try p.upperLayer()
            var fields: [(String, JSONValue)] = [
                ("src", .string(p.source.description)),
                ("dst", .string(p.destination.description)),
                ("hopLimit", .integer(p.hopLimit)),
                ("nextHeader", .integer(p.nextHeader.rawValue)),
                ("payloadLength", .integer(p.payloadLength)),
                ("trafficClass", .integer(p.trafficClass)),
                ("flowLabel", .integer(p.flowLabel)),
                ("upperLayerProtocol", .integer(upper.protocol.rawValue)),
                ("extensionHeaders", .integer(upper.extensionHeaderCount)),
            ]
            if let f = upper.fragment {
                fields.append(("fragmentOffset", .integer(Int(f.offset) * 8)))
                fields.append(("moreFragments", .bool(f.moreFragments)))
                fields.append(("fragmentIdentification", .integer(f.identification)))
            }
            out.layers.append(DecodedLayer("ipv6", fields))
            context = .v6(p.source, p.destination)
            let rest = p.bytes.slice(0, IPv6Packet.headerLength + p.payloadLength).tail(from: upper.offset)
            guard upper.hasUpperLayerHeader else { return (.payload, rest) }
            return (next(ipProtocol: upper.protocol), rest)

        case .icmp:
            let m = try ICMPv4Packet(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("icmpType", .integer(m.type.rawValue)),
                ("code", .integer(m.code.rawValue)),
                ("checksumValid", .bool(m.checksumValid)),
            ]
            if m.type == .echoRequest || m.type == .echoReply {
                fields.append(("identifier", .integer(m.identifier)))
                fields.append(("sequence", .integer(m.sequence)))
            }
            if m.type == .destinationUnreachable, m.code == .fragmentationNeeded {
                fields.append(("nextHopMTU", .integer(m.nextHopMTU)))
            }
            out.layers.append(DecodedLayer("icmp", fields))
            // Error messages quote the packet that caused them.
            return (m.type.isError ? .ipv4 : .payload, m.body)

        case .icmpv6:
            let m = try ICMPv6Packet(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("icmpType", .integer(m.type.rawValue)),
                ("code", .integer(m.code.rawValue)),
            ]
            if case let .v6(src, dst) = context {
                fields.append(("checksumValid", .bool(m.checksumValid(source: src, destination: dst))))
            }
            if m.type == .packetTooBig { fields.append(("mtu", .integer(m.mtu))) }
            if let t = m.target { fields.append(("target", .string(t.description))) }
            if let l = m.sourceLinkLayerAddress { fields.append(("sourceLinkLayerAddress", .string(l.description))) }
            if let l = m.targetLinkLayerAddress { fields.append(("targetLinkLayerAddress", .string(l.description))) }
            out.layers.append(DecodedLayer("icmpv6", fields))
            // Informational messages end here: their body and NDP options belong to the ICMPv6 layer.
            return m.type.isError ? (.ipv6, m.body) : nil

        case .udp:
            let u = try UDPDatagram(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("srcPort", .integer(u.sourcePort)),
                ("dstPort", .integer(u.destinationPort)),
                ("length", .integer(u.length)),
            ]
            switch context {
            case let .v4(s, d) where u.checksum != 0: fields.append(("checksumValid", .bool(u.checksumIsValid(source: s, destination: d))))
            case let .v6(s, d): fields.append(("checksumValid", .bool(u.checksumIsValid(source: s, destination: d))))
            default: break
            }
            out.layers.append(DecodedLayer("udp", fields))
            return (next(udpDestination: u.destinationPort, source: u.sourcePort), u.payload)

        case .tcp:
            let t = try TCPSegment(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("srcPort", .integer(t.sourcePort)),
                ("dstPort", .integer(t.destinationPort)),
                ("flags", .integer(t.flags.rawValue)),
                ("sequence", .integer(t.sequenceNumber)),
                ("acknowledgment", .integer(t.acknowledgmentNumber)),
                ("window", .integer(t.window)),
                ("headerLength", .integer(t.headerLength)),
            ]
            switch context {
            case let .v4(s, d): fields.append(("checksumValid", .bool(t.checksumIsValid(source: s, destination: d))))
            case let .v6(s, d): fields.append(("checksumValid", .bool(t.checksumIsValid(source: s, destination: d))))
            case .none: break
            }
            out.layers.append(DecodedLayer("tcp", fields))
            return (.payload, t.payload)

        case .gre:
            let g = try GREPacket(checking: bytes)
            var fields: [(String, JSONValue)] = [
                ("protocol", .integer(g.protocolType.rawValue)),
                ("checksumPresent", .bool(g.checksumPresent)),
            ]
            if g.checksumPresent { fields.append(("checksumValid", .bool(g.checksumIsValid))) }
            if let k = g.key { fields.append(("key", .integer(k))) }
            if let s = g.sequence { fields.append(("sequence", .integer(s))) }
            out.layers.append(DecodedLayer("gre", fields))
            return (next(etherType: g.protocolType), g.payload)

        case .mpls:
            let m = try MPLSPacket(checking: bytes)
            for i in 0 ..< m.depth {
                let e = m.entry(i)
                out.layers.append(DecodedLayer("mpls", [
                    ("label", .integer(e.label.rawValue)),
                    ("tc", .integer(e.trafficClass)),
                    ("bottomOfStack", .bool(e.bottomOfStack)),
                    ("ttl", .integer(e.ttl)),
                ]))
            }
            // RFC 7510 / RFC 4023: the first nibble after the bottom label tells IPv4 from IPv6.
            switch m.payloadType {
            case .ipv4?: return (.ipv4, m.payload)
            case .ipv6?: return (.ipv6, m.payload)
            default: return (.payload, m.payload)
            }

        case .vxlan:
            let v = try VXLANPacket(checking: bytes)
            out.layers.append(DecodedLayer("vxlan", [("vni", .integer(v.vni))]))
            return (.ethernet, v.payload)

        case .ethernet, .hna, .payload:
            return (.payload, bytes)
        }
    }

    func next(ipProtocol: IPProtocol) -> Step {
        switch ipProtocol {
        case .icmp: return .icmp
        case .icmpv6: return .icmpv6
        case .udp: return .udp
        case .tcp: return .tcp
        case .gre: return .gre
        case .ipv4: return .ipv4
        case .ipv6: return .ipv6
        default: return .payload
        }
    }
}
