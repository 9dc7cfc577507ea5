import HNAWire

extension Router {
    /// Whether the router answers for `target` in `vrf`: it is a gateway address, or the VRF routes it
    /// to a VM (local port, tunnel or ECMP group) other than the asking port. Answering with the gateway
    /// MAC for remote VMs is what lets the overlay work without flooding (tf-vrouter's proxy ARP).
    func answersFor(_ v: RoutingInstance, route nh: NextHopID, askedBy ingress: InterfaceID) -> Bool {
        guard nh != 0 else { return false }
        let c = nextHops.compiled[Int(nh)]
        switch c.kind {
        case .interface: return c.index != ingress
        case .tunnel, .ecmp: return true
        default: return false
        }
    }

    /// Answers an ARP request for the gateway or a known VM address with the gateway MAC; the reply goes
    /// back to the asking port and reuses the request's buffer.
    mutating func answerARP(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        guard !s.fromFabric, let v = vrf(s.vrf) else { return drop(b, &s, .neighborUnanswered, output: &output) }
        let request: ARPHeader
        do {
            request = try ARPHeader(parsing: b.readableBytes.tail(from: s.l3))
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        let ingress = b.meta.ingressInterface
        guard request.operation == .request, request.targetIP != request.senderIP,
              v.gatewayIPv4.contains(request.targetIP)
              || answersFor(v, route: v.ipv4.lookup(request.targetIP), askedBy: ingress)
        else { return drop(b, &s, .neighborUnanswered, output: &output) }
        let reply = request.reply(with: configuration.gatewayMAC)
        b.reset()
        let out = b.append(EthernetFrame.minimumHeaderLength + reply.encodedLength)!
        EthernetHeader(destination: request.senderMAC, source: configuration.gatewayMAC, etherType: .arp).emit(into: out)
        reply.emit(into: out.slice(EthernetFrame.minimumHeaderLength, reply.encodedLength))
        b.meta.ingressInterface = ingress
        b.meta.vrf = s.vrf
        s.next = .done
        interfaceCounters[Int(ingress)].txPackets &+= 1
        interfaceCounters[Int(ingress)].txBytes &+= UInt64(b.length)
        trace(b, .service, "proxy ARP: \(request.targetIP) is-at \(configuration.gatewayMAC)", output: &output)
        output.toInterfaces.append(InterfacePacket(interface: ingress, buffer: b))
    }

    /// Answers a neighbour solicitation for the gateway or a known VM address with a neighbour
    /// advertisement carrying the gateway MAC (router flag set; override only for the gateway itself, as
    /// RFC 4861 section 7.2.8 asks of proxies).
    mutating func answerNeighborSolicitation(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        guard !s.fromFabric, let v = vrf(s.vrf) else { return drop(b, &s, .neighborUnanswered, output: &output) }
        let ipBytes = b.readableBytes.tail(from: s.l3)
        let target: IPv6Address
        let asker: IPv6Address
        let askerMAC: MACAddress
        do {
            let ip = try IPv6Packet(checking: ipBytes)
            let upper = try ip.upperLayer()
            let icmp = try ICMPv6Packet(checking: ipBytes.slice(upper.offset, ip.payloadLength + IPv6Packet.headerLength - upper.offset))
            guard let t = icmp.target else { return drop(b, &s, .malformedPacket, output: &output) }
            target = t
            asker = ip.source
            let frameSource = try EthernetFrame(checking: b.readableBytes).source
            askerMAC = icmp.sourceLinkLayerAddress ?? frameSource
        } catch {
            return drop(b, &s, .malformedPacket, output: &output)
        }
        let ingress = b.meta.ingressInterface
        let isGateway = v.gatewayIPv6.contains(target)
        guard target != asker, isGateway || answersFor(v, route: v.ipv6.lookup(target), askedBy: ingress) else {
            return drop(b, &s, .neighborUnanswered, output: &output)
        }
        // Duplicate address detection asks from "::": the answer goes to all nodes, unsolicited.
        let dad = asker == .any
        let destination = dad ? IPv6Address(high: 0xFF02_0000_0000_0000, low: 1) : asker
        let na = ICMPv6Header.neighborAdvertisement(target: target, targetLinkLayer: configuration.gatewayMAC,
                                                    router: true, solicited: !dad, override: isGateway)
        b.reset()
        let length = EthernetFrame.minimumHeaderLength + IPv6Packet.headerLength + na.encodedLength
        let out = b.append(length)!
        let dstMAC = dad ? MACAddress(rawValue: 0x3333_0000_0001) : askerMAC
        EthernetHeader(destination: dstMAC, source: configuration.gatewayMAC, etherType: .ipv6).emit(into: out)
        // RFC 4861: neighbour discovery messages carry hop limit 255 so receivers know they are on-link.
        IPv6Header(source: target, destination: destination, nextHeader: .icmpv6, payloadLength: UInt16(na.encodedLength),
                   hopLimit: 255)
            .emit(into: out.slice(EthernetFrame.minimumHeaderLength, IPv6Packet.headerLength))
        na.emit(into: out.slice(EthernetFrame.minimumHeaderLength + IPv6Packet.headerLength, na.encodedLength),
                source: target, destination: destination)
        b.meta.ingressInterface = ingress
        b.meta.vrf = s.vrf
        s.next = .done
        interfaceCounters[Int(ingress)].txPackets &+= 1
        interfaceCounters[Int(ingress)].txBytes &+= UInt64(b.length)
        trace(b, .service, "proxy ND: \(target) is-at \(configuration.gatewayMAC)", output: &output)
        output.toInterfaces.append(InterfacePacket(interface: ingress, buffer: b))
    }
}
