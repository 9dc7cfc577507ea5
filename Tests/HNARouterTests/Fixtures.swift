import HNARouter
import HNAWire

/// Packet builders for the router tests, made from HNAWire's value types (independent of the router's
/// own parsing), and a small two-HNA lab.
enum Build {
    static let vmMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)

    static func ethernet(_ dst: MACAddress, _ src: MACAddress, _ type: EtherType, _ payload: [UInt8]) -> [UInt8] {
        EthernetHeader(destination: dst, source: src, etherType: type).emitted() + payload
    }

    static func udp4(src: IPv4Address, dst: IPv4Address, sport: UInt16 = 1000, dport: UInt16 = 2000,
                     payload: Int = 18, ttl: UInt8 = 64, df: Bool = false, proto: IPProtocol = .udp) -> [UInt8] {
        let body = [UInt8](repeating: 0xAB, count: payload)
        let l4: [UInt8]
        if proto == .tcp {
            l4 = TCPHeader(sourcePort: sport, destinationPort: dport, sequenceNumber: 1, acknowledgmentNumber: 0,
                           flags: .syn, window: 1000).emitted() + body
        } else {
            l4 = UDPHeader(sourcePort: sport, destinationPort: dport, payloadLength: payload).emitted() + body
        }
        return IPv4Header(source: src, destination: dst, protocol: proto, payloadLength: l4.count, ttl: ttl,
                          identification: 0x1234, dontFragment: df).emitted() + l4
    }

    static func udp6(src: IPv6Address, dst: IPv6Address, sport: UInt16 = 1000, dport: UInt16 = 2000,
                     payload: Int = 18, hopLimit: UInt8 = 64) -> [UInt8] {
        let l4 = UDPHeader(sourcePort: sport, destinationPort: dport, payloadLength: payload).emitted()
            + [UInt8](repeating: 0xCD, count: payload)
        return IPv6Header(source: src, destination: dst, nextHeader: .udp, payloadLength: UInt16(l4.count),
                          hopLimit: hopLimit).emitted() + l4
    }

    static func frame4(to gateway: MACAddress, from mac: MACAddress = vmMAC, _ ip: [UInt8]) -> [UInt8] {
        ethernet(gateway, mac, .ipv4, ip)
    }

    static func frame6(to gateway: MACAddress, from mac: MACAddress = vmMAC, _ ip: [UInt8]) -> [UInt8] {
        ethernet(gateway, mac, .ipv6, ip)
    }

    static func buffer(_ bytes: [UInt8], interface: InterfaceID = PacketMetadata.fabric, trace: Bool = false) -> PacketBuffer {
        let b = PacketBuffer(capacity: 4096)
        b.load(bytes)
        b.meta.ingressInterface = interface
        b.meta.trace = trace
        return b
    }
}

/// Two VMs on HNA "A" (ports 1 and 2, VRF 1), a remote VM behind HNA "B" reached by a tunnel, and a
/// second tenant (VRF 2) reusing the same addresses.
struct Lab {
    var router: Router
    let gateway: MACAddress
    static let vm1 = IPv4Address(10, 0, 0, 1)
    static let vm2 = IPv4Address(10, 0, 0, 2)
    static let remote = IPv4Address(10, 0, 1, 5)
    static let vm1v6 = IPv6Address("fd00::1")!
    static let remotev6 = IPv6Address("fd00:1::5")!
    static let peer = IPAddress.v4(IPv4Address(192, 168, 0, 2))
    static let local = IPAddress.v4(IPv4Address(192, 168, 0, 1))
    static let mac1 = MACAddress(0x02, 0, 0, 0, 0, 0x01)
    static let mac2 = MACAddress(0x02, 0, 0, 0, 0, 0x02)
    var tunnelNH: NextHopID = 0
    var vm2NH: NextHopID = 0

    init(encapsulation: Encapsulation = .vxlan, mtu: Int = 1500, policy: Policy = .allowAll,
         configuration: RouterConfiguration = Lab.smallConfiguration) {
        router = Router(configuration: configuration)
        gateway = router.configuration.gatewayMAC
        router.addVRF(1, gatewayIPv4: [IPv4Address(10, 0, 0, 254)], gatewayIPv6: [IPv6Address("fd00::fe")!], policy: policy)
        router.addVRF(2)
        router.addInterface(1, InterfaceConfiguration(vrf: 1, mac: Lab.mac1))
        router.addInterface(2, InterfaceConfiguration(vrf: 1, mac: Lab.mac2))
        router.addInterface(3, InterfaceConfiguration(vrf: 2, mac: Lab.mac1))
        let nh1 = router.addNextHop(.interface(1))
        vm2NH = router.addNextHop(.interface(2))
        let nh3 = router.addNextHop(.interface(3))
        tunnelNH = router.addNextHop(.tunnel(Tunnel(peer: Lab.peer, encapsulation: encapsulation,
                                                    label: encapsulation == .vxlan ? 5001 : 77, mtu: mtu)))
        router.addRoute(1, IPv4Prefix(Lab.vm1, 32), nextHop: nh1)
        router.addRoute(1, IPv4Prefix(Lab.vm2, 32), nextHop: vm2NH)
        router.addRoute(1, IPv4Prefix(IPv4Address(10, 0, 1, 0), 24), nextHop: tunnelNH)
        router.addRoute(1, IPv6Prefix(Lab.vm1v6, 128), nextHop: nh1)
        router.addRoute(1, IPv6Prefix(IPv6Address("fd00:1::")!, 64), nextHop: tunnelNH)
        router.addRoute(2, IPv4Prefix(Lab.vm1, 32), nextHop: nh3)
        router.mapVNI(4001, to: .vrf(1))
        router.mapLabel(16, to: .vrf(1))
        router.mapLabel(17, to: .interface(1))
        router.mapVNI(4002, to: .vrf(2))
    }

    static var smallConfiguration: RouterConfiguration {
        var c = RouterConfiguration()
        c.flowCapacity = 4096
        return c
    }

    /// Sends frames from a port and runs the slow path so held packets come out too.
    mutating func send(_ frames: [[UInt8]], from port: InterfaceID, now: UInt64 = 1, trace: Bool = false) -> RouterOutput {
        var out = RouterOutput()
        router.processFromInterfaces(frames.map { Build.buffer($0, interface: port, trace: trace) }, now: now, output: &out)
        router.runSlowPath(now: now, output: &out)
        return out
    }

    mutating func receive(_ packets: [[UInt8]], now: UInt64 = 1, trace: Bool = false) -> RouterOutput {
        var out = RouterOutput()
        router.processFromFabric(packets.map { Build.buffer($0, trace: trace) }, now: now, output: &out)
        router.runSlowPath(now: now, output: &out)
        return out
    }
}
