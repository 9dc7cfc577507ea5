import HNAWire

extension Router {
    /// The bytes of the offending packet an ICMPv4 error quotes: as much as fits a 576-byte datagram
    /// (RFC 1812 section 4.3.2.3).
    static let icmpv4QuoteLimit = 576 - IPv4Packet.minimumHeaderLength - ICMPv4Packet.headerLength
    /// ICMPv6 errors quote as much as fits the IPv6 minimum MTU (RFC 4443 section 2.4 (c)).
    static let icmpv6QuoteLimit = 1280 - IPv6Packet.headerLength - ICMPv6Packet.headerLength

    /// A packet too big for the tunnel: IPv4 with DF and all IPv6 get an ICMP error back to the sender
    /// (and are dropped as `packetTooBig`); IPv4 without DF is fragmented before encapsulation, each
    /// fragment then tunnelled on its own.
    mutating func tooBig(_ b: PacketBuffer, _ s: inout PacketState, nextHop: NextHopID, tunnel: Tunnel, ipLimit: Int,
                         output: inout RouterOutput) {
        let ip = b.readableBytes.tail(from: s.l3)
        // A super-frame is never fragmented (its checksum is partial): its sender is told the MTU.
        if !s.isIPv6, b.meta.gsoSize == 0, ip.u16(at: IPv4Packet.Field.flagsFragmentOffset) & IPv4Packet.Bits.dontFragment == 0,
           ipLimit >= IPv4Packet.maximumHeaderLength + 8 {
            return fragment(b, &s, nextHop: nextHop, tunnel: tunnel, ipLimit: ipLimit, output: &output)
        }
        sendTooBig(b, s, mtu: max(ipLimit, 0), output: &output)
        drop(b, &s, .packetTooBig, output: &output)
    }

    /// Builds the ICMP "fragmentation needed" / ICMPv6 "packet too big" for the VM that sent `b` and
    /// delivers it to the VM's port.
    func sendTooBig(_ b: PacketBuffer, _ s: PacketState, mtu: Int, output: inout RouterOutput) {
        let ingress = b.meta.ingressInterface
        guard Int(ingress) < interfaces.count, let ifc = interfaces[Int(ingress)], let v = vrf(s.vrf) else { return }
        let original = b.readableBytes.tail(from: s.l3)
        let r = pool.take()
        r.meta.ingressInterface = ingress
        r.meta.vrf = s.vrf
        if s.isIPv6 {
            let src = IPv6Address(high: s.key.sourceHigh, low: s.key.sourceLow)
            let from = v.gatewayIPv6.first ?? IPv6Address(high: s.key.destinationHigh, low: s.key.destinationLow)
            let quote = min(original.count, Self.icmpv6QuoteLimit)
            let msgLength = ICMPv6Packet.headerLength + quote
            guard r.append(EthernetFrame.minimumHeaderLength + IPv6Packet.headerLength + msgLength) != nil else { return pool.recycle(r) }
            let out = r.bytes
            EthernetHeader(destination: ifc.mac, source: configuration.gatewayMAC, etherType: .ipv6).emit(into: out)
            IPv6Header(source: from, destination: src, nextHeader: .icmpv6, payloadLength: UInt16(msgLength))
                .emit(into: out.slice(EthernetFrame.minimumHeaderLength, IPv6Packet.headerLength))
            let msg = out.slice(EthernetFrame.minimumHeaderLength + IPv6Packet.headerLength, msgLength)
            msg.slice(ICMPv6Packet.headerLength, quote).copyMemory(from: original.slice(0, quote))
            ICMPv6Header.packetTooBig(mtu: UInt32(mtu)).emit(into: msg, source: from, destination: src)
        } else {
            let src = IPv4Address(rawValue: UInt32(truncatingIfNeeded: s.key.sourceLow))
            let from = v.gatewayIPv4.first ?? IPv4Address(rawValue: UInt32(truncatingIfNeeded: s.key.destinationLow))
            let quote = min(original.count, Self.icmpv4QuoteLimit)
            let msgLength = ICMPv4Packet.headerLength + quote
            guard r.append(EthernetFrame.minimumHeaderLength + IPv4Packet.minimumHeaderLength + msgLength) != nil else { return pool.recycle(r) }
            let out = r.bytes
            EthernetHeader(destination: ifc.mac, source: configuration.gatewayMAC, etherType: .ipv4).emit(into: out)
            IPv4Header(source: from, destination: src, protocol: .icmp, payloadLength: msgLength)
                .emit(into: out.slice(EthernetFrame.minimumHeaderLength, IPv4Packet.minimumHeaderLength))
            let msg = out.slice(EthernetFrame.minimumHeaderLength + IPv4Packet.minimumHeaderLength, msgLength)
            msg.slice(ICMPv4Packet.headerLength, quote).copyMemory(from: original.slice(0, quote))
            ICMPv4Header.fragmentationNeeded(nextHopMTU: UInt16(clamping: mtu)).emit(into: msg)
        }
        trace(b, .encap, "too big for MTU \(mtu): ICMP error to interface \(ingress)", output: &output)
        output.toInterfaces.append(InterfacePacket(interface: ingress, buffer: r))
    }

    /// Splits the inner IPv4 packet into fragments that fit `ipLimit` (payload in multiples of 8 bytes,
    /// the header — options included — copied to each) and tunnels each. The original buffer goes back
    /// to the pool.
    mutating func fragment(_ b: PacketBuffer, _ s: inout PacketState, nextHop: NextHopID, tunnel: Tunnel, ipLimit: Int,
                           output: inout RouterOutput) {
        let ip = b.readableBytes.tail(from: s.l3)
        let hl = Int(ip.u8(at: IPv4Packet.Field.versionIHL) & 0xF) * 4
        let flags = ip.u16(at: IPv4Packet.Field.flagsFragmentOffset)
        let baseOffset = Int(flags & IPv4Packet.Bits.fragmentOffset) * 8
        let originalMF = flags & IPv4Packet.Bits.moreFragments != 0
        let payload = ip.count - hl
        let chunk = (ipLimit - hl) & ~7
        var done = 0
        let ethernet = s.l3
        while done < payload {
            let n = min(chunk, payload - done)
            let last = done + n == payload
            let f = pool.take()
            f.meta = b.meta
            guard f.append(ethernet + hl + n) != nil else { pool.recycle(f); break }
            let out = f.bytes
            // Keep the Ethernet header: `pushTunnel` rewrites or strips it exactly as for the original.
            out.slice(0, ethernet + hl).copyMemory(from: b.readableBytes.slice(0, ethernet + hl))
            out.slice(ethernet + hl, n).copyMemory(from: ip.slice(hl + done, n))
            let h = out.slice(ethernet, hl)
            h.setU16(UInt16(hl + n), at: IPv4Packet.Field.totalLength)
            let mf = !last || originalMF
            h.setU16((mf ? IPv4Packet.Bits.moreFragments : 0) | UInt16((baseOffset + done) / 8), at: IPv4Packet.Field.flagsFragmentOffset)
            IPv4Packet.fillChecksum(in: h, headerLength: hl)
            var fs = s
            pushTunnel(f, &fs, nextHop: nextHop, tunnel: tunnel, output: &output)
            done += n
        }
        s.next = .done
        pool.recycle(b)
    }
}
