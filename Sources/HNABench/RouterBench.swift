import HNARouter
import HNAWire

/// `hna bench router`: the virtual router on one core — FIB lookups (1M IPv4 / 100K IPv6 prefixes),
/// flow-table lookups (1M flows), flow set-ups through the slow path, and the whole pipeline for
/// 64-byte packets in both directions with 10K active flows.
public enum RouterBench {
    public struct Options: Sendable {
        public var ipv4Prefixes = 1_000_000
        public var ipv6Prefixes = 100_000
        public var flows = 1_000_000
        public var activeFlows = 10_000
        public var seconds = 0.5
        public init() {}
    }

    /// xorshift64*: the bench's own deterministic randomness (the test PRNG lives in the test target).
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
    }

    /// A BGP-table-like length mix: mostly /24, then /16-/23, a few /8-/15 and /25-/32.
    static func ipv4Length(_ r: inout Random) -> Int {
        let x = r.next() % 100
        if x < 55 { return 24 }
        if x < 90 { return 16 + Int(r.next() % 8) }
        if x < 95 { return 8 + Int(r.next() % 8) }
        return 25 + Int(r.next() % 8)
    }

    /// IPv6 under 2000::/3, mostly /32, /40, /44, /48, some /56 and /64.
    static func ipv6Prefix(_ r: inout Random) -> IPv6Prefix {
        let lengths = [32, 32, 36, 40, 44, 48, 48, 48, 56, 64]
        let len = lengths[Int(r.next() % UInt64(lengths.count))]
        let high = 0x2000_0000_0000_0000 | (r.next() >> 3)
        return IPv6Prefix(IPv6Address(high: high, low: 0), len)
    }

    public static func run(_ o: Options = Options()) -> BenchReport {
        var report = BenchReport(name: "router")
        report.context.append(("ipv4Prefixes", String(o.ipv4Prefixes)))
        report.context.append(("ipv6Prefixes", String(o.ipv6Prefixes)))
        report.context.append(("flows", String(o.flows)))
        report.context.append(("activeFlows", String(o.activeFlows)))
        fib(o, &report)
        flowTable(o, &report)
        setups(o, &report)
        pipeline(o, &report)
        return report
    }

    static func fib(_ o: Options, _ report: inout BenchReport) {
        var r = Random(state: 0x1234_5678_9ABC_DEF1)
        var fib4 = IPFIB<IPv4Address>.ipv4()
        let t0 = monotonicNanoseconds()
        for _ in 0 ..< o.ipv4Prefixes {
            let a = IPv4Address(rawValue: UInt32(truncatingIfNeeded: r.next()))
            fib4.add(IPv4Prefix(a, ipv4Length(&r)), nextHop: UInt32(1 + r.next() % 4096))
        }
        let build = Double(monotonicNanoseconds() - t0) / Double(o.ipv4Prefixes)
        report.add("fib4InsertNs", build, "ns/route", "IPv4 FIB: insert (building \(o.ipv4Prefixes) routes)")
        report.add("fib4MemoryMB", Double(fib4.memoryBytes) / 1e6, "MB", "IPv4 FIB: trie memory")
        let n = 1 << 20
        let probes = (0 ..< n).map { _ in IPv4Address(rawValue: UInt32(truncatingIfNeeded: r.next())) }
        let ns4 = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: o.seconds) {
            var acc: UInt32 = 0
            probes.withUnsafeBufferPointer { p in
                for a in p { acc &+= fib4.lookup(a) }
            }
            blackHole(acc)
        }
        report.add("fib4LookupsPerSecond", 1e9 / ns4, "lookups/s", "IPv4 FIB: lookups, random addresses")

        var fib6 = IPFIB<IPv6Address>.ipv6()
        for _ in 0 ..< o.ipv6Prefixes { fib6.add(ipv6Prefix(&r), nextHop: UInt32(1 + r.next() % 4096)) }
        report.add("fib6MemoryMB", Double(fib6.memoryBytes) / 1e6, "MB", "IPv6 FIB: trie memory")
        // Half the probes fall inside configured prefixes (the interesting, deep case), half anywhere
        // in 2000::/3.
        let routes = fib6.table.all.map(\.0)
        let probes6 = (0 ..< n).map { i -> IPv6Address in
            if i % 2 == 0 {
                let p = routes[Int(r.next() % UInt64(routes.count))]
                return IPv6Address(high: p.address.high | (r.next() >> UInt64(min(p.length, 63))), low: r.next())
            }
            return IPv6Address(high: 0x2000_0000_0000_0000 | (r.next() >> 3), low: r.next())
        }
        let ns6 = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: o.seconds) {
            var acc: UInt32 = 0
            probes6.withUnsafeBufferPointer { p in
                for a in p { acc &+= fib6.lookup(a) }
            }
            blackHole(acc)
        }
        report.add("fib6LookupsPerSecond", 1e9 / ns6, "lookups/s", "IPv6 FIB: lookups")
    }

    static func flowKey(_ i: Int) -> FlowKey {
        let x = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        return FlowKey(vrf: VRFID(truncatingIfNeeded: x >> 48), source: IPv4Address(rawValue: UInt32(truncatingIfNeeded: x)),
                       destination: IPv4Address(rawValue: UInt32(truncatingIfNeeded: x >> 32)), protocol: .tcp,
                       sourcePort: UInt16(truncatingIfNeeded: i), destinationPort: 443)
    }

    static func flowTable(_ o: Options, _ report: inout BenchReport) {
        var table = FlowTable(capacity: max(o.flows, FlowTable.defaultCapacity))
        for i in 0 ..< o.flows {
            let k = flowKey(i)
            _ = table.insert(k, hash: k.hash, state: .active, action: .forward, now: 0)
        }
        var r = Random(state: 99)
        let n = 1 << 18
        let keys = (0 ..< n).map { _ in flowKey(Int(r.next() % UInt64(o.flows))) }
        let ns = BenchReport.nanosecondsPerOperation(iterations: n, minimumSeconds: o.seconds) {
            var found = 0
            keys.withUnsafeBufferPointer { p in
                for k in p where table.find(k, hash: k.hash) != nil { found &+= 1 }
            }
            blackHole(found)
        }
        report.add("flowLookupsPerSecond", 1e9 / ns, "lookups/s", "Flow table: hash + lookup, \(o.flows) flows")
    }

    // MARK: Router set-ups

    static let gatewayMAC = RouterConfiguration().gatewayMAC
    static let vmMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)

    /// One VRF, one VM port, the remote subnet 10.1.0.0/16 behind a VXLAN tunnel.
    static func router(capacity: Int) -> Router {
        var c = RouterConfiguration()
        c.flowCapacity = capacity
        c.maxPendingSetups = 1 << 16
        var router = Router(configuration: c, pool: PacketPool())
        router.addVRF(1, gatewayIPv4: [IPv4Address(10, 0, 0, 254)])
        router.addInterface(1, InterfaceConfiguration(vrf: 1, mac: vmMAC))
        let vm = router.addNextHop(.interface(1))
        let tunnel = router.addNextHop(.tunnel(Tunnel(peer: .v4(IPv4Address(192, 168, 0, 2)), encapsulation: .vxlan, label: 5001)))
        router.addRoute(1, IPv4Prefix(IPv4Address(10, 0, 0, 1), 32), nextHop: vm)
        router.addRoute(1, IPv4Prefix(IPv4Address(10, 1, 0, 0), 16), nextHop: tunnel)
        router.mapVNI(5001, to: .vrf(1))
        return router
    }

    /// Flow `i`'s remote address and VM-side port: unique for the first 2^32 flows.
    static func endpoints(_ i: Int) -> (IPv4Address, UInt16) {
        (IPv4Address(rawValue: 0x0A01_0000 | UInt32(i & 0xFFFF)), UInt16(truncatingIfNeeded: 1024 + (i >> 16)))
    }

    /// A 64-byte frame VM → remote VM number `i` (Ethernet 14 + IPv4 20 + UDP 8 + 22 bytes).
    static func vmFrame(_ i: Int) -> [UInt8] {
        let payload = 64 - 14 - 20 - 8
        let (remote, port) = endpoints(i)
        let udp = UDPHeader(sourcePort: port, destinationPort: 80, payloadLength: payload).emitted()
        let ip = IPv4Header(source: IPv4Address(10, 0, 0, 1), destination: remote,
                            protocol: .udp, payloadLength: udp.count + payload).emitted()
        return EthernetHeader(destination: gatewayMAC, source: vmMAC, etherType: .ipv4).emitted() + ip + udp
            + [UInt8](repeating: 0, count: payload)
    }

    /// The same flow's return packet as it arrives from the fabric: outer IPv4 + UDP + VXLAN + 64-byte frame.
    static func fabricPacket(_ i: Int) -> [UInt8] {
        let payload = 64 - 14 - 20 - 8
        let (remote, port) = endpoints(i)
        let udp = UDPHeader(sourcePort: 80, destinationPort: port, payloadLength: payload).emitted()
        let ip = IPv4Header(source: remote, destination: IPv4Address(10, 0, 0, 1),
                            protocol: .udp, payloadLength: udp.count + payload).emitted()
        let frame = EthernetHeader(destination: gatewayMAC, source: MACAddress(0x02, 0, 0, 0, 1, 1), etherType: .ipv4).emitted()
            + ip + udp + [UInt8](repeating: 0, count: payload)
        let b = PacketBuffer()
        b.load(VXLANHeader(vni: 5001).emitted() + frame)
        let d = TunnelDescriptor(peer: .v4(IPv4Address(192, 168, 0, 1)), encapsulation: .vxlan, priority: 0,
                                 sourcePort: 50000, nextHop: 0, flowHash: 0)
        OuterHeader.write(into: b, tunnel: d, source: .v4(IPv4Address(192, 168, 0, 2)))
        return b.array
    }

    static func setups(_ o: Options, _ report: inout BenchReport) {
        let flows = 200_000
        var router = router(capacity: 2 * flows + 1024)
        let frames = (0 ..< flows).map(vmFrame)
        let batch = (0 ..< 64).map { _ in PacketBuffer(capacity: 512) }
        var out = RouterOutput()
        let t0 = monotonicNanoseconds()
        var i = 0
        while i < flows {
            let n = min(64, flows - i)
            for k in 0 ..< n {
                frames[i + k].withUnsafeBytes { _ = batch[k].load($0, headroom: 128) }
                batch[k].meta.ingressInterface = 1
            }
            router.processFromInterfaces(n == 64 ? batch : Array(batch.prefix(n)), now: 1, output: &out)
            router.runSlowPath(now: 1, output: &out)
            out.removeAll()
            i += n
        }
        let ns = Double(monotonicNanoseconds() - t0) / Double(flows)
        report.add("flowSetupsPerSecond", 1e9 / ns, "flows/s",
                   "Flow set-up: miss + hold + policy + install pair + release (\(router.flowsSetUp) flows)")
    }

    static func pipeline(_ o: Options, _ report: inout BenchReport) {
        var router = router(capacity: 4 * o.activeFlows + 1024)
        let batchSize = 256
        let outFrames = (0 ..< o.activeFlows).map(vmFrame)
        let inPackets = (0 ..< o.activeFlows).map(fabricPacket)
        var out = RouterOutput()
        // Establish the flows (both directions share the connection's pair of entries).
        let warm = (0 ..< 64).map { _ in PacketBuffer(capacity: 512) }
        var i = 0
        while i < o.activeFlows {
            let n = min(64, o.activeFlows - i)
            for k in 0 ..< n {
                outFrames[i + k].withUnsafeBytes { _ = warm[k].load($0, headroom: 128) }
                warm[k].meta.ingressInterface = 1
            }
            router.processFromInterfaces(Array(warm.prefix(n)), now: 1, output: &out)
            router.runSlowPath(now: 1, output: &out)
            out.removeAll()
            i += n
        }
        let batch = (0 ..< batchSize).map { _ in PacketBuffer(capacity: 512) }
        var cursor = 0
        // Each round reloads the batch's bytes (what a driver's receive does) and runs the pipeline.
        let nsOut = BenchReport.nanosecondsPerOperation(iterations: batchSize, minimumSeconds: o.seconds) {
            for k in 0 ..< batchSize {
                outFrames[cursor].withUnsafeBytes { _ = batch[k].load($0, headroom: 128) }
                batch[k].meta.ingressInterface = 1
                cursor = cursor + 1 == outFrames.count ? 0 : cursor + 1
            }
            router.processFromInterfaces(batch, now: 2, output: &out)
            blackHole(out.toFabric.count)
            out.removeAll()
        }
        report.add("vmToTunnelMpps", 1e3 / nsOut, "Mpps", "Pipeline VM→tunnel, 64 B (classify+flow+FIB+VXLAN encap)")
        let nsIn = BenchReport.nanosecondsPerOperation(iterations: batchSize, minimumSeconds: o.seconds) {
            for k in 0 ..< batchSize {
                inPackets[cursor].withUnsafeBytes { _ = batch[k].load($0, headroom: 128) }
                cursor = cursor + 1 == inPackets.count ? 0 : cursor + 1
            }
            router.processFromFabric(batch, now: 3, output: &out)
            blackHole(out.toInterfaces.count)
            out.removeAll()
        }
        report.add("tunnelToVMMpps", 1e3 / nsIn, "Mpps", "Pipeline tunnel→VM, 64 B inner (decap+flow+FIB+rewrite)")
        let delivered = router.interfaceCounters[1].txPackets
        report.context.append(("pipelineDrops", String(router.drops.total)))
        report.context.append(("deliveredToVM", String(delivered)))
    }
}
