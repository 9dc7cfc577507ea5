import HNATestSupport
import Testing
@testable import HNAWire

/// Hostile input for the ARP, IPv4, IPv6, ICMPv4 and ICMPv6 parsers: valid packets with random bytes
/// changed and random lengths. Each parse must either throw a `WireError` or give a view whose every
/// accessor runs (a trap here fails the whole test run).
@Suite struct L3MutationTests {
    static func mutations(of packet: [UInt8], seed: UInt64, count: Int = 2000) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in
            var bytes = packet
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] = rng.any()
            }
            let length = Int.random(in: 0 ... bytes.count + 8, using: &rng)
            return length <= bytes.count ? Array(bytes[0 ..< length]) : bytes + rng.bytes(length - bytes.count)
        }
    }

    @Test func arp() {
        var accepted = 0
        for bytes in Self.mutations(of: Array(ARPTests.request[0 ..< 28]), seed: 1) {
            bytes.withUnsafeBytes { b in
                guard let p = try? ARPPacket(checking: b) else { return }
                accepted += 1
                _ = (p.operation, p.senderMAC, p.senderIP, p.targetMAC, p.targetIP)
                #expect(ARPHeader(p).emitted() == Array(b[0 ..< ARPPacket.length]))
            }
        }
        #expect(accepted > 0)
    }

    @Test func ipv4() {
        var accepted = 0
        for packet in [IPv4Tests.udp, IPv4Tests.igmpWithOptions] {
            for bytes in Self.mutations(of: packet, seed: 2) {
                bytes.withUnsafeBytes { b in
                    guard let p = try? IPv4Packet(checking: b) else { return }
                    accepted += 1
                    _ = (p.dscp, p.ecn, p.identification, p.dontFragment, p.moreFragments, p.fragmentOffset,
                         p.ttl, p.protocol, p.source, p.destination, p.checksumValid, p.options.count)
                    #expect(p.payload.count == p.totalLength - p.headerLength)
                    // Re-emitting keeps every field; only the checksum is recomputed.
                    let again = IPv4Header(p).emitted()
                    #expect(Array(again[0 ..< 10]) == Array(b[0 ..< 10]) && Array(again[12...]) == Array(b[12 ..< p.headerLength]))
                }
            }
        }
        #expect(accepted > 0)
    }

    @Test func ipv6() {
        var accepted = 0
        for packet in [IPv6Tests.mldReport, IPv6Tests.chain, IPv6Tests.laterFragment] {
            for bytes in Self.mutations(of: packet, seed: 3) {
                bytes.withUnsafeBytes { b in
                    guard let p = try? IPv6Packet(checking: b) else { return }
                    accepted += 1
                    _ = (p.trafficClass, p.flowLabel, p.nextHeader, p.hopLimit, p.source, p.destination)
                    if let upper = try? p.upperLayer() {
                        #expect(upper.offset <= IPv6Packet.headerLength + p.payloadLength)
                    }
                    #expect(IPv6Header(p).emitted() == Array(b[0 ..< 40]))
                }
            }
        }
        #expect(accepted > 0)
    }

    @Test func icmpv4() {
        for bytes in Self.mutations(of: ICMPv4Tests.fragmentationNeeded, seed: 4) {
            bytes.withUnsafeBytes { b in
                guard let p = try? ICMPv4Packet(checking: b) else { return }
                _ = (p.type, p.code, p.identifier, p.sequence, p.nextHopMTU, p.body.count, p.checksumValid)
            }
        }
    }

    @Test func icmpv6() {
        var accepted = 0
        for packet in [ICMPv6Tests.ns, ICMPv6Tests.na, ICMPv6Tests.ra, ICMPv6Tests.echo] {
            for bytes in Self.mutations(of: packet, seed: 5) {
                bytes.withUnsafeBytes { b in
                    guard let p = try? ICMPv6Packet(checking: b) else { return }
                    accepted += 1
                    _ = (p.type, p.code, p.rest, p.mtu, p.target, p.routerTimers, p.sourceLinkLayerAddress,
                         p.targetLinkLayerAddress, p.options.count, p.body.count, p.isRouter)
                    _ = ICMPv6Header(p).emitted(source: .any, destination: .any)
                }
            }
        }
        #expect(accepted > 0)
    }
}
