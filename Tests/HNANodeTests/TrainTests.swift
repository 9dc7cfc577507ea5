import HNACore
import HNANode
import HNARouter
import HNATestSupport
import HNAWire
import Testing

/// TCP super-frames (TSO) through two nodes as trains: handled once by the router and the controller,
/// cut into one datagram per segment (each with its own HNA header and sequence number) only as they
/// leave, and built back into a super-frame from an in-order run at the receiver.
@Suite("HNANode trains")
struct TrainTests {
    static let mss = 1000

    /// A super-frame from vm1 to vm2 through the gateway: IPv4 with DF, the TCP checksum left partial
    /// (the pseudo-header sum), as a VM's stack hands it to a TAP with TSO.
    static func superFrame(payload: [UInt8], sequence: UInt32, flags: TCPFlags = [.ack, .psh]) -> [UInt8] {
        var tcp = TCPHeader(sourcePort: 40000, destinationPort: 5201, sequenceNumber: sequence, acknowledgmentNumber: 7,
                            flags: flags, window: 1000).emitted()
        let partial = InternetChecksum.pseudoHeader(source: Fabric.vm1, destination: Fabric.vm2, protocol: .tcp,
                                                    length: tcp.count + payload.count).folded
        tcp.withUnsafeMutableBytes { $0.setU16(partial, at: TCPSegment.Field.checksum) }
        return EthernetHeader(destination: Fabric.routerMAC, source: Fabric.mac1, etherType: .ipv4).emitted()
            + IPv4Header(source: Fabric.vm1, destination: Fabric.vm2, protocol: .tcp, payloadLength: tcp.count + payload.count,
                         dontFragment: true).emitted()
            + tcp + payload
    }

    /// One ordinary segment of the same TCP flow (complete checksum): it takes the flow through the
    /// slow path on both nodes, so the tests see the fast path (a new flow's burst beyond the router's
    /// hold bound is dropped by design, trains or not).
    static func openFlow(_ f: inout Fabric) {
        var frame = superFrame(payload: [0], sequence: 0)
        frame.withUnsafeMutableBytes { raw in
            TCPSegment.fillChecksum(in: UnsafeMutableRawBufferPointer(rebasing: raw[34...]), source: Fabric.vm1, destination: Fabric.vm2)
        }
        f.send(frame, from: 0)
        f.delivered = [[], []]
        f.deliveredGSO = [[], []]
    }

    static func inject(_ f: inout Fabric, _ frame: [UInt8], gso: Int = mss) {
        let b = f.nodes[0].pool.takeLarge()
        b.load(frame)
        b.meta.ingressInterface = 1
        b.meta.gsoSize = UInt16(gso)
        f.nodes[0].processFromInterfaces([b], now: f.now, output: &f.outputs[0])
    }

    /// The TCP byte stream vm2 got, checking each frame on the way: segments with complete checksums;
    /// super-frames (GSO size set) with the partial one the virtio-net header announces.
    static func stream(_ f: Fabric) throws -> (bytes: [UInt8], superFrames: Int) {
        var out: [UInt8] = []
        var superFrames = 0
        for ((_, frame), gso) in zip(f.delivered[1], f.deliveredGSO[1]) {
            try frame.withUnsafeBytes { raw in
                let ip = try IPv4Packet(checking: raw.tail(from: 14))
                #expect(ip.checksumValid && ip.totalLength == raw.count - 14 && ip.ttl == 63)
                let tcp = try TCPSegment(checking: ip.payload)
                if gso > 0 {
                    superFrames += 1
                    #expect(tcp.checksum == InternetChecksum.pseudoHeader(source: ip.source, destination: ip.destination,
                                                                          protocol: .tcp, length: ip.payload.count).folded)
                } else {
                    #expect(tcp.checksumIsValid(source: ip.source, destination: ip.destination))
                }
                out += Array(tcp.payload)
            }
        }
        return (out, superFrames)
    }

    /// The node's default bucket (16 KiB) makes a 20-segment super-frame two bursts.
    @Test(arguments: [Encapsulation.vxlan, .mplsOverUDP, .mplsOverGRE])
    func superFrameCrossesAsTrains(encapsulation: Encapsulation) throws {
        var f = try Fabric(encapsulation: encapsulation)
        var rng = SplitMix64(seed: 0x7A41)
        Self.openFlow(&f)
        let payload = rng.bytes(20 * Self.mss - 300)
        Self.inject(&f, Self.superFrame(payload: payload, sequence: 0xFFFF_FF00))
        // Every datagram on the wire is a whole segment with valid inner checksums and its own number,
        // and no burst is larger than the pacers' bucket (a longer train goes as several).
        let burst = f.nodes[0].configuration.flowControl.rateBurstBytes
        var sequences: [UInt16] = []
        var bursts = 0
        for d in f.outputs[0].toFabric where d.address == Fabric.b {
            let datagrams = Fabric.datagrams(d)
            bursts += 1
            #expect(datagrams.map(\.count).reduce(0, +) <= burst)
            for bytes in datagrams {
                try bytes.withUnsafeBytes { raw in
                    var at = 0
                    if d.transport == .gre { at += try GREPacket(checking: raw).headerLength }
                    let h = try HNAHeaderView(checking: raw.tail(from: at))
                    if let s = h.sequence { sequences.append(s) }
                    at += h.headerLength
                    at += encapsulation == .vxlan ? VXLANPacket.headerLength + 14 : MPLSLabelStackEntry.length
                    let ip = try IPv4Packet(checking: raw.tail(from: at))
                    #expect(ip.totalLength <= 1500 - 28 - 60)
                    let tcp = try TCPSegment(checking: ip.payload)
                    #expect(ip.checksumValid && tcp.checksumIsValid(source: ip.source, destination: ip.destination))
                }
            }
        }
        #expect(sequences.count == 20)
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 &+ 1 == $1 })
        f.settle()
        let (bytes, superFrames) = try Self.stream(f)
        #expect(bytes == payload)
        if encapsulation == .mplsOverGRE {
            // No GRO on a raw socket: the segments arrive one by one.
            #expect(f.delivered[1].count == 20 && superFrames == 0)
        } else {
            #expect(bursts > 1 && bursts < 20)
            #expect(f.delivered[1].count == bursts && superFrames == bursts, "a super-frame for the VM per burst")
            #expect(f.deliveredGSO[1] == [UInt16](repeating: UInt16(Self.mss), count: bursts))
        }
        #expect(f.nodes[0].controller!.counters.dataSent == 20 + 1)
        #expect(f.nodes[0].controller!.inFlight(to: 0, priority: 0) == 0)
    }

    /// Datagrams of trains lost on their first try: the run that reaches the receiver has holes, its
    /// in-order part still makes a train, the rest waits in the reorder buffer, NACKs ask for the
    /// missing segments and they are resent alone (slices of their trains). The VM gets the whole
    /// stream exactly once, in order.
    @Test(arguments: [true, false])
    func lostSegmentsAreResentAloneAndTheStreamIsWhole(runs: Bool) throws {
        var f = try Fabric()
        f.runs = runs
        var rng = SplitMix64(seed: 0x7A42)
        Self.openFlow(&f)
        var lost = 0
        f.lose = { i, d, _ in
            guard i == 0, d.port == WellKnownPort.hna, let h = try? HNAHeader(parsing: d.bytes), h.sequence != nil,
                  !h.isRetransmission, rng.next() % 5 == 0 else { return false }
            lost += 1
            return true
        }
        var expected: [UInt8] = []
        var sequence: UInt32 = 1000
        for _ in 0 ..< 8 {
            let payload = rng.bytes(Int.random(in: 2 ... 40, using: &rng) * Self.mss - Int.random(in: 0 ..< 999, using: &rng))
            Self.inject(&f, Self.superFrame(payload: payload, sequence: sequence))
            sequence &+= UInt32(payload.count)
            expected += payload
        }
        f.settle(horizon: 100_000_000)
        let (bytes, _) = try Self.stream(f)
        #expect(lost > 0)
        #expect(bytes.count == expected.count)
        #expect(bytes == expected)
        let c = f.nodes[0].controller!.counters
        #expect(c.retransmissions >= lost && c.retransmissions < 3 * lost + 40, "resends are of segments, not whole trains")
        #expect(f.nodes[1].controller!.counters.misplacedTrains == 0)
        #expect(f.nodes[0].controller!.resendMemoryUsed == 0 && f.nodes[1].controller!.reorderMemoryUsed == 0)
    }

    /// Towards a plain VXLAN peer a super-frame leaves at once as standard VXLAN datagrams (one UDP GSO
    /// burst), each a complete segment.
    @Test func superFrameToAPlainPeerIsCutAtOnce() throws {
        var f = try Fabric()
        var rng = SplitMix64(seed: 0x7A43)
        let payload = rng.bytes(5 * Self.mss)
        f.send(Frames.udp(from: Fabric.mac1, to: Fabric.routerMAC, Fabric.vm1, Fabric.plainVM), from: 0)
        f.atPlainPeer.removeAll()
        var frame = Self.superFrame(payload: payload, sequence: 1)
        frame.withUnsafeMutableBytes { raw in
            // Addressed to the VM behind the plain peer (and its pseudo-header sum with it).
            Fabric.plainVM.write(to: raw, at: 14 + IPv4Packet.Field.destination)
            IPv4Packet.fillChecksum(in: UnsafeMutableRawBufferPointer(rebasing: raw[14 ..< 34]), headerLength: 20)
            let partial = InternetChecksum.pseudoHeader(source: Fabric.vm1, destination: Fabric.plainVM, protocol: .tcp,
                                                        length: raw.count - 34).folded
            raw.setU16(partial, at: 34 + TCPSegment.Field.checksum)
        }
        Self.inject(&f, frame)
        f.settle()
        #expect(f.multiDatagramEntries == 1)
        var got: [UInt8] = []
        for d in f.atPlainPeer {
            #expect(d.port == WellKnownPort.vxlan)
            let raw = d.buffer.readableBytes
            let v = try VXLANPacket(checking: raw)
            #expect(v.vni == 5001)
            let ip = try IPv4Packet(checking: raw.tail(from: VXLANPacket.headerLength + 14))
            let tcp = try TCPSegment(checking: ip.payload)
            #expect(tcp.checksumIsValid(source: ip.source, destination: ip.destination))
            got += Array(tcp.payload)
        }
        #expect(f.atPlainPeer.count == 5 && got == payload)
    }

    /// A super-frame whose segments do not fit the tunnel gets "fragmentation needed" with the MTU
    /// (never fragments: its checksum is partial).
    @Test func superFrameTooBigForTheTunnelGetsTheMTU() throws {
        var f = try Fabric()
        Self.openFlow(&f)
        Self.inject(&f, Self.superFrame(payload: [UInt8](repeating: 1, count: 6000), sequence: 1), gso: 1460)
        f.settle()
        #expect(f.delivered[1].isEmpty)
        #expect(f.nodes[0].router.drops[.packetTooBig] == 1)
        let icmp = try #require(f.delivered[0].first?.1)
        let (_, ip, body) = try Frames.parse(icmp)
        #expect(ip.protocol == .icmp && body[0] == 3 && body[1] == 4)
        let mtu = Int(UInt16(body[6]) << 8 | UInt16(body[7]))
        #expect(mtu > 1000 && mtu < 1460 + 40)
        // The VM's stack lowers its MSS to fit, and the super-frame goes through.
        let payload = [UInt8](repeating: 2, count: 6000)
        Self.inject(&f, Self.superFrame(payload: payload, sequence: 1), gso: mtu - 40)
        f.settle()
        #expect(try Self.stream(f).bytes == payload)
    }
}
