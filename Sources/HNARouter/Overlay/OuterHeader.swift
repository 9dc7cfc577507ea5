import HNAWire

/// Writes the outer headers of a tunnel packet in front of its tunnel header (VXLAN or MPLS), in the
/// buffer's headroom: IPv4/IPv6, then UDP or GRE, then — when the peer speaks HNA — the HNA header.
///
/// With an HNA header the outer transport says so (UDP port `WellKnownPort.hna`, GRE protocol
/// `EtherType.hna`) and the HNA header's next protocol names the tunnel header; without one the
/// standard ports and protocol are used (docs/wire-format.md, "Where it sits"). Kept apart from the
/// router's encapsulation so the communications controller can add its header at transmit time.
public enum OuterHeader {
    /// Bytes `write` will prepend.
    public static func length(_ tunnel: TunnelDescriptor, hna: HNAHeader?) -> Int {
        let ip = if case .v6 = tunnel.peer { IPv6Packet.headerLength } else { IPv4Packet.minimumHeaderLength }
        let transport = tunnel.encapsulation == .mplsOverGRE ? GREPacket.minimumHeaderLength : UDPDatagram.headerLength
        return ip + transport + (hna?.encodedLength ?? 0)
    }

    /// Prepends the outer headers to `buffer` (which starts at the tunnel header). `source` must be the
    /// same family as the peer. Returns false (buffer unchanged) when the headroom is too small or the
    /// families differ. The UDP checksum is left zero, as RFC 7348 and RFC 7510 allow over IPv4 and RFC
    /// 6935/6936 allow for tunnels over IPv6.
    @discardableResult
    public static func write(into buffer: PacketBuffer, tunnel: TunnelDescriptor, source: IPAddress,
                             hna: HNAHeader? = nil, ttl: UInt8 = IPv4Header.defaultTTL, dscp: UInt8 = 0) -> Bool {
        switch (source, tunnel.peer) {
        case (.v4, .v4), (.v6, .v6): break
        default: return false
        }
        guard buffer.headroom >= length(tunnel, hna: hna) else { return false }
        var hna = hna
        if hna != nil { hna!.nextProtocol = tunnel.encapsulation == .vxlan ? .vxlan : .mpls }
        if let hna {
            hna.emit(into: buffer.prepend(hna.encodedLength)!)
        }
        let transport: IPProtocol
        if tunnel.encapsulation == .mplsOverGRE {
            transport = .gre
            GREHeader(protocolType: hna == nil ? .mplsUnicast : .hna).emit(into: buffer.prepend(GREPacket.minimumHeaderLength)!)
        } else {
            transport = .udp
            let port = hna != nil ? WellKnownPort.hna
                : tunnel.encapsulation == .vxlan ? WellKnownPort.vxlan : WellKnownPort.mplsOverUDP
            let payload = buffer.length
            UDPHeader(sourcePort: tunnel.sourcePort, destinationPort: port, payloadLength: payload)
                .emit(into: buffer.prepend(UDPDatagram.headerLength)!)
        }
        let payload = buffer.length
        switch (source, tunnel.peer) {
        case let (.v4(s), .v4(d)):
            IPv4Header(source: s, destination: d, protocol: transport, payloadLength: payload, ttl: ttl, dscp: dscp)
                .emit(into: buffer.prepend(IPv4Packet.minimumHeaderLength)!)
        case let (.v6(s), .v6(d)):
            IPv6Header(source: s, destination: d, nextHeader: transport, payloadLength: UInt16(payload), hopLimit: ttl,
                       trafficClass: dscp << 2)
                .emit(into: buffer.prepend(IPv6Packet.headerLength)!)
        default:
            return false
        }
        return true
    }
}
