import Foundation
import HNALinux
import HNAWire
import Testing

@Suite("TAP devices in a namespace", .enabled(if: Kernel.usable, Kernel.skipReason))
struct TapDeviceTests {
    /// A socket inside the "VM" namespace sends a datagram to a neighbour that exists only behind the
    /// TAP fd: the kernel's ARP request and then the datagram itself must come out of the fd, and the
    /// ARP reply and the answer we write into the fd must reach the socket — both directions, through
    /// the real driver, with and without virtio-net headers.
    @Test(arguments: [false, true])
    func framesCrossTheTapBothWays(vnetHeader: Bool) throws {
        try Kernel.withSetup { setup in
            let tag = Kernel.tag()
            let net = Kernel.subnet()
            let vm = try setup.createNamespace("hnt-\(tag)-vm")
            let tap = try TapDevice(name: "hnt\(tag)", options: vnetHeader ? [.vnetHeader] : [])
            defer { tap.close() }
            #expect(tap.name == "hnt\(tag)")
            #expect(tap.vnetHeaderSize == (vnetHeader ? VirtioNetHeader.size : 0))
            try setup.moveLink(tap.name, from: nil, to: vm)
            try setup.disableIPv6(tap.name, in: vm)
            try setup.addAddress("10.201.\(net).1/24", to: tap.name, in: vm)
            try setup.setUp(tap.name, in: vm)

            let vmIP = IPv4Address(10, 201, net, 1)
            let peerIP = IPv4Address(10, 201, net, 2)
            let peerMAC = MACAddress(0x02, 0, 0, 0, 0x0A, 0x02)
            let peerPort: UInt16 = 9999
            let socket = try vm.withEntered { try UDPSocket(bindingTo: .v4(vmIP, port: 0)) }
            let request: [UInt8] = Array("hello from the vm".utf8)
            let answer: [UInt8] = Array("hello from the tap".utf8)

            let out = PacketBatch(capacity: 4, bufferSize: 2048)
            out.set(0, request)
            out.setAddress(0, .v4(peerIP, port: peerPort))
            out.count = 1
            #expect(try socket.send(out).sent == 1)

            let loop = try EventLoop()
            defer { loop.close() }
            let fromTap = PacketBatch(capacity: 16, bufferSize: 2048)
            let toTap = PacketBatch(capacity: 4, bufferSize: 2048)
            let inVM = PacketBatch(capacity: 4, bufferSize: 2048)
            var sawARPRequest = false
            var datagramOut: [UInt8]?
            var vmMAC = MACAddress.zero
            var received: (bytes: [UInt8], from: SocketAddress?)?
            var failures: [String] = []

            /// Writes `frame` to the TAP, behind a zero virtio-net header when the device has them.
            func inject(_ frame: [UInt8]) {
                toTap.set(0, [UInt8](repeating: 0, count: tap.vnetHeaderSize) + frame)
                toTap.count = 1
                do { if try tap.write(toTap) != 1 { failures.append("TAP write took nothing") } }
                catch { failures.append("\(error)") }
            }

            try loop.register(fd: tap.fd) { _, _ in
                do { try tap.read(into: fromTap) } catch { failures.append("\(error)"); loop.stop(); return }
                for i in 0 ..< fromTap.count {
                    var frame = fromTap.bytes(i)
                    if vnetHeader {
                        let h = try? frame.withUnsafeBytes { b throws(WireError) in try VirtioNetHeader(parsing: b) }
                        if h?.gsoType != VirtioNetHeader.gsoNone { failures.append("unexpected GSO frame: \(String(describing: h))") }
                        frame.removeFirst(tap.vnetHeaderSize)
                    }
                    frame.withUnsafeBytes { b in
                        guard let eth = try? EthernetFrame(checking: b) else { failures.append("runt frame"); return }
                        let p = eth.payload
                        if eth.etherType == .arp, p.count >= Frame.ARP.length,
                           p.u16(at: Frame.ARP.operation) == Frame.ARP.request,
                           p.u32(at: Frame.ARP.targetIP) == peerIP.rawValue {
                            #expect(p.u32(at: Frame.ARP.senderIP) == vmIP.rawValue)
                            sawARPRequest = true
                            vmMAC = eth.source
                            inject(Frame.arpReply(mac: peerMAC, ip: peerIP, toMAC: eth.source, toIP: vmIP))
                        } else if eth.etherType == .ipv4, p.count >= Frame.IPv4.length + Frame.UDP.headerLength,
                                  p.u8(at: Frame.IPv4.proto) == UInt8(IPProtocol.udp.rawValue),
                                  p.u32(at: Frame.IPv4.destination) == peerIP.rawValue {
                            #expect(eth.destination == peerMAC, "the kernel used the MAC our ARP reply gave")
                            let udp = p.tail(from: Frame.IPv4.length)
                            let sport = udp.u16(at: Frame.UDP.sourcePort)
                            #expect(udp.u16(at: Frame.UDP.destinationPort) == peerPort)
                            datagramOut = Array(udp.tail(from: Frame.UDP.headerLength))
                            inject(Frame.udp(from: peerMAC, peerIP, peerPort, to: eth.source, vmIP, sport, payload: answer))
                        }
                    }
                }
            }
            try loop.register(fd: socket.fd) { _, _ in
                do {
                    if try socket.receive(into: inVM) > 0 { received = (inVM.bytes(0), inVM.address(0)); loop.stop() }
                } catch { failures.append("\(error)"); loop.stop() }
            }
            let finished = try loop.run(until: EventLoop.now() + 5_000_000_000)

            #expect(failures.isEmpty, "\(failures)")
            #expect(finished, "the answer written to the TAP never reached the socket")
            #expect(sawARPRequest)
            #expect(vmMAC != .zero)
            #expect(datagramOut == request)
            #expect(received?.bytes == answer)
            #expect(received?.from == .v4(peerIP, port: peerPort))
            // The interface counted the frames we wrote (ARP reply + datagram) as received.
            let rx = try vm.run("cat", ["/sys/class/net/\(tap.name)/statistics/rx_packets"])
            #expect((Int(rx.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 2)
            socket.close()
        }
    }

    /// Multi-queue: each open of the same name is another queue of one interface.
    @Test func multiQueueOpensShareOneInterface() throws {
        try Kernel.withSetup { _ in
            let name = "hnt\(Kernel.tag())q"
            let q0 = try TapDevice(name: name, options: [.multiQueue, .vnetHeader])
            let q1 = try TapDevice(name: name, options: [.multiQueue, .vnetHeader])
            #expect(q0.name == name && q1.name == name)
            #expect(q0.fd != q1.fd)
            try q0.setOffloads([.checksum, .tso4, .tso6])
            try q0.setVnetHeaderSize(VirtioNetHeader.mergeableSize)
            #expect(q0.vnetHeaderSize == VirtioNetHeader.mergeableSize)
            // A single-queue open of a multi-queue device is refused by the kernel.
            #expect(throws: LinuxError.self) { try TapDevice(name: name) }
            #expect(LinkSetup.linkExists(name, in: nil))
            q0.close()
            q1.close()
            // The device is not persistent: closing its last queue removes it.
            #expect(!LinkSetup.linkExists(name, in: nil))
        }
    }

    @Test func badNamesAreRefusedWithAMessage() throws {
        do {
            _ = try TapDevice(name: "this-name-is-too-long")
            Issue.record("a 21-character name was accepted")
        } catch {
            #expect(error.description == "TAP device this-name-is-too-long: interface names are 1 to 15 characters without '/' or spaces")
        }
    }
}

@Suite("Linux error messages")
struct LinuxErrorTests {
    @Test func systemErrorsReadLikeASentence() {
        let e = LinuxError.system(subject: "TAP device vm1", operation: "/dev/net/tun", errno: EACCES)
        #expect(e.description == "TAP device vm1: /dev/net/tun: permission denied")
        #expect(e.errno == EACCES)
    }

    @Test func failedCommandsCarryTheirStderr() {
        do {
            try Command.run("sh", ["-c", "echo 'no such thing' >&2; exit 3"])
            Issue.record("a failing command did not throw")
        } catch {
            #expect(error.description == "sh -c echo 'no such thing' >&2; exit 3: exited 3: no such thing")
        }
        #expect(throws: LinuxError.self) { try Command.run("hna-no-such-tool", []) }
    }

    @Test func socketAddressesRoundTripThroughText() {
        for text in ["10.0.0.1:4789", "[2001:db8::1]:6635", "0.0.0.0:0"] {
            #expect(SocketAddress(text)?.description == text)
        }
        for bad in ["10.0.0.1", "10.0.0.1:70000", "[::1]4789", "host:80"] {
            #expect(SocketAddress(bad) == nil, "\(bad)")
        }
    }
}
