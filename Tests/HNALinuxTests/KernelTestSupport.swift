import Foundation
import HNALinux
import HNATestSupport
import HNAWire
import Testing

/// Whether the kernel tests can run: root and `ip netns`. Under CI they run regardless, so a CI
/// machine without privileges fails loudly instead of passing by skipping.
enum Kernel {
    static let usable = Namespace.supported || ExternalTool.mustRun
    static let skipReason: Comment = "needs root and `ip netns` (set CI to force these tests to run)"

    /// A short random tag so tests running in parallel (and leftovers of a killed run) never collide on
    /// namespace or interface names (interface names have 15 characters).
    static func tag() -> String {
        String(UInt32.random(in: 0 ... 0xFFFFFF), radix: 16)
    }

    /// Builds a network with `LinkSetup`, runs `body`, and tears everything down whatever happens,
    /// checking that teardown left nothing behind.
    static func withSetup(_ body: (LinkSetup) throws -> Void) throws {
        let setup = LinkSetup()
        defer {
            let created = setup.namespaces
            let errors = setup.teardown()
            #expect(errors.isEmpty, "teardown: \(errors)")
            let left = (try? Namespace.list()) ?? []
            for ns in created { #expect(!left.contains(ns.name), "namespace \(ns.name) left behind") }
        }
        try body(setup)
    }

    /// A subnet (third octet) per test run, so parallel tests never share addresses.
    static func subnet() -> UInt8 { UInt8.random(in: 1 ... 254) }
}

/// Frame offsets the tests build and read (ARP for IPv4 over Ethernet, IPv4 without options, UDP).
enum Frame {
    enum ARP {
        static let operation = 6
        static let senderMAC = 8
        static let senderIP = 14
        static let targetMAC = 18
        static let targetIP = 24
        static let length = 28
        static let request: UInt16 = 1
        static let reply: UInt16 = 2
    }

    enum IPv4 {
        static let versionIHL = 0
        static let totalLength = 2
        static let ttl = 8
        static let proto = 9
        static let checksum = 10
        static let source = 12
        static let destination = 16
        static let length = 20
    }

    enum UDP {
        static let sourcePort = 0
        static let destinationPort = 2
        static let length = 4
        static let checksum = 6
        static let headerLength = 8
    }

    static let ethernetLength = EthernetFrame.minimumHeaderLength

    /// An ARP reply from (`mac`, `ip`) to (`toMAC`, `toIP`).
    static func arpReply(mac: MACAddress, ip: IPv4Address, toMAC: MACAddress, toIP: IPv4Address) -> [UInt8] {
        var f = EthernetHeader(destination: toMAC, source: mac, etherType: .arp).emitted()
        var arp = [UInt8](repeating: 0, count: ARP.length)
        arp.withUnsafeMutableBytes { b in
            b.setU16(1, at: 0)  // hardware type Ethernet
            b.setU16(EtherType.ipv4.rawValue, at: 2)
            b.setU8(6, at: 4)
            b.setU8(4, at: 5)
            b.setU16(ARP.reply, at: ARP.operation)
            mac.write(to: b, at: ARP.senderMAC)
            b.setU32(ip.rawValue, at: ARP.senderIP)
            toMAC.write(to: b, at: ARP.targetMAC)
            b.setU32(toIP.rawValue, at: ARP.targetIP)
        }
        f += arp
        return f
    }

    /// An Ethernet/IPv4/UDP frame (UDP checksum 0, which IPv4 allows).
    static func udp(from mac: MACAddress, _ src: IPv4Address, _ sport: UInt16,
                    to dmac: MACAddress, _ dst: IPv4Address, _ dport: UInt16, payload: [UInt8]) -> [UInt8] {
        var f = EthernetHeader(destination: dmac, source: mac, etherType: .ipv4).emitted()
        var ip = [UInt8](repeating: 0, count: IPv4.length + UDP.headerLength + payload.count)
        ip.withUnsafeMutableBytes { b in
            b.setU8(0x45, at: IPv4.versionIHL)
            b.setU16(UInt16(b.count), at: IPv4.totalLength)
            b.setU8(64, at: IPv4.ttl)
            b.setU8(UInt8(IPProtocol.udp.rawValue), at: IPv4.proto)
            b.setU32(src.rawValue, at: IPv4.source)
            b.setU32(dst.rawValue, at: IPv4.destination)
            b.setU16(InternetChecksum.of(UnsafeRawBufferPointer(b).slice(0, IPv4.length)), at: IPv4.checksum)
            let u = UnsafeMutableRawBufferPointer(rebasing: b[IPv4.length...])
            u.setU16(sport, at: UDP.sourcePort)
            u.setU16(dport, at: UDP.destinationPort)
            u.setU16(UInt16(UDP.headerLength + payload.count), at: UDP.length)
            for (i, byte) in payload.enumerated() { u.setU8(byte, at: UDP.headerLength + i) }
        }
        f += ip
        return f
    }
}

extension PacketBatch {
    /// The bytes of packet `i` as an array.
    func bytes(_ i: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(self[i])) }

    func set(_ i: Int, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { set(i, bytes: $0) }
    }
}
