import HNAWire

/// Builds whole packets from header values, inside out, filling every length and checksum the way a
/// sender must. Tests use it to produce packets with HNA's own emitters for independent dissectors
/// (tshark) to read.
enum Layer {
    case ethernet(EthernetHeader)
    case ipv4(source: IPv4Address, destination: IPv4Address, ttl: UInt8 = 64)
    case ipv6(source: IPv6Address, destination: IPv6Address, hopLimit: UInt8 = 64)
    case udp(source: UInt16, destination: UInt16)
    case gre(GREHeader)
    case hna(HNAHeader)
    case mpls([MPLSLabelStackEntry])
    case vxlan(UInt32)
    case payload([UInt8])
}

func compose(_ layers: [Layer]) -> [UInt8] {
    var inner: [UInt8] = []
    for (index, layer) in layers.enumerated().reversed() {
        let next = index + 1 < layers.count ? layers[index + 1] : nil
        var header: [UInt8]
        switch layer {
        case let .ethernet(h): header = h.emitted()
        case let .ipv4(s, d, ttl):
            let proto: IPProtocol
            switch next {
            case .udp?: proto = .udp
            case .gre?: proto = .gre
            default: proto = IPProtocol(rawValue: 253)
            }
            header = IPv4Header(source: s, destination: d, protocol: proto, payloadLength: inner.count, ttl: ttl,
                                identification: 1, dontFragment: true).emitted()
            if case .udp? = next {
                var datagram = inner
                datagram.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: s, destination: d) }
                inner = datagram
            }
        case let .ipv6(s, d, hl):
            let proto: IPProtocol
            switch next {
            case .udp?: proto = .udp
            case .gre?: proto = .gre
            default: proto = IPProtocol(rawValue: 253)
            }
            header = IPv6Header(source: s, destination: d, nextHeader: proto, payloadLength: UInt16(inner.count),
                                hopLimit: hl).emitted()
            if case .udp? = next {
                var datagram = inner
                datagram.withUnsafeMutableBytes { UDPDatagram.fillChecksum(in: $0, source: s, destination: d) }
                inner = datagram
            }
        case let .udp(s, d):
            header = UDPHeader(sourcePort: s, destinationPort: d, payloadLength: inner.count).emitted()
        case let .gre(h):
            header = h.emitted()
            if h.checksumPresent {
                var whole = header + inner
                whole.withUnsafeMutableBytes { GREPacket.fillChecksum(in: $0) }
                header = Array(whole[0 ..< header.count])
            }
        case let .hna(h): header = h.emitted()
        case let .mpls(entries): header = MPLSLabelStack(entries).emitted()
        case let .vxlan(vni): header = VXLANHeader(vni: vni).emitted()
        case let .payload(bytes): header = bytes
        }
        inner = header + inner
    }
    return inner
}
