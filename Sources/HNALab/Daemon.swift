import Foundation
import HNALinux

/// The HNA daemon as a host's dataplane: `ip netns exec <host> <hna> run --config <host>.yaml`, one child
/// process per host. It creates one TAP device per port in the host namespace, which the lab then moves
/// into the VM's namespace.
public final class DaemonDataplane: HostDataplane, @unchecked Sendable {
    public let kind = "hna"
    public var hasFlowControl: Bool { config.flowControl }
    /// The configuration written for every host on the next `start`.
    public var config: DaemonConfig
    /// The `hna` executable: the running one's own path.
    public let executable: String
    /// How long a daemon may take to create its ports and answer on its control socket.
    public var readinessTimeout = 20.0
    private var processes: [String: Subprocess] = [:]

    public init(executable: String, config: DaemonConfig = DaemonConfig()) {
        self.executable = executable
        self.config = config
    }

    public func start(_ host: LabHost, topology: LabTopology, setup: LinkSetup) throws(LabError) {
        let yaml = config.yaml(for: host, in: topology)
        do {
            try yaml.write(toFile: host.configPath, atomically: true, encoding: .utf8)
        } catch {
            throw .linux("cannot write \(host.configPath): \(error)")
        }
        try? FileManager.default.removeItem(atPath: host.controlSocket)
        let p = try LabProcesses.start(in: host.namespace, [executable, "run", "--config", host.configPath],
                                       log: host.logPath)
        processes[host.name] = p
        try waitUntilReady(host, process: p, ports: topology.vms(on: host).map(\.port))
    }

    private func waitUntilReady(_ host: LabHost, process p: Subprocess, ports: [String]) throws(LabError) {
        let end = Date().addingTimeInterval(readinessTimeout)
        let ns = Namespace(host.namespace)
        while Date() < end {
            try LabInterrupt.check()
            guard p.isRunning else {
                throw .daemon(host: host.name, reason: "exited with status \(p.status ?? -1): \(logTail(host))")
            }
            if ports.allSatisfy({ LinkSetup.linkExists($0, in: ns) }),
               (try? ControlClient.request(host.controlSocket, ["command": "stats"])) != nil {
                return
            }
            usleep(50_000)
        }
        throw .daemon(host: host.name, reason: "no TAP ports or control socket after \(Int(readinessTimeout)) s: \(logTail(host))")
    }

    private func logTail(_ host: LabHost) -> String {
        let text = (try? String(contentsOfFile: host.logPath, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").suffix(3).joined(separator: " | ")
        return lines.isEmpty ? "no output (log \(host.logPath))" : lines
    }

    public func stop(_ host: LabHost) {
        if let p = processes.removeValue(forKey: host.name) { LabProcesses.stop(p) }
    }

    public func stats(_ host: LabHost) -> HostStats? {
        guard let stats = try? ControlClient.request(host.controlSocket, ["command": "stats"]) else { return nil }
        var s = HostStats()
        s.drops = ControlClient.dropCounters(in: stats)
        if let peers = try? ControlClient.request(host.controlSocket, ["command": "show", "what": "peers"]) {
            s.peers = ControlClient.peerRates(in: peers)
        }
        return s
    }
}

/// A client for the daemon's control socket (docs/config.md): one JSON object per line each way.
public enum ControlClient {
    /// Sends `request`, returns the response's `result`; throws the daemon's `error` when `ok` is false.
    public static func request(_ path: String, _ request: [String: Any], timeout: Double = 2) throws(LabError) -> Any {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .linux("control socket \(path): socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw .linux("control socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw .linux("control socket \(path): connect: errno \(errno)") }
        guard let body = try? JSONSerialization.data(withJSONObject: request) else { throw .linux("bad control request") }
        let line = [UInt8](body) + [0x0A]
        var sent = 0
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw .linux("control socket \(path): send: errno \(errno)") }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !response.contains(0x0A) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0 ..< n]
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(response.prefix { $0 != 0x0A })) as? [String: Any]
        else { throw .linux("control socket \(path): no JSON answer") }
        guard (obj["ok"] as? Bool) == true else {
            throw .daemon(host: path, reason: (obj["error"] as? String) ?? "request refused")
        }
        return obj["result"] ?? NSNull()
    }

    /// Drop counters by reason from a `stats` result: every integer under a key named "drops" (nested
    /// objects give dotted reasons), so the report lists exactly what the daemon counts.
    static func dropCounters(in result: Any) -> [(reason: String, count: Int)] {
        var out: [(String, Int)] = []
        func flatten(_ v: Any, _ path: String) {
            if let d = v as? [String: Any] {
                for k in d.keys.sorted() { flatten(d[k]!, path.isEmpty ? k : "\(path).\(k)") }
            } else if type(of: v) != Bool.self, let n = v as? NSNumber {
                out.append((path, n.intValue))
            }
        }
        if let d = result as? [String: Any], let drops = d["drops"] { flatten(drops, "") }
        return out
    }

    /// The rate-matrix row from a `show peers` result: per peer its name, bytes sent so far and, summed
    /// over priorities, the rate this HNA grants the peer and the rate it sends towards it.
    static func peerRates(in result: Any) -> [PeerRate] {
        guard let list = result as? [[String: Any]] else { return [] }
        return list.compactMap { p in
            guard let name = p["name"] as? String else { return nil }
            let prios = p["priorities"] as? [[String: Any]] ?? []
            func total(_ key: String) -> Double? {
                let vs = prios.compactMap { ($0[key] as? NSNumber)?.doubleValue }
                return vs.isEmpty ? nil : vs.reduce(0, +)
            }
            return PeerRate(peer: name, grantedMbps: total("grantedBytesPerSecond").map { $0 * 8 / 1e6 },
                            usedMbps: total("rateBytesPerSecond").map { $0 * 8 / 1e6 },
                            queueBytes: total("queueBytes").map { Int($0) },
                            txBytes: (p["txBytes"] as? NSNumber)?.intValue, freshGrant: p["freshGrant"] as? Bool)
        }
    }
}
