import Foundation
import HNALinux

/// One ping run between two VMs.
public struct PingResult: Sendable {
    public var from: String
    public var to: String
    public var network: String
    public var sent: Int
    public var received: Int
    /// min / avg / max round-trip time in milliseconds; nil when nothing came back.
    public var rttMs: (min: Double, avg: Double, max: Double)?

    /// Parses ping's summary lines ("4 packets transmitted, 4 received", "rtt min/avg/max/mdev = …").
    static func parse(_ output: String) -> (sent: Int, received: Int, rtt: (Double, Double, Double)?) {
        var sent = 0, received = 0
        var rtt: (Double, Double, Double)?
        for line in output.split(separator: "\n") {
            if line.contains("packets transmitted") {
                let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                for f in fields {
                    let n = Int(f.split(separator: " ").first ?? "") ?? 0
                    if f.hasSuffix("packets transmitted") { sent = n }
                    if f.hasSuffix("received") { received = n }
                }
            } else if line.hasPrefix("rtt") || line.hasPrefix("round-trip"), let eq = line.firstIndex(of: "=") {
                let values = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                    .split(separator: " ").first?.split(separator: "/").compactMap { Double($0) } ?? []
                if values.count >= 3 { rtt = (values[0], values[1], values[2]) }
            }
        }
        return (sent, received, rtt)
    }
}

/// The probes the checks are made of: ping and iperf3 run inside VM namespaces.
enum Probe {
    /// `count` pings from `a` to `b`, `interval` seconds apart.
    static func ping(_ a: LabVM, _ b: LabVM, count: Int, interval: Double = 0.2, wait: Int = 1) -> PingResult {
        let r = LabProcesses.run(in: a.namespace, ["ping", "-n", "-q", "-c", String(count), "-i", String(interval),
                                                   "-W", String(wait), b.ip.description],
                                 timeout: Double(count) * interval + Double(wait) + 3)
        let p = PingResult.parse(r.stdout)
        return PingResult(from: a.name, to: b.name, network: a.network.name, sent: p.sent, received: p.received,
                          rttMs: p.rtt.map { (min: $0.0, avg: $0.1, max: $0.2) })
    }

    /// Pings every pair side by side.
    static func ping(pairs: [(LabVM, LabVM)], count: Int, interval: Double = 0.2, wait: Int = 1) -> [PingResult] {
        concurrentMap(pairs.map { Pair(a: $0.0, b: $0.1) }) { ping($0.a, $0.b, count: count, interval: interval, wait: wait) }
    }

    struct Pair: Sendable { var a: LabVM; var b: LabVM }

    static let basePort = 5201

    /// An iperf3 test from `client` to `server` (reverse: data flows server → client); the server serves
    /// one test and exits.
    static func iperf(from client: LabVM, to server: LabVM, port: Int = basePort, seconds: Double,
                      udpBitsPerSecond: UInt64? = nil, length: Int? = nil, reverse: Bool = false)
        -> Result<IperfResult, LabError>
    {
        let serverProcess: Subprocess
        do {
            serverProcess = try LabProcesses.start(
                in: server.namespace, ["iperf3", "-s", "-1", "-p", String(port), "-B", server.ip.description])
        } catch {
            return .failure(error)
        }
        defer {
            LabProcesses.stop(serverProcess, grace: 0.5)
        }
        var args = ["iperf3", "-c", server.ip.description, "-p", String(port), "-J", "-t", String(seconds),
                    "--connect-timeout", "2000"]
        if let udpBitsPerSecond { args += ["-u", "-b", String(udpBitsPerSecond)] }
        if let length { args += ["-l", String(length)] }
        if reverse { args += ["-R"] }
        // The server needs a moment to listen; a refused connection is retried briefly.
        var run = ToolResult(status: -1, stdout: "", stderr: "not run", timedOut: false)
        for attempt in 0 ..< 20 where !LabInterrupt.requested {
            usleep(attempt == 0 ? 150_000 : 100_000)
            run = LabProcesses.run(in: client.namespace, args, timeout: seconds + 10)
            if run.succeeded || !(IperfResult.error(run.stdout) ?? "").contains("refused") { break }
        }
        guard run.succeeded else {
            let why = IperfResult.error(run.stdout) ?? (run.timedOut ? "timed out" : run.stderr)
            return .failure(.linux("iperf3 \(client.name) → \(server.name): \(why)"))
        }
        guard let result = IperfResult.parse(client: run.stdout) else {
            return .failure(.linux("iperf3 \(client.name) → \(server.name): unreadable report"))
        }
        return .success(result)
    }
}

/// What one iperf3 test measured, from the receiving side.
public struct IperfResult: Sendable {
    /// Receiver goodput.
    public var bitsPerSecond: Double
    /// What the sender offered (UDP) or sent (TCP).
    public var sentBitsPerSecond: Double
    /// UDP: datagrams sent and lost (as the receiver counts them).
    public var packets: Int?
    public var lostPackets: Int?
    public var seconds: Double

    /// The receiver's datagrams per second (UDP).
    public var receivedPacketsPerSecond: Double? {
        guard let packets, let lostPackets, seconds > 0 else { return nil }
        return Double(packets - lostPackets) / seconds
    }

    static func json(_ text: String) -> [String: Any]? {
        guard let start = text.firstIndex(of: "{") else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any]
    }

    /// The "error" field of an iperf3 JSON report.
    static func error(_ text: String) -> String? { json(text)?["error"] as? String }

    /// Reads the client's report: iperf3 puts the receiver's view (goodput; for UDP, datagrams and losses
    /// by sequence number) under "sum_received" and the sender's under "sum_sent", whichever way the data
    /// flowed.
    static func parse(client: String) -> IperfResult? {
        guard let end = json(client)?["end"] as? [String: Any],
              let received = end["sum_received"] as? [String: Any], let sent = end["sum_sent"] as? [String: Any]
        else { return nil }
        func v(_ d: [String: Any], _ k: String) -> Double? { (d[k] as? NSNumber)?.doubleValue }
        return IperfResult(bitsPerSecond: v(received, "bits_per_second") ?? 0,
                           sentBitsPerSecond: v(sent, "bits_per_second") ?? 0,
                           packets: v(received, "packets").map { Int($0) },
                           lostPackets: v(received, "lost_packets").map { Int($0) },
                           seconds: v(received, "seconds") ?? 0)
    }
}
