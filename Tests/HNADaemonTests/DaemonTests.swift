import Foundation
import HNADaemon
import HNACore
import HNALinux
import HNATestSupport
import Testing

/// Two daemons (`hna run` child processes in host namespaces joined by a bridge), one VM namespace
/// each, and a host with a kernel VXLAN device as a plain peer. Every namespace and link carries a
/// random tag and is removed whatever happens.
struct ShellFailure: Error, CustomStringConvertible {
    var description: String
}

@Suite("Daemon in namespaces", .serialized)
struct DaemonTests {
    static let usable = Namespace.supported || ExternalTool.mustRun

    @discardableResult
    static func sh(_ command: String) throws -> String {
        let out = try ExternalTool.run("/bin/sh", ["-c", command])
        guard out.status == 0 else { throw ShellFailure(description: "\(command): \(out.stderr)") }
        return out.text
    }

    /// A bridge in the root namespace joining `hosts`: host i gets eth0 with 10.78.0.(i+1)/24; the
    /// root-side veth ends are named `hde<i>-<tag>` (capture there to see a host's underlay traffic).
    static func underlay(_ hosts: [String], bridge: String, tag: String) throws {
        try sh("ip link add \(bridge) type bridge && ip link set \(bridge) up")
        for (i, n) in hosts.enumerated() {
            try sh("""
                ip link add hde\(i)-\(tag) type veth peer name eth0 netns \(n) && ip link set hde\(i)-\(tag) master \(bridge) up \
                && ip -n \(n) addr add 10.78.0.\(i + 1)/24 dev eth0 && ip -n \(n) link set eth0 up && ip -n \(n) link set lo up
                """)
        }
    }

    /// `hna run --config path` inside `namespace`, stderr discarded.
    static func startDaemon(namespace: String, configPath: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip").resolvingSymlinksInPath()
        if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        p.arguments = ["netns", "exec", namespace, HNACommand.executable.path, "run", "--config", configPath]
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        return p
    }

    /// Waits (at most 5 s) for a daemon's control socket: its TAPs exist once it does.
    static func waitForControlSocket(_ path: String) -> Bool {
        var waited = 0
        while !FileManager.default.fileExists(atPath: path) && waited < 100 {
            usleep(50_000)
            waited += 1
        }
        return FileManager.default.fileExists(atPath: path)
    }

    static func config(_ i: Int, tag: String, dir: String) -> String {
        let other = i == 1 ? 2 : 1
        var s = """
        hna:
          name: h\(i)
          underlay: 10.78.0.\(i)
          control: \(dir)/h\(i).sock
        peers:
          - {name: h\(other), underlay: 10.78.0.\(other)}

        """
        if i == 1 { s += "  - {name: k3, underlay: 10.78.0.3, hna: false}\n" }
        s += """
        networks:
          - {name: blue, vrf: 1, vni: 5001, label: 1001, subnets: [192.168.1.0/24], gateway: [192.168.1.254]}
        ports:
          - {name: v\(i)-\(tag), network: blue, mac: "02:00:00:00:0\(i):01", ip: [192.168.1.\(i)]}
        endpoints:
          - {network: blue, ip: [192.168.1.\(other)], mac: "02:00:00:00:0\(other):01", peer: h\(other)}

        """
        if i == 1 { s += "  - {network: blue, ip: [192.168.1.3], mac: \"02:00:00:00:03:01\", peer: k3}\n" }
        return s
    }

    /// USO on TAPs came with Linux 6.2.
    static var kernelHasUSO: Bool {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) ?? 0 }
        return parts.count == 2 && (parts[0], parts[1]) >= (6, 2)
    }

    @Test(.enabled(if: usable, "needs root and `ip netns` (set CI to force)"))
    func pingAcrossDaemonsAndAPlainVXLANPeer() throws {
        let tag = String(UInt32.random(in: 0 ... 0xFFFFFF), radix: 16)
        let ns = ["h1", "h2", "k3", "v1", "v2"].map { "hd\($0)-\(tag)" }
        let (h1, h2, k3, v1, v2) = (ns[0], ns[1], ns[2], ns[3], ns[4])
        let bridge = "hdb-\(tag)"
        let dir = NSTemporaryDirectory() + "hna-daemon-\(tag)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var daemons: [Process] = []
        defer {
            for d in daemons where d.isRunning { d.terminate() }
            for d in daemons { d.waitUntilExit() }
            for n in ns { _ = try? Self.sh("ip netns del \(n)") }
            _ = try? Self.sh("ip link del \(bridge)")
            try? FileManager.default.removeItem(atPath: dir)
        }
        for n in ns { try Self.sh("ip netns add \(n)") }
        try Self.underlay([h1, h2, k3], bridge: bridge, tag: tag)
        try Self.sh("""
            ip -n \(k3) link add vx0 type vxlan id 5001 local 10.78.0.3 dstport 4789 nolearning \
            && ip -n \(k3) link set vx0 address 02:00:00:00:03:01 up && ip -n \(k3) addr add 192.168.1.3/24 dev vx0 \
            && ip netns exec \(k3) bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.78.0.1 \
            && ip -n \(k3) neigh add 192.168.1.1 lladdr 02:00:00:00:01:01 dev vx0
            """)
        for (i, n) in [(1, h1), (2, h2)] {
            let path = "\(dir)/h\(i).yaml"
            try Self.config(i, tag: tag, dir: dir).write(toFile: path, atomically: true, encoding: .utf8)
            daemons.append(try Self.startDaemon(namespace: n, configPath: path))
        }
        // Wait for the control sockets (the TAPs exist by then), then move each TAP into its VM.
        for i in 1 ... 2 { #expect(Self.waitForControlSocket("\(dir)/h\(i).sock")) }
        for (i, host, vm) in [(1, h1, v1), (2, h2, v2)] {
            let tap = "v\(i)-\(tag)"
            try Self.sh("""
                ip -n \(host) link set \(tap) netns \(vm) && ip -n \(vm) link set \(tap) address 02:00:00:00:0\(i):01 \
                && ip -n \(vm) addr add 192.168.1.\(i)/24 dev \(tap) && ip -n \(vm) link set \(tap) up \
                && ip -n \(vm) route add default via 192.168.1.254
                """)
        }
        let ping = { (from: String, to: String) throws -> String in
            try Self.sh("ip netns exec \(from) ping -c 2 -i 0.2 -W 2 \(to)")
        }
        #expect(try ping(v1, "192.168.1.2").contains("2 received"))
        #expect(try ping(v2, "192.168.1.1").contains("2 received"))
        #expect(try ping(v1, "192.168.1.3").contains("2 received"), "VM to the kernel VXLAN peer")
        #expect(try ping(k3, "192.168.1.1").contains("2 received"), "kernel VXLAN peer to the VM")

        // A TCP bulk transfer crosses as trains (TSO super-frames kept whole, GRO runs rebuilt into
        // super-frames for the VM) and arrives intact.
        try Self.sh("ip -n \(v1) link set v1-\(tag) mtu 1400 && ip -n \(v2) link set v2-\(tag) mtu 1400")
        // One shell runs both ends and waits for both (no process outlives it).
        let server = """
            import socket, hashlib
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 5555)); s.listen(1)
            s.settimeout(30); c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); n = 0
            while True:
                d = c.recv(1 << 16)
                if not d: break
                h.update(d); n += len(d)
            print('received %d %s' % (n, h.hexdigest()))
            """
        let client = """
            import socket, hashlib, random, time
            data = random.Random(7).randbytes(24 << 20)
            for attempt in range(50):
                try:
                    s = socket.create_connection(('192.168.1.2', 5555), timeout=30); break
                except OSError:
                    time.sleep(0.1)
            s.sendall(data); s.close()
            print('sent %d %s' % (len(data), hashlib.sha256(data).hexdigest()))
            """
        try server.write(toFile: "\(dir)/server.py", atomically: true, encoding: .utf8)
        try client.write(toFile: "\(dir)/client.py", atomically: true, encoding: .utf8)
        let transfer = try Self.sh("""
            ip netns exec \(v2) timeout 60 python3 \(dir)/server.py > \(dir)/server.out 2>&1 &
            ip netns exec \(v1) timeout 60 python3 \(dir)/client.py; wait; cat \(dir)/server.out
            """)
        let lines = transfer.split(separator: "\n").map { String($0) }
        let sent = lines.first { $0.hasPrefix("sent ") }.map { String($0.dropFirst(5)) }
        let received = lines.first { $0.hasPrefix("received ") }.map { String($0.dropFirst(9)) }
        #expect(sent != nil && received == sent, "24 MiB over TCP arrive intact: \(transfer)")
        let stats1 = try ControlClient.request(["command": "stats"], path: "\(dir)/h1.sock")
        let stats2 = try ControlClient.request(["command": "stats"], path: "\(dir)/h2.sock")
        let offload1 = (stats1["result"] as? [String: Any])?["offload"] as? [String: Any]
        let offload2 = (stats2["result"] as? [String: Any])?["offload"] as? [String: Any]
        #expect((offload1?["tso-frames-kept"] as? Int ?? 0) > 0, "super-frames crossed whole: \(String(describing: offload1))")
        #expect((offload2?["gso-frames-written"] as? Int ?? 0) > 0, "super-frames reached the VM: \(String(describing: offload2))")

        // A UDP burst: the datagrams reach the VM intact, merged into USO frames on the way into its
        // TAP where the kernel takes them.
        let udpServer = """
            import socket, hashlib
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(('0.0.0.0', 5556)); s.settimeout(3); good = 0
            try:
                while True:
                    d = s.recv(2048)
                    if hashlib.sha256(d[32:]).digest() == d[:32]: good += 1
            except socket.timeout:
                pass
            print('udp %d' % good)
            """
        let udpClient = """
            import socket, hashlib, time
            time.sleep(0.5)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(2000):
                body = i.to_bytes(4, 'big') * 25
                s.sendto(hashlib.sha256(body).digest() + body, ('192.168.1.2', 5556))
                if i % 50 == 49: time.sleep(0.002)  # bursts the TAP's queue takes (a debug daemon reads slowly)
            """
        try udpServer.write(toFile: "\(dir)/udpserver.py", atomically: true, encoding: .utf8)
        try udpClient.write(toFile: "\(dir)/udpclient.py", atomically: true, encoding: .utf8)
        let burst = try Self.sh("""
            ip netns exec \(v2) timeout 30 python3 \(dir)/udpserver.py > \(dir)/udp.out 2>&1 &
            ip netns exec \(v1) timeout 30 python3 \(dir)/udpclient.py; wait; cat \(dir)/udp.out
            """)
        let good = burst.split(separator: "\n").first { $0.hasPrefix("udp ") }.flatMap { Int($0.dropFirst(4)) } ?? 0
        #expect(good > 1900, "UDP datagrams arrive intact: \(burst)")
        let statsUDP = try ControlClient.request(["command": "stats"], path: "\(dir)/h2.sock")
        let offloadUDP = (statsUDP["result"] as? [String: Any])?["offload"] as? [String: Any]
        if Self.kernelHasUSO {
            #expect((offloadUDP?["uso-frames-written"] as? Int ?? 0) > 0, "\(String(describing: offloadUDP))")
        }

        // Garbage to every port, and datagrams from an address that is no peer.
        try Self.sh("""
            ip -n \(k3) addr add 10.78.0.9/24 dev eth0 && ip netns exec \(k3) python3 -c "
            import socket
            s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
            for p in (6650,4789):
                for i in range(1,6): s.sendto(b'garbage'*i, ('10.78.0.1',p))
            u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(('10.78.0.9',0))
            for i in range(3): u.sendto(b'junk', ('10.78.0.1',6650))
            "
            """)
        #expect(try ping(v1, "192.168.1.2").contains("2 received"), "ping keeps working")
        let control = "\(dir)/h1.sock"
        let drops = try ControlClient.request(["command": "show", "what": "drops"], path: control)
        let node = (drops["result"] as? [String: Any])?["node"] as? [String: Any]
        #expect(node?["unknown-peer"] as? Int == 3)
        #expect(node?["hna-from-plain-peer"] as? Int == 5)
        let router = (drops["result"] as? [String: Any])?["router"] as? [String: Any]
        #expect((router?["malformedPacket"] as? Int ?? 0) >= 5)
        let bad = try ControlClient.request(["nonsense": 1], path: control)
        #expect(bad["ok"] as? Bool == false)

        let out = try HNACommand.run(["show", "peers", "--json", "--control", control])
        #expect(out.status == 0)
        let peers = try JSONSerialization.jsonObject(with: out.stdout) as? [[String: Any]]
        let h2peer = peers?.first { $0["name"] as? String == "h2" }
        #expect(h2peer?["underlay"] as? String == "10.78.0.2")
        #expect(h2peer?["hna"] as? Bool == true)
        #expect((h2peer?["txPackets"] as? Int ?? 0) > 0)
        #expect(h2peer?["inSpan"] is Bool && h2peer?["freshGrant"] is Bool)

        // SIGTERM drains and exits 0.
        for d in daemons { d.terminate() }
        for d in daemons {
            d.waitUntilExit()
            #expect(d.terminationStatus == 0)
        }
    }

    @Test func configErrorsNameFileLineAndColumn() {
        let text = """
        hna:
          name: h1
          underlay: 10.0.0.1
          colour: blue
        """
        #expect(throws: ConfigError.self) { try DaemonConfiguration.parse(text, file: "x.yaml") }
        do {
            _ = try DaemonConfiguration.parse(text, file: "x.yaml")
        } catch {
            #expect(error.description.hasPrefix("x.yaml:4:3: "))
            #expect(error.description.contains("colour"))
        }
        let gre = """
        hna: {name: h1, underlay: 10.0.0.1}
        networks:
          - {name: b, vrf: 1, vni: 1, label: 100, encapsulation: mpls-gre}
          - {name: c, vrf: 2, vni: 2, label: 101, encapsulation: mpls-tcp}
        """
        do {
            _ = try DaemonConfiguration.parse(gre, file: "g.yaml")
            Issue.record("mpls-tcp accepted")
        } catch {
            #expect(error.description.hasPrefix("g.yaml:4:"), "mpls-gre is accepted, the unknown one refused")
            #expect(error.description.contains("mpls-tcp"))
        }
    }

    /// `hna.mtu` is the underlay MTU the tunnels get; out of range is refused at its line.
    @Test func underlayMTUIsConfigurable() throws {
        #expect(try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1}", file: "m.yaml").node.underlayMTU == 1500)
        #expect(try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, mtu: 9000}", file: "m.yaml").node.underlayMTU == 9000)
        do {
            _ = try DaemonConfiguration.parse("hna:\n  name: h1\n  underlay: 10.0.0.1\n  mtu: 65000\n", file: "m.yaml")
            Issue.record("mtu 65000 accepted")
        } catch {
            #expect(error.description.hasPrefix("m.yaml:4:"))
            #expect(error.description.contains("hna.mtu"))
        }
    }

    /// Peer bandwidths feed the safe rate; bursts default from the bandwidth and can be set.
    @Test func peerBandwidthAndBursts() throws {
        let text = """
        hna: {name: h1, underlay: 10.0.0.1, rxGbps: 0.018, burstBytes: 4000, rateUnitBytesPerSecond: 16384}
        peers:
          - {name: h2, underlay: 10.0.0.2, rxGbps: 0.5}
          - {name: h3, underlay: 10.0.0.3, bandwidthGbps: 2}
          - {name: h4, underlay: 10.0.0.4}
        """
        let c = try DaemonConfiguration.parse(text, file: "p.yaml")
        let peerRx: [Double?] = c.node.peers.map(\.rxBandwidth)
        let want: [Double?] = [0.5e9 / 8, 2e9 / 8, nil]
        #expect(peerRx == want)
        #expect(c.node.flowControl.rateBurstBytes == 4000)
        // 10 Gbit/s of tx: 50 µs is 62500 bytes.
        #expect(c.node.flowControl.nicBurstBytes == 62_500)
        let defaults = try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, bandwidthGbps: 1}", file: "d.yaml")
        // 1 Gbit/s: 10 µs is 1250 bytes, below two full frames.
        #expect(defaults.node.flowControl.rateBurstBytes == 2 * 1518)
        #expect(throws: ConfigError.self) {
            try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, burstBytes: 10}", file: "b.yaml")
        }
        // Heartbeats: the daemon's own default, or the file's (in microseconds).
        #expect(defaults.node.flowControl.heartbeatIdle == DaemonConfiguration.defaultHeartbeatIdle)
        let hb = try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, heartbeatIdleMicroseconds: 250}", file: "h.yaml")
        #expect(hb.node.flowControl.heartbeatIdle == 250_000)
        // The span: the core's default, or the file's; out of range is an error.
        #expect(defaults.node.flowControl.heartbeatSpanPeriods == FlowControlConfig().heartbeatSpanPeriods)
        let span = try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, heartbeatSpanPeriods: 12}", file: "s.yaml")
        #expect(span.node.flowControl.heartbeatSpanPeriods == 12)
        #expect(throws: ConfigError.self) {
            try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, heartbeatSpanPeriods: 0}", file: "s.yaml")
        }
        #expect(defaults.node.flowControl.resendTimeout == DaemonConfiguration.defaultResendMargin)
        let rto = try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, resendMarginMicroseconds: 700}", file: "r.yaml")
        #expect(rto.node.flowControl.resendTimeout == 700_000)
        #expect(throws: ConfigError.self) {
            try DaemonConfiguration.parse("hna: {name: h1, underlay: 10.0.0.1, heartbeatIdleMicroseconds: 0}", file: "h.yaml")
        }
        #expect(throws: ConfigError.self) {
            try DaemonConfiguration.parse("""
            hna: {name: h1, underlay: 10.0.0.1}
            peers: [{name: h2, underlay: 10.0.0.2, rxGbps: -1}]
            """, file: "n.yaml")
        }
    }
}
