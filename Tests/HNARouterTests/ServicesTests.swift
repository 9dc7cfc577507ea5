import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

@Suite struct ServicesTests {
    func arpRequest(_ target: IPv4Address, from ip: IPv4Address = Lab.vm1) -> [UInt8] {
        let arp = ARPHeader(operation: .request, senderMAC: Lab.mac1, senderIP: ip, targetMAC: .zero, targetIP: target)
        return Build.ethernet(.broadcast, Lab.mac1, .arp, arp.emitted())
    }

    @Test(arguments: [IPv4Address(10, 0, 0, 254), Lab.vm2, Lab.remote])
    func proxyARPAnswersForGatewayLocalAndRemoteVMs(target: IPv4Address) throws {
        var lab = Lab()
        let out = lab.send([arpRequest(target)], from: 1)
        let reply = try #require(out.toInterfaces.first)
        #expect(reply.interface == 1)
        let eth = try EthernetHeader(parsing: reply.buffer.readableBytes)
        #expect(eth.destination == Lab.mac1 && eth.source == lab.gateway && eth.etherType == .arp)
        let arp = try ARPHeader(parsing: reply.buffer.readableBytes.tail(from: 14))
        #expect(arp.operation == .reply)
        #expect(arp.senderIP == target && arp.senderMAC == lab.gateway)
        #expect(arp.targetIP == Lab.vm1 && arp.targetMAC == Lab.mac1)
    }

    @Test func proxyARPStaysSilentForUnknownOwnAndOtherTenantsAddresses() {
        var lab = Lab()
        // Unknown address, the asker's own address, and a VRF-2 address asked from VRF 1.
        for target in [IPv4Address(10, 0, 9, 9), Lab.vm1] {
            let out = lab.send([arpRequest(target)], from: 1)
            #expect(out.dropped.map(\.reason) == [.neighborUnanswered])
        }
        // Port 3 (VRF 2) knows only 10.0.0.1, which is its own port: nothing to answer for 10.0.0.2.
        let out = lab.send([arpRequest(Lab.vm2)], from: 3)
        #expect(out.dropped.map(\.reason) == [.neighborUnanswered])
    }

    @Test(arguments: [IPv6Address("fd00::fe")!, Lab.remotev6])
    func proxyNDAnswersNeighbourSolicitations(target: IPv6Address) throws {
        var lab = Lab()
        let src = IPv6Address("fd00::1")!
        // Solicited-node multicast destination, as a VM sends it.
        let dst = IPv6Address(high: 0xFF02_0000_0000_0000, low: 0x0000_0001_FF00_0000 | (target.low & 0xFF_FFFF))
        let ns = ICMPv6Header.neighborSolicitation(target: target, sourceLinkLayer: Lab.mac1)
        let msg = ns.emitted(source: src, destination: dst)
        let ip = IPv6Header(source: src, destination: dst, nextHeader: .icmpv6, payloadLength: UInt16(msg.count), hopLimit: 255).emitted() + msg
        let frame = Build.ethernet(MACAddress(rawValue: 0x3333_FF00_0000 | (target.low & 0xFF_FFFF)), Lab.mac1, .ipv6, ip)
        let out = lab.send([frame], from: 1)
        let reply = try #require(out.toInterfaces.first, "drops: \(out.dropped.map(\.reason))")
        let eth = try EthernetHeader(parsing: reply.buffer.readableBytes)
        #expect(eth.destination == Lab.mac1 && eth.source == lab.gateway)
        let ip6 = try IPv6Packet(checking: reply.buffer.readableBytes.tail(from: 14))
        #expect(ip6.hopLimit == 255 && ip6.destination == src && ip6.source == target)
        let na = try ICMPv6Packet(checking: ip6.payload)
        #expect(na.type == .neighborAdvertisement)
        #expect(na.target == target && na.targetLinkLayerAddress == lab.gateway)
        #expect(na.isSolicited && na.isRouter)
        #expect(na.isOverride == (target == IPv6Address("fd00::fe")!))
        #expect(na.checksumValid(source: ip6.source, destination: ip6.destination))
    }
}
