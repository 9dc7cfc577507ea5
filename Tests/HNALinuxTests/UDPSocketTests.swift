import Foundation
import HNALinux
import HNATestSupport
import HNAWire
import Testing

@Suite("UDP batches between namespaces", .enabled(if: Kernel.usable, Kernel.skipReason))
struct UDPSocketTests {
    /// Two "hosts" joined by a veth pair, with IPv6 off and the neighbour already resolved by a first
    /// datagram (so the burst is not parked in the ARP queue).
    struct Hosts {
        var a: Namespace
        var b: Namespace
        var aIP: IPv4Address
        var bIP: IPv4Address
    }

    static func hosts(_ setup: LinkSetup) throws -> Hosts {
        let tag = Kernel.tag()
        let net = Kernel.subnet()
        let a = try setup.createNamespace("hnt-\(tag)-a")
        let b = try setup.createNamespace("hnt-\(tag)-b")
        try setup.createVethPair("hnt\(tag)a", in: a, peer: "hnt\(tag)b", peerIn: b)
        try setup.addAddress("10.202.\(net).1/24", to: "hnt\(tag)a", in: a)
        try setup.addAddress("10.202.\(net).2/24", to: "hnt\(tag)b", in: b)
        return Hosts(a: a, b: b, aIP: IPv4Address(10, 202, net, 1), bIP: IPv4Address(10, 202, net, 2))
    }

    /// Receives into `batch` from each socket until `expected` datagrams arrived or 5 s passed (a fuse
    /// against hangs, not a timing goal), calling `collect` per burst.
    static func drain(_ sockets: [UDPSocket], batch: PacketBatch, expected: Int,
                      _ collect: @escaping (UDPSocket, PacketBatch) -> Void) throws -> Int {
        let loop = try EventLoop()
        defer { loop.close() }
        var got = 0
        var failure: LinuxError?
        for s in sockets {
            try loop.register(fd: s.fd) { _, _ in
                do throws(LinuxError) {
                    while try s.receive(into: batch) > 0 {
                        got += batch.count
                        collect(s, batch)
                    }
                } catch { failure = error }
                if got >= expected || failure != nil { loop.stop() }
            }
        }
        try loop.run(until: EventLoop.now() + 5_000_000_000)
        if let failure { throw failure }
        return got
    }

    /// 600 datagrams of 64 bytes, each to one of two sockets chosen at random, go out in three sendmmsg
    /// calls; every one arrives exactly once, intact, at its own socket, from the sender's address.
    @Test func burstsReachManyDestinationsOnce() throws {
        try Kernel.withSetup { setup in
            let h = try Self.hosts(setup)
            let big = UDPSocket.Options(receiveBufferSize: 4 << 20)
            let sender = try h.a.withEntered { try UDPSocket(bindingTo: .v4(h.aIP, port: 0), options: big) }
            let receivers = try h.b.withEntered {
                [try UDPSocket(bindingTo: .v4(h.bIP, port: 0), options: big),
                 try UDPSocket(bindingTo: .v4(h.bIP, port: 0), options: big)]
            }
            #expect(receivers[0].localAddress.port != receivers[1].localAddress.port)

            // Warm-up: resolves the neighbour and checks a lone datagram.
            let one = PacketBatch(capacity: 1, bufferSize: 64)
            one.set(0, [1, 2, 3])
            one.setAddress(0, receivers[0].localAddress)
            one.count = 1
            #expect(try sender.send(one) == UDPSocket.SendResult(sent: 1, next: 1))
            let warm = PacketBatch(capacity: 8, bufferSize: 64)
            _ = try Self.drain([receivers[0]], batch: warm, expected: 1) { _, b in
                #expect(b.bytes(0) == [1, 2, 3])
                #expect(b.address(0) == sender.localAddress)
            }

            let total = 600
            let size = 64
            var rng = SplitMix64(seed: 0x5EED_0001)
            let out = PacketBatch(capacity: total, bufferSize: size, headroom: 32)
            var expected: [[UInt8]] = []
            var destination: [Int] = []
            for i in 0 ..< total {
                var payload = rng.bytes(size)
                withUnsafeBytes(of: UInt32(i).bigEndian) { payload.replaceSubrange(0 ..< 4, with: $0) }
                expected.append(payload)
                let d = Int(rng.next() % 2)
                destination.append(d)
                out.set(i, payload)
                out.setAddress(i, receivers[d].localAddress)
            }
            out.count = total
            // Three calls of at most 256 (the per-call cap): 256 + 256 + 88.
            let result = try sender.send(out)
            #expect(result == UDPSocket.SendResult(sent: total, next: total))

            var seen = [Int](repeating: 0, count: total)
            var problems: [String] = []
            let inBatch = PacketBatch(capacity: 64, bufferSize: 2048)
            let got = try Self.drain(receivers, batch: inBatch, expected: total) { socket, b in
                let at = receivers.firstIndex { $0 === socket }!
                for k in 0 ..< b.count {
                    let bytes = b.bytes(k)
                    guard bytes.count == size else { problems.append("length \(bytes.count)"); continue }
                    let i = Int(bytes[0 ..< 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                    guard i < total else { problems.append("index \(i)"); continue }
                    seen[i] += 1
                    if bytes != expected[i] { problems.append("payload \(i) differs") }
                    if destination[i] != at { problems.append("\(i) at socket \(at)") }
                    if b.address(k) != sender.localAddress { problems.append("\(i) from \(String(describing: b.address(k)))") }
                    if b.isTruncated(k) { problems.append("\(i) truncated") }
                }
            }
            #expect(problems.isEmpty, "\(problems.prefix(10))")
            #expect(got == total)
            #expect(seen.allSatisfy { $0 == 1 }, "missing or duplicated: \(seen.enumerated().filter { $0.element != 1 }.map(\.offset).prefix(10))")
        }
    }

    /// GSO: one message of 8 × 1000 bytes with a segment size becomes 8 datagrams for a plain socket;
    /// a GRO socket gets the same bytes back, coalesced, with the segment size reported.
    @Test func gsoSendsSegmentsAndGROCoalescesThem() throws {
        try Kernel.withSetup { setup in
            let h = try Self.hosts(setup)
            let sender = try h.a.withEntered { try UDPSocket(bindingTo: .v4(h.aIP, port: 0)) }
            let plain = try h.b.withEntered { try UDPSocket(bindingTo: .v4(h.bIP, port: 0)) }
            let gro = try h.b.withEntered { try UDPSocket(bindingTo: .v4(h.bIP, port: 0), options: .init(gro: true)) }

            let segment = 1000, segments = 8
            var rng = SplitMix64(seed: 0x5EED_0002)
            let payload = rng.bytes(segment * segments)
            let out = PacketBatch(capacity: 2, bufferSize: payload.count)
            for (i, dst) in [plain, gro].enumerated() {
                out.set(i, payload)
                out.setSegmentSize(i, segment)
                out.setAddress(i, dst.localAddress)
            }
            out.count = 2
            #expect(try sender.send(out) == UDPSocket.SendResult(sent: 2, next: 2))

            let inBatch = PacketBatch(capacity: 16, bufferSize: 65536)
            var plainBytes: [UInt8] = [], plainSizes: [Int] = []
            _ = try Self.drain([plain], batch: inBatch, expected: segments) { _, b in
                for k in 0 ..< b.count {
                    plainBytes += b.bytes(k)
                    plainSizes.append(b.length(k))
                    #expect(b.segmentSize(k) == 0)
                }
            }
            #expect(plainSizes == [Int](repeating: segment, count: segments))
            #expect(plainBytes == payload)

            var groBytes: [UInt8] = []
            var coalesced = 0
            _ = try Self.drain([gro], batch: inBatch, expected: 1) { _, b in
                for k in 0 ..< b.count {
                    groBytes += b.bytes(k)
                    if b.length(k) > segment {
                        coalesced += 1
                        #expect(b.segmentSize(k) == segment)
                    }
                }
            }
            // Gather any remainder in case the kernel split the run.
            while groBytes.count < payload.count, try gro.receive(into: inBatch) > 0 {
                for k in 0 ..< inBatch.count { groBytes += inBatch.bytes(k) }
            }
            #expect(groBytes == payload)
            #expect(coalesced >= 1, "a GRO socket should see at least one coalesced message")
        }
    }

    /// A per-packet failure (a datagram bigger than UDP allows) drops that packet only.
    @Test func oneBadPacketDoesNotStopTheBurst() throws {
        try Kernel.withSetup { setup in
            let h = try Self.hosts(setup)
            let sender = try h.a.withEntered { try UDPSocket(bindingTo: .v4(h.aIP, port: 0)) }
            let receiver = try h.b.withEntered { try UDPSocket(bindingTo: .v4(h.bIP, port: 0)) }
            let out = PacketBatch(capacity: 3, bufferSize: 70_000)
            out.set(0, [0xA])
            out.set(1, [UInt8](repeating: 0xB, count: 66_000))
            out.set(2, [0xC])
            for i in 0 ..< 3 { out.setAddress(i, receiver.localAddress) }
            out.count = 3
            let r = try sender.send(out)
            #expect(r.sent == 2 && r.failed == 1 && r.next == 3)
            #expect(r.lastErrno == EMSGSIZE)
            var got: [[UInt8]] = []
            _ = try Self.drain([receiver], batch: PacketBatch(capacity: 4, bufferSize: 64), expected: 2) { _, b in
                for k in 0 ..< b.count { got.append(b.bytes(k)) }
            }
            #expect(got == [[0xA], [0xC]])
        }
    }
}
