import Foundation
import HNACore
import HNALinux
import HNANode
import HNARouter
import HNAWire
#if canImport(Glibc)
import Glibc
#endif

/// The control socket (docs/config.md): JSON lines over a Unix stream socket, served on the daemon's
/// event loop. Bad requests get `{"ok": false, "error": …}` and are counted; nothing a client sends can
/// stop the daemon.
final class ControlServer {
    let path: String
    let fd: Int32
    unowned let loop: EventLoop
    unowned let daemon: Daemon
    var registration: EventLoop.Registration!
    var connections: [Int32: (registration: EventLoop.Registration, pending: [UInt8])] = [:]
    var badRequests: UInt64 = 0
    var requests: UInt64 = 0
    static let maxLine = 64 << 10

    init(path: String, loop: EventLoop, daemon: Daemon) throws {
        self.path = path
        fd = try StreamSocket.listenUnix(path: path)
        self.loop = loop
        self.daemon = daemon
        registration = try loop.register(fd: fd) { [unowned self] _, _ in acceptAll() }
    }

    func close() {
        for c in Array(connections.keys) { drop(c) }
        try? loop.unregister(registration)
        Glibc.close(fd)
        unlink(path)
    }

    func acceptAll() {
        while let c = StreamSocket.accept(fd) {
            guard let reg = try? loop.register(fd: c, { [unowned self] _, now in readable(c, now: now) }) else {
                Glibc.close(c)
                continue
            }
            connections[c] = (reg, [])
        }
    }

    func drop(_ c: Int32) {
        guard let conn = connections.removeValue(forKey: c) else { return }
        try? loop.unregister(conn.registration)
        Glibc.close(c)
    }

    func readable(_ c: Int32, now: UInt64) {
        guard let bytes = StreamSocket.readAvailable(c) else { return drop(c) }
        guard connections[c] != nil else { return }
        connections[c]!.pending.append(contentsOf: bytes)
        while let nl = connections[c]?.pending.firstIndex(of: 0x0A) {
            let line = Array(connections[c]!.pending[..<nl])
            connections[c]!.pending.removeSubrange(...nl)
            handle(line, connection: c, now: now)
        }
        if let pending = connections[c]?.pending, pending.count > Self.maxLine {
            badRequests += 1
            respond(c, ["ok": false, "error": "request line longer than \(Self.maxLine) bytes"])
            drop(c)
        }
    }

    func respond(_ c: Int32, _ object: [String: Any]) {
        guard connections[c] != nil else { return }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            _ = StreamSocket.writeAll(c, Array("{\"ok\":false,\"error\":\"unencodable result\"}\n".utf8))
            return
        }
        data.append(0x0A)
        if !StreamSocket.writeAll(c, Array(data)) { drop(c) }
    }

    func fail(_ c: Int32, _ message: String) {
        badRequests += 1
        respond(c, ["ok": false, "error": message])
    }

    func handle(_ line: [UInt8], connection c: Int32, now: UInt64) {
        requests += 1
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            return fail(c, "request is not a JSON object")
        }
        guard let command = obj["command"] as? String else { return fail(c, "missing \"command\"") }
        switch command {
        case "show":
            guard let what = obj["what"] as? String else { return fail(c, "show needs \"what\"") }
            guard let result = daemon.show(what) else {
                return fail(c, "unknown show target '\(what)' (interfaces, vrfs, routes, nexthops, flows, peers, queues, drops)")
            }
            respond(c, ["ok": true, "result": result])
        case "stats":
            respond(c, ["ok": true, "result": daemon.stats()])
        case "trace":
            let count = (obj["count"] as? Int) ?? 10
            guard (1 ... 10000).contains(count) else { return fail(c, "trace count must be 1 to 10000") }
            daemon.node.trace(count: count)
            daemon.pendingTraces.append((c, count, []))
        case "capture":
            guard let target = obj["port"] as? String, let path = obj["path"] as? String else {
                return fail(c, "capture needs \"port\" (a port name or \"fabric\") and \"path\"")
            }
            let count = (obj["count"] as? Int) ?? 100
            guard (1 ... 1_000_000).contains(count) else { return fail(c, "capture count must be 1 to 1000000") }
            guard target == "fabric" || daemon.ports[target] != nil else { return fail(c, "no port '\(target)'") }
            daemon.captures.append(Capture(target: target, path: path, limit: count, connection: c))
        default:
            fail(c, "unknown command '\(command)' (show, stats, trace, capture)")
        }
    }
}

/// GET /metrics in the Prometheus text format, served on the event loop (one short connection per
/// scrape).
final class MetricsServer {
    let fd: Int32
    unowned let loop: EventLoop
    unowned let daemon: Daemon
    var registration: EventLoop.Registration!
    var clients: [Int32: EventLoop.Registration] = [:]

    static func parseListen(_ text: String) -> (UInt32, UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let a = IPv4Address(String(text[..<colon])),
              let p = UInt16(text[text.index(after: colon)...]) else { return nil }
        return (a.rawValue, p)
    }

    init(listen: String, loop: EventLoop, daemon: Daemon) throws {
        guard let (a, p) = Self.parseListen(listen) else { throw StreamSocket.Failure(description: "bad metrics address \(listen)") }
        fd = try StreamSocket.listenTCP(address: a, port: p)
        self.loop = loop
        self.daemon = daemon
        registration = try loop.register(fd: fd) { [unowned self] _, _ in
            while let c = StreamSocket.accept(fd) {
                guard let r = try? loop.register(fd: c, { [unowned self] _, _ in serve(c) }) else { Glibc.close(c); continue }
                clients[c] = r
            }
        }
    }

    func serve(_ c: Int32) {
        let request = StreamSocket.readAvailable(c) ?? []
        let text = String(decoding: request, as: UTF8.self)
        let response: String
        if text.hasPrefix("GET /metrics") {
            let body = daemon.metricsText()
            response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        } else {
            response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        _ = StreamSocket.writeAll(c, Array(response.utf8))
        if let r = clients.removeValue(forKey: c) { try? loop.unregister(r) }
        Glibc.close(c)
    }

    func close() {
        for (c, r) in clients { try? loop.unregister(r); Glibc.close(c) }
        try? loop.unregister(registration)
        Glibc.close(fd)
    }
}
