import Foundation
import HNALinux
import HNAWire
import Testing

@Suite("Namespaces, veth pairs, bridges", .enabled(if: Kernel.usable, Kernel.skipReason))
struct LinkSetupTests {
    /// The lab's shape in miniature: two hosts hang off a bridge in a fabric namespace. Everything the
    /// helpers claim to configure is read back from the kernel, traffic crosses the bridge, and teardown
    /// leaves no namespace or link behind.
    @Test func buildsAFabricAndTearsItDown() throws {
        let tag = Kernel.tag()
        let net = Kernel.subnet()
        let setup = LinkSetup()
        var created: [String] = []
        do {
            defer { #expect(setup.teardown().isEmpty) }
            let fabric = try setup.createNamespace("hnt-\(tag)-fab")
            let h1 = try setup.createNamespace("hnt-\(tag)-h1")
            let h2 = try setup.createNamespace("hnt-\(tag)-h2")
            created = [fabric.name, h1.name, h2.name]
            #expect(Set(try Namespace.list()).isSuperset(of: created))
            try setup.createBridge("br\(tag)", in: fabric)
            for (i, h) in [h1, h2].enumerated() {
                try setup.createVethPair("eth\(tag)\(i)", in: h, peer: "p\(tag)\(i)", peerIn: fabric, mtu: 9000)
                try setup.attach("p\(tag)\(i)", toBridge: "br\(tag)", in: fabric)
                try setup.addAddress("10.203.\(net).\(i + 1)/24", to: "eth\(tag)\(i)", in: h)
            }
            try setup.setTokenBucket("p\(tag)1", in: fabric, rateBitsPerSecond: 100_000_000, burstBytes: 32_000,
                                     latencyMicroseconds: 10_000)

            let link = try LinkSetup.ip(h1, ["-o", "link", "show", "dev", "eth\(tag)0"])
            #expect(link.contains("mtu 9000"))
            #expect(link.contains("state UP") || link.contains(",UP"))
            let port = try LinkSetup.ip(fabric, ["-o", "link", "show", "dev", "p\(tag)0"])
            #expect(port.contains("master br\(tag)"))
            let qdisc = try fabric.run("tc", ["qdisc", "show", "dev", "p\(tag)1"])
            #expect(qdisc.contains("tbf") && qdisc.contains("100Mbit"))
            let v6 = try h1.run("sysctl", ["-n", "net.ipv6.conf.eth\(tag)0.disable_ipv6"])
            #expect(v6.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            let addr = try LinkSetup.ip(h2, ["-o", "-4", "addr", "show", "dev", "eth\(tag)1"])
            #expect(addr.contains("10.203.\(net).2/24"))
            // Nothing was left in our own namespace: all links live in the created ones.
            #expect(setup.rootLinks.isEmpty)

            // A datagram from h1 reaches h2 across the bridge.
            let a = try h1.withEntered { try UDPSocket(bindingTo: .v4(IPv4Address(10, 203, net, 1), port: 0)) }
            let b = try h2.withEntered { try UDPSocket(bindingTo: .v4(IPv4Address(10, 203, net, 2), port: 0)) }
            let batch = PacketBatch(capacity: 1, bufferSize: 64)
            batch.set(0, [42])
            batch.setAddress(0, b.localAddress)
            batch.count = 1
            #expect(try a.send(batch).sent == 1)
            let loop = try EventLoop()
            defer { loop.close() }
            var got: [UInt8]?
            try loop.register(fd: b.fd) { _, _ in
                if (try? b.receive(into: batch)) ?? 0 > 0 { got = batch.bytes(0); loop.stop() }
            }
            try loop.run(until: EventLoop.now() + 5_000_000_000)
            #expect(got == [42])
        }
        let left = try Namespace.list()
        for name in created { #expect(!left.contains(name)) }
        #expect(setup.teardown().isEmpty, "a second teardown has nothing to do")
    }

    /// Links made in our own namespace are deleted by teardown too (and a veth goes with its peer).
    @Test func rootNamespaceLinksAreRemoved() throws {
        let tag = Kernel.tag()
        let setup = LinkSetup()
        defer { setup.teardown() }
        let ns = try setup.createNamespace("hnt-\(tag)-r")
        try setup.createVethPair("hnt\(tag)r0", in: nil, peer: "hnt\(tag)r1", peerIn: ns)
        try setup.createBridge("hnt\(tag)br", in: nil)
        #expect(LinkSetup.linkExists("hnt\(tag)r0", in: nil))
        #expect(LinkSetup.linkExists("hnt\(tag)br", in: nil))
        #expect(setup.teardown().isEmpty)
        #expect(!LinkSetup.linkExists("hnt\(tag)r0", in: nil))
        #expect(!LinkSetup.linkExists("hnt\(tag)br", in: nil))
        #expect(!ns.exists)
    }

    /// A second process (`hna lab down`) can take over what the first one built and remove it.
    @Test func adoptedNamespacesAndLinksAreRemoved() throws {
        let tag = Kernel.tag()
        let first = LinkSetup()
        defer { first.teardown() }
        let ns = try first.createNamespace("hnt-\(tag)-adopt")
        try first.createBridge("hnt\(tag)ab", in: nil)
        let second = LinkSetup()
        second.adopt(Namespace(ns.name))
        second.adoptLink("hnt\(tag)ab")
        #expect(second.teardown().isEmpty)
        #expect(!ns.exists)
        #expect(!LinkSetup.linkExists("hnt\(tag)ab", in: nil))
    }

    @Test func failuresNameTheCommand() throws {
        let setup = LinkSetup()
        defer { setup.teardown() }
        do {
            try setup.addAddress("10.0.0.1/24", to: "hnt-nosuchlink", in: nil)
            Issue.record("adding an address to a missing link succeeded")
        } catch {
            #expect(error.description.hasPrefix("ip addr add 10.0.0.1/24 dev hnt-nosuchlink: exited"))
        }
        #expect(throws: LinuxError.invalidArgument(subject: "link a-very-long-link-name",
                                                   reason: "interface names are 1 to 15 characters without '/' or spaces")) {
            try setup.createBridge("a-very-long-link-name", in: nil)
        }
    }
}
