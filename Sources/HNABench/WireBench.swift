import HNAWire

/// `hna bench wire`: the cost per packet of reading and writing HNA's encapsulations with the checked
/// views and value types, as the datapath does (no allocation per packet).
///
/// Parse = check and read every header of a 64-byte-inner-frame tunnel packet (outer Ethernet, IPv4 with
/// its header checksum verified, UDP, [HNA], VXLAN or MPLS, inner Ethernet/IPv4/UDP). Emit = write the
/// outer headers (and the HNA header) in place in front of an inner frame already in the buffer,
/// computing the IPv4 header checksum.
public enum WireBench {
    struct Case {
        var key: String
        var label: String
        var innerLength: Int
        var ethernet: EthernetHeader
        var ip: IPv4Header
        var udp: UDPHeader
        var hna: HNAHeader?
        var vxlan: VXLANHeader?
        var mpls: MPLSLabelStack?

        var headerLength: Int {
            ethernet.encodedLength + ip.encodedLength + udp.encodedLength + (hna?.encodedLength ?? 0)
                + (vxlan?.encodedLength ?? 0) + (mpls?.encodedLength ?? 0)
        }
    }

    public static func run(seconds: Double = 0.5) -> BenchReport {
        var report = BenchReport(name: "wire")
        report.context.append(("packet", "64-byte inner frame, IPv4 outer and inner"))
        let hna = HNAHeader(nextProtocol: .vxlan, priority: 1, timestamp: 123,
                            queueLengths: PriorityVector([1, 2, 3, 4]), grantedRates: PriorityVector([5, 6, 7, 8]),
                            sequence: 9)
        var hnaMPLS = hna
        hnaMPLS.nextProtocol = .mpls
        let mac1 = MACAddress(rawValue: 0x0200_0000_0001), mac2 = MACAddress(rawValue: 0x0200_0000_0002)
        let ip1 = IPv4Address(192, 0, 2, 1), ip2 = IPv4Address(192, 0, 2, 2)
        // Inner frame: 64 bytes (Ethernet 14 + IPv4 20 + UDP 8 + 22 bytes of data).
        let innerFrame = innerFrame(mac1, mac2)
        let innerIP = Array(innerFrame[EthernetFrame.minimumHeaderLength...])
        let label = MPLSLabelStack([MPLSLabelStackEntry(label: MPLSLabel(rawValue: 214), bottomOfStack: true, ttl: 64)])

        func tunnelCase(_ key: String, _ label: String, hna: HNAHeader?, vxlan: VXLANHeader?, mpls: MPLSLabelStack?) -> Case {
            let inner = vxlan != nil ? innerFrame.count : innerIP.count
            let tunnelLength = (hna?.encodedLength ?? 0) + (vxlan?.encodedLength ?? 0) + (mpls?.encodedLength ?? 0) + inner
            let port = hna != nil ? WellKnownPort.hna : vxlan != nil ? WellKnownPort.vxlan : WellKnownPort.mplsOverUDP
            return Case(key: key, label: label, innerLength: inner,
                        ethernet: EthernetHeader(destination: mac2, source: mac1, etherType: .ipv4),
                        ip: IPv4Header(source: ip1, destination: ip2, protocol: .udp,
                                       payloadLength: UDPDatagram.headerLength + tunnelLength),
                        udp: UDPHeader(sourcePort: 50000, destinationPort: port, payloadLength: tunnelLength),
                        hna: hna, vxlan: vxlan, mpls: mpls)
        }
        let cases = [
            tunnelCase("vxlan", "VXLAN", hna: nil, vxlan: VXLANHeader(vni: 5000), mpls: nil),
            tunnelCase("vxlanHNA", "VXLAN + HNA header", hna: hna, vxlan: VXLANHeader(vni: 5000), mpls: nil),
            tunnelCase("mplsOverUDP", "MPLS-over-UDP", hna: nil, vxlan: nil, mpls: label),
            tunnelCase("mplsOverUDPHNA", "MPLS-over-UDP + HNA header", hna: hnaMPLS, vxlan: nil, mpls: label),
        ]
        let n = 1000
        for c in cases {
            var packet = [UInt8](repeating: 0, count: c.headerLength + c.innerLength)
            packet.withUnsafeMutableBytes { raw in
                emitOuter(c, into: raw)
                (c.vxlan != nil ? innerFrame : innerIP).withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: raw[c.headerLength...]).copyMemory(from: $0)
                }
            }
            precondition(packet.withUnsafeBytes { parseTunnel($0) } != 0, "bench packet must parse")
            let parse = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: seconds) {
                packet.withUnsafeBytes { raw in
                    var acc = 0
                    for _ in 0 ..< n { acc &+= parseTunnel(raw) }
                    blackHole(acc)
                }
            }
            report.add(c.key + "ParseNs", parse, "ns/packet", c.label + ": parse")
            // Emit: the concrete header types, in place, as the datapath writes them.
            var buffer = packet
            let emit = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: seconds) {
                buffer.withUnsafeMutableBytes { raw in
                    for _ in 0 ..< n { emitOuter(c, into: raw) }
                }
                blackHole(buffer)
            }
            precondition(buffer == packet, "in-place emit must reproduce the packet")
            report.add(c.key + "EmitNs", emit, "ns/packet", c.label + ": emit")
        }
        let decode = BenchReport.nanosecondsPerOperation(iterations: 100, minimumSeconds: seconds) {
            innerFrame.withUnsafeBytes { raw in
                for _ in 0 ..< 100 { blackHole(Dissector().decode(raw).layers.count) }
            }
        }
        report.add("dissectorNs", decode, "ns/packet", "hna decode's dissector, Ethernet/IPv4/UDP")
        return report
    }

    static func innerFrame(_ a: MACAddress, _ b: MACAddress) -> [UInt8] {
        let data = [UInt8](repeating: 0xAB, count: 22)
        let udp = UDPHeader(sourcePort: 40000, destinationPort: 40001, payloadLength: data.count)
        let ip = IPv4Header(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocol: .udp,
                            payloadLength: UDPDatagram.headerLength + data.count)
        return EthernetHeader(destination: b, source: a, etherType: .ipv4).emitted() + ip.emitted() + udp.emitted() + data
    }

    /// Walks a tunnel packet with the checked views; returns a value that depends on every header.
    @inline(__always)
    static func parseTunnel(_ raw: UnsafeRawBufferPointer) -> Int {
        do throws(WireError) {
            let eth = try EthernetFrame(checking: raw)
            let ip = try IPv4Packet(checking: eth.payload)
            guard ip.checksumValid else { return 0 }
            let udp = try UDPDatagram(checking: ip.payload)
            var payload = udp.payload
            var next: HNANextProtocol = udp.destinationPort == WellKnownPort.vxlan ? .vxlan : .mpls
            var acc = Int(ip.destination.rawValue & 0xFF)
            if udp.destinationPort == WellKnownPort.hna {
                let h = try HNAHeaderView(checking: payload)
                acc &+= Int(h.queueLength(1)) &+ Int(h.sequence ?? 0)
                next = h.nextProtocol
                payload = h.payload
            }
            let innerIP: IPv4Packet
            if next == .vxlan {
                let v = try VXLANPacket(checking: payload)
                acc &+= Int(v.vni)
                let inner = try EthernetFrame(checking: v.payload)
                innerIP = try IPv4Packet(checking: inner.payload)
            } else {
                let m = try MPLSPacket(checking: payload)
                acc &+= Int(m.top.label.rawValue)
                innerIP = try IPv4Packet(checking: m.payload)
            }
            let innerUDP = try UDPDatagram(checking: innerIP.payload)
            return acc &+ Int(innerUDP.destinationPort)
        } catch {
            return 0
        }
    }

    @inline(__always)
    static func emitOuter(_ c: Case, into raw: UnsafeMutableRawBufferPointer) {
        var o = 0
        @inline(__always) func put<H: WireEmittable>(_ h: H) {
            h.emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[o...]))
            o += h.encodedLength
        }
        put(c.ethernet)
        put(c.ip)
        put(c.udp)
        if let h = c.hna { put(h) }
        if let v = c.vxlan { put(v) }
        if let m = c.mpls { put(m) }
    }
}
