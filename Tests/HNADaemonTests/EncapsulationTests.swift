import Foundation
import HNALinux
import HNATestSupport
import HNAWire
import Testing

/// Every encapsulation the daemon sends, as the wire sees it: three daemons in namespaces, one network
/// per encapsulation (VXLAN, MPLS-over-UDP, MPLS-over-GRE), h1–h2 HNA peers and h1–h3 plain peers. Pings
/// cross every network both ways while tcpdump records h1's underlay link; tshark with the HNA Lua
/// dissector then has to decode each kind of packet, and the outer UDP source port has to follow the
/// inner flow.
extension DaemonTests {
    /// (name, encapsulation, VNI, label) of the three networks; network n uses 192.168.n.0/24.
    static let encapsulations = [("blue", "vxlan", 5001, 1001), ("green", "mpls-udp", 5002, 1002), ("red", "mpls-gre", 5003, 1003)]

    static func encapsulationConfig(_ i: Int, tag: String, dir: String) -> String {
        // h1 talks HNA to h2 and plain tunnels to h3; h2 and h3 each know only h1.
        let peers = i == 1 ? [(2, true), (3, false)] : [(1, i == 2)]
        var s = """
        hna:
          name: h\(i)
          underlay: 10.78.0.\(i)
          control: \(dir)/h\(i).sock
          heartbeatIdleMicroseconds: 100000
        peers:

        """
        for (p, hna) in peers { s += "  - {name: h\(p), underlay: 10.78.0.\(p), hna: \(hna)}\n" }
        s += "networks:\n"
        for (n, e) in encapsulations.enumerated() {
            s += "  - {name: \(e.0), vrf: \(n + 1), vni: \(e.2), label: \(e.3), encapsulation: \(e.1), "
                + "subnets: [192.168.\(n + 1).0/24], gateway: [192.168.\(n + 1).254]}\n"
        }
        s += "ports:\n"
        for (n, e) in encapsulations.enumerated() {
            s += "  - {name: \(e.0.prefix(1))\(i)-\(tag), network: \(e.0), mac: \"02:00:00:0\(n + 1):0\(i):01\", ip: [192.168.\(n + 1).\(i)]}\n"
        }
        s += "endpoints:\n"
        for (n, e) in encapsulations.enumerated() {
            for (p, _) in peers {
                s += "  - {network: \(e.0), ip: [192.168.\(n + 1).\(p)], mac: \"02:00:00:0\(n + 1):0\(p):01\", peer: h\(p)}\n"
            }
        }
        return s
    }

    static var captureTools: Bool { ExternalTool.mustRun || (ExternalTool.tshark && ExternalTool.available("tcpdump")) }

    @Test(.enabled(if: usable && captureTools, "needs root, `ip netns`, tcpdump and tshark (set CI to force)"))
    func everyEncapsulationDecodesInTshark() throws {
        let tag = String(UInt32.random(in: 0 ... 0xFFFFFF), radix: 16)
        let hosts = (1 ... 3).map { "hdh\($0)-\(tag)" }
        let vms = (1 ... 3).map { "hdv\($0)-\(tag)" }
        let bridge = "hdb-\(tag)"
        let dir = NSTemporaryDirectory() + "hna-encap-\(tag)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var daemons: [Process] = []
        var tcpdump: Process?
        defer {
            if let t = tcpdump, t.isRunning { kill(t.processIdentifier, SIGKILL); t.waitUntilExit() }
            for d in daemons where d.isRunning { d.terminate() }
            for d in daemons { d.waitUntilExit() }
            for n in hosts + vms { _ = try? Self.sh("ip netns del \(n)") }
            _ = try? Self.sh("ip link del \(bridge)")
            try? FileManager.default.removeItem(atPath: dir)
        }
        for n in hosts + vms { try Self.sh("ip netns add \(n)") }
        try Self.underlay(hosts, bridge: bridge, tag: tag)
        for i in 1 ... 3 {
            let path = "\(dir)/h\(i).yaml"
            try Self.encapsulationConfig(i, tag: tag, dir: dir).write(toFile: path, atomically: true, encoding: .utf8)
            daemons.append(try Self.startDaemon(namespace: hosts[i - 1], configPath: path))
        }
        for i in 1 ... 3 { try #require(Self.waitForControlSocket("\(dir)/h\(i).sock")) }
        for i in 1 ... 3 {
            for (n, e) in Self.encapsulations.enumerated() {
                let tap = "\(e.0.prefix(1))\(i)-\(tag)", vm = vms[i - 1]
                try Self.sh("""
                    ip -n \(hosts[i - 1]) link set \(tap) netns \(vm) && ip -n \(vm) link set \(tap) address 02:00:00:0\(n + 1):0\(i):01 \
                    && ip -n \(vm) addr add 192.168.\(n + 1).\(i)/24 dev \(tap) && ip -n \(vm) link set \(tap) up
                    """)
            }
        }

        // Record h1's underlay link from the root namespace: the headers the kernel really wrote.
        let pcap = "\(dir)/fabric.pcap"
        let t = Process()
        t.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        t.arguments = ["tcpdump", "-i", "hde0-\(tag)", "-U", "-n", "-w", pcap, "ip"]
        t.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        t.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try t.run()
        tcpdump = t
        var waited = 0
        while !FileManager.default.fileExists(atPath: pcap) && waited < 100 { usleep(50_000); waited += 1 }
        try #require(FileManager.default.fileExists(atPath: pcap), "tcpdump did not start")

        // Pings with distinct ICMP identifiers per (network, direction): distinct inner flows.
        let flows = 6
        for n in 1 ... 3 {
            for (from, to) in [(1, 2), (1, 3), (2, 1), (3, 1)] {
                var answered = 0
                for k in 0 ..< flows {
                    let ident = 1000 * n + 100 * from + 10 * to + k
                    let out = try? Self.sh("ip netns exec \(vms[from - 1]) ping -c 2 -i 0.05 -W 2 -e \(ident) 192.168.\(n).\(to)")
                    if out?.contains("2 received") == true { answered += 1 }
                }
                #expect(answered == flows, "network \(n): v\(from) → v\(to): \(answered) of \(flows) pings answered")
            }
        }
        usleep(300_000)  // the last acks and heartbeats
        // -U wrote every packet as it came, so the file is whole. SIGKILL because a Process child
        // inherits the spawning thread's signal mask, and SIGINT/SIGTERM may be blocked there.
        kill(t.processIdentifier, SIGKILL)
        t.waitUntilExit()

        let fields = ["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "gre.proto", "vxlan.vni", "mpls.label",
                      "hna.sequence", "hna.ack", "hna.next", "icmp.type", "icmp.ident", "_ws.malformed"]
        let lua = repositoryRoot.appendingPathComponent("contrib/wireshark/hna.lua").path
        let out = try ExternalTool.check("tshark", ["-X", "lua_script:\(lua)", "-r", pcap, "-T", "fields",
                                                    "-E", "occurrence=a", "-E", "aggregator=;", "-E", "separator=/t"]
                                                    + fields.flatMap { ["-e", $0] })
        let frames: [[String: [String]]] = out.text.split(separator: "\n").map { line in
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            var f: [String: [String]] = [:]
            for (i, name) in fields.enumerated() where i < columns.count && !columns[i].isEmpty {
                f[name] = columns[i].split(separator: ";").map(String.init)
            }
            return f
        }
        try #require(frames.count > 50, "capture holds \(frames.count) frames")
        #expect(frames.allSatisfy { $0["_ws.malformed"] == nil }, "no frame is malformed to tshark")

        func greProtocol(_ f: [String: [String]]) -> UInt16? {
            f["gre.proto"]?.first.flatMap { UInt16($0.replacingOccurrences(of: "0x", with: ""), radix: 16) }
        }
        func matching(_ outerSource: Int, _ outerDestination: Int, _ test: ([String: [String]]) -> Bool) -> [[String: [String]]] {
            frames.filter { $0["ip.src"]?.first == "10.78.0.\(outerSource)" && $0["ip.dst"]?.first == "10.78.0.\(outerDestination)" && test($0) }
        }
        func seen(_ a: Int, _ b: Int, _ what: String, _ test: ([String: [String]]) -> Bool) {
            let found = matching(a, b, test)
            #expect(!found.isEmpty, "\(what)")
        }
        let hnaPort = String(WellKnownPort.hna), vxlanPort = String(WellKnownPort.vxlan), mplsPort = String(WellKnownPort.mplsOverUDP)
        for (a, b) in [(1, 2), (2, 1)] {
            seen(a, b, "HNA + VXLAN h\(a) → h\(b)") { $0["udp.dstport"]?.first == hnaPort && $0["vxlan.vni"] == ["5001"] && $0["hna.sequence"] != nil }
            seen(a, b, "HNA + MPLS-over-UDP h\(a) → h\(b)") { $0["udp.dstport"]?.first == hnaPort && $0["mpls.label"] == ["1002"] && $0["hna.sequence"] != nil }
            seen(a, b, "MPLS-over-GRE with HNA h\(a) → h\(b)") { greProtocol($0) == EtherType.hna.rawValue && $0["mpls.label"] == ["1003"] && $0["hna.sequence"] != nil }
            seen(a, b, "HNA acks h\(a) → h\(b)") { $0["hna.ack"] != nil }
        }
        for (a, b) in [(1, 3), (3, 1)] {
            seen(a, b, "plain VXLAN h\(a) → h\(b)") { $0["udp.dstport"]?.first == vxlanPort && $0["vxlan.vni"] == ["5001"] && $0["icmp.type"] != nil }
            seen(a, b, "plain MPLS-over-UDP h\(a) → h\(b)") { $0["udp.dstport"]?.first == mplsPort && $0["mpls.label"] == ["1002"] && $0["icmp.type"] != nil }
            seen(a, b, "plain MPLS-over-GRE h\(a) → h\(b)") { greProtocol($0) == EtherType.mplsUnicast.rawValue && $0["mpls.label"] == ["1003"] && $0["icmp.type"] != nil }
            let hnaToPlain = matching(a, b) { $0["hna.sequence"] != nil || $0["hna.next"] != nil }
            #expect(hnaToPlain.isEmpty, "no HNA header between plain peers h\(a) → h\(b)")
        }

        // TCP bulk transfers cross as trains (cut as they leave, by reference): the daemon's own fabric
        // capture (a record per datagram, with the outer headers the kernel writes) must decode in tshark
        // as TCP segments with valid checksums in every HNA encapsulation.
        let sink = "import socket\ns = socket.socket(); s.bind(('0.0.0.0', 5557)); s.listen(1); s.settimeout(20)\n"
            + "c, _ = s.accept()\nwhile c.recv(65536): pass\n"
        try sink.write(toFile: "\(dir)/sink.py", atomically: true, encoding: .utf8)
        let trainFields = ["hna.sequence", "vxlan.vni", "mpls.label", "tcp.len", "tcp.checksum.status", "_ws.malformed"]
        for n in 1 ... 3 {
            let tap1 = "\(Self.encapsulations[n - 1].0.prefix(1))1-\(tag)", tap2 = "\(Self.encapsulations[n - 1].0.prefix(1))2-\(tag)"
            try Self.sh("ip -n \(vms[0]) link set \(tap1) mtu 1400 && ip -n \(vms[1]) link set \(tap2) mtu 1400")
            // Heartbeats are rare here (every 100 ms), so 200 datagrams from here on are nearly all the transfer's.
            let trains = "\(dir)/trains\(n).pcap"
            let capture = Process()
            capture.executableURL = HNACommand.executable
            capture.arguments = ["capture", "fabric", "--count", "200", "--output", trains, "--control", "\(dir)/h1.sock"]
            capture.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try capture.run()
            usleep(100_000)
            // One shell runs both ends and waits for both.
            try Self.sh("""
                ip netns exec \(vms[1]) timeout 30 python3 \(dir)/sink.py > /dev/null 2>&1 &
                sleep 0.3
                ip netns exec \(vms[0]) timeout 30 python3 -c "import socket; s = socket.create_connection(('192.168.\(n).2', 5557)); s.sendall(bytes(4 << 20)); s.close()"
                wait
                """)
            capture.waitUntilExit()
            let decoded = try ExternalTool.check("tshark", ["-X", "lua_script:\(lua)", "-o", "tcp.check_checksum:TRUE", "-r", trains,
                                                            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
                                                            + trainFields.flatMap { ["-e", $0] })
            let rows = decoded.text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            let segments = rows.filter { $0.count == trainFields.count && !$0[0].isEmpty && (Int($0[3]) ?? 0) > 1000 }
            let label = n == 1 ? (1, "5001") : (2, String(1000 + n))
            #expect(rows.allSatisfy { $0.count < 6 || $0[5].isEmpty }, "network \(n): no captured datagram is malformed to tshark")
            #expect(segments.count > 50 && segments.allSatisfy { $0[label.0] == label.1 },
                    "network \(n): TCP segments in HNA datagrams: \(segments.count) of \(rows.count)")
            #expect(segments.allSatisfy { $0[4] == "1" }, "network \(n): every TCP checksum is good: \(segments.filter { $0[4] != "1" }.prefix(3))")
        }

        // Entropy: h1's echo requests, per tunnel: one outer source port per inner flow (ICMP identifier),
        // different flows on different ports.
        for (destination, port, network) in [(3, vxlanPort, "vxlan.vni"), (3, mplsPort, "mpls.label"),
                                             (2, hnaPort, "vxlan.vni"), (2, hnaPort, "mpls.label")] {
            var byFlow: [String: Set<String>] = [:]
            let requests = matching(1, destination) { $0["udp.dstport"]?.first == port && $0[network] != nil && $0["icmp.type"] == ["8"] }
            for f in requests {
                guard let ident = f["icmp.ident"]?.first, let source = f["udp.srcport"]?.first else { continue }
                byFlow[ident, default: []].insert(source)
            }
            let context = "h1 → h\(destination) port \(port) \(network): \(byFlow)"
            #expect(byFlow.count == flows, "\(context)")
            #expect(byFlow.values.allSatisfy { $0.count == 1 }, "one outer port per flow: \(context)")
            let ports = Set(byFlow.values.flatMap { $0 })
            #expect(ports.count >= 2, "flows spread over outer ports: \(context)")
            #expect(ports.allSatisfy { UInt16($0).map(WellKnownPort.entropyRange.contains) == true }, "\(context)")
        }
    }
}
