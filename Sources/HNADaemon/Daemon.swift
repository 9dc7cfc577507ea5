import Foundation
import HNACore
import HNALinux
import HNANode
import HNARouter
import HNAWire
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The event-loop driver of one `HNANode` (docs/daemon.md): TAP devices for VM ports, UDP sockets on
/// the underlay, the controller's deadline as one timer, signals for reload and drain, the control
/// socket and the metrics endpoint — all on one thread and one epoll loop.
public final class Daemon {
    public private(set) var configuration: DaemonConfiguration
    let configPath: String?
    let loop: EventLoop
    var node: HNANode
    var output = NodeOutput()
    let logger: Logger

    struct Port {
        var name: String
        var id: InterfaceID
        var tap: TapDevice
        var registration: EventLoop.Registration
    }
    var ports: [String: Port] = [:]
    var portByID: [InterfaceID: String] = [:]
    var nextPortID: InterfaceID = 1
    var sockets: [UInt16: UDPSocket] = [:]
    var socketRegistrations: [UInt16: EventLoop.Registration] = [:]

    /// Reused batches: one for reads, one for underlay sends, one for TAP writes.
    let rxBatch: PacketBatch
    let txBatch: PacketBatch
    let tapBatch: PacketBatch
    var inBuffers: [PacketBuffer] = []
    var inDatagrams: [FabricDatagram] = []
    static let batchSize = 64

    var timer: EventLoop.TimerID?
    var agingTimer: EventLoop.TimerID?
    var tapsPaused = false
    /// VM ports stop being read while the controller's queues have less room than this.
    static let pauseBelowBytes = 1 << 20

    var draining = false
    var drainDeadline: UInt64 = 0
    /// How long a drain waits for queues to empty.
    public static let drainTimeout: UInt64 = 2_000_000_000
    public private(set) var exitCode: Int32 = 0

    var control: ControlServer!
    var metrics: MetricsServer?
    /// Counters the driver itself keeps (I/O errors and the like), by name.
    var driverCounters: [String: UInt64] = [:]
    var captures: [Capture] = []
    var pendingTraces: [(connection: Int32, count: Int, records: [NodeTrace])] = []
    let started = Date()
    public private(set) var reloads: (ok: Int, refused: Int) = (0, 0)

    public init(configuration: DaemonConfiguration, configPath: String?, logger: Logger) throws {
        self.configuration = configuration
        self.configPath = configPath
        self.logger = logger
        loop = try EventLoop()
        rxBatch = PacketBatch(capacity: Self.batchSize, bufferSize: 9216 + 256)
        txBatch = PacketBatch(capacity: Self.batchSize, bufferSize: 9216 + 256)
        tapBatch = PacketBatch(capacity: Self.batchSize, bufferSize: 9216 + 256)
        var routerConfiguration = RouterConfiguration()
        // 64K flows (about 11 MB) per daemon; the library default (1M, ~180 MB) is for big hosts.
        routerConfiguration.flowCapacity = 1 << 16
        let nodeConfig = Self.assignPortIDs(configuration.node, existing: [:], next: &nextPortID)
        node = try HNANode(configuration: nodeConfig, routerConfiguration: routerConfiguration,
                           pool: PacketPool(preallocate: 1024), now: EventLoop.now())
        for p in nodeConfig.ports { portByID[p.id] = p.name }
    }

    /// Port ids are the router's interface ids: kept per name across reloads, new names get new ids.
    static func assignPortIDs(_ c: NodeConfiguration, existing: [String: InterfaceID], next: inout InterfaceID) -> NodeConfiguration {
        var c = c
        for i in c.ports.indices {
            if let id = existing[c.ports[i].name] {
                c.ports[i].id = id
            } else {
                c.ports[i].id = next
                next += 1
            }
        }
        return c
    }

    // MARK: Start-up

    /// Opens everything and runs until drained. Returns the exit status.
    public func run() throws -> Int32 {
        try loop.handleSignals([SIGHUP, SIGTERM, SIGINT]) { [unowned self] signal, now in
            if signal == SIGHUP { reload(now: now) } else { startDrain(now: now, reason: signal == SIGTERM ? "SIGTERM" : "SIGINT") }
        }
        try start()
        try loop.run()
        shutdown()
        return exitCode
    }

    /// Opens sockets, TAPs, control and metrics (exposed for tests that drive the loop themselves).
    func start() throws {
        try openSockets()
        for p in node.configuration.ports { try openPort(p.name, id: p.id) }
        control = try ControlServer(path: configuration.controlPath, loop: loop, daemon: self)
        if let m = configuration.metrics {
            metrics = try MetricsServer(listen: m, loop: loop, daemon: self)
        }
        agingTimer = loop.schedule(at: EventLoop.now() + 1_000_000_000) { [unowned self] now in age(now: now) }
        followDeadline()
        logger.info("hna daemon started", metadata: [
            "name": .string(configuration.node.name), "underlay": .string(configuration.node.underlay.description),
            "ports": .string(node.configuration.ports.map(\.name).joined(separator: ",")),
            "control": .string(configuration.controlPath),
        ])
    }

    func neededPorts(_ c: NodeConfiguration) -> [UInt16] {
        var ports: [UInt16] = [WellKnownPort.hna, WellKnownPort.vxlan]
        if c.networks.contains(where: { $0.encapsulation == .mplsOverUDP }) { ports.append(WellKnownPort.mplsOverUDP) }
        return ports
    }

    func openSockets() throws {
        for port in neededPorts(node.configuration) where sockets[port] == nil {
            let address: SocketAddress
            switch node.configuration.underlay {
            case let .v4(a): address = .v4(a, port: port)
            case let .v6(a): address = .v6(a, port: port)
            }
            let s = try UDPSocket(bindingTo: address, options: UDPSocket.Options(receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20))
            sockets[port] = s
            socketRegistrations[port] = try loop.register(fd: s.fd) { [unowned self] _, now in readSocket(port, now: now) }
        }
    }

    func openPort(_ name: String, id: InterfaceID) throws {
        // The TAP is left as the kernel makes it: whoever moves it into a VM's namespace brings it up
        // there, and the daemon never touches its link state (the fd keeps working after a move).
        let tap = try TapDevice(name: name)
        let reg = try loop.register(fd: tap.fd) { [unowned self] _, now in readTap(id, now: now) }
        ports[name] = Port(name: name, id: id, tap: tap, registration: reg)
        portByID[id] = name
    }

    func closePort(_ name: String) {
        guard let p = ports.removeValue(forKey: name) else { return }
        try? loop.unregister(p.registration)
        p.tap.close()
    }

    func shutdown() {
        for name in Array(ports.keys) { closePort(name) }
        for (port, s) in sockets {
            if let r = socketRegistrations[port] { try? loop.unregister(r) }
            s.close()
        }
        sockets = [:]
        control?.close()
        metrics?.close()
        for c in captures { c.finish() }
        captures = []
        loop.close()
        logger.info("hna daemon stopped", metadata: ["name": .string(configuration.node.name)])
    }

    // MARK: Datapath

    func readTap(_ id: InterfaceID, now: UInt64) {
        guard !draining, let name = portByID[id], let port = ports[name] else { return }
        let n: Int
        do { n = try port.tap.read(into: rxBatch) } catch {
            count("tap-read-errors")
            return
        }
        guard n > 0 else { return }
        inBuffers.removeAll(keepingCapacity: true)
        for i in 0 ..< n {
            let b = node.pool.take()
            if b.load(UnsafeRawBufferPointer(rxBatch[i])) {
                b.meta.ingressInterface = id
                inBuffers.append(b)
                capture(port: name, UnsafeRawBufferPointer(rxBatch[i]), now: now)
            } else {
                node.pool.recycle(b)
                count("oversized-frames")
            }
        }
        node.processFromInterfaces(inBuffers, now: now, output: &output)
        flush(now: now)
    }

    func readSocket(_ port: UInt16, now: UInt64) {
        guard let s = sockets[port] else { return }
        let n: Int
        do { n = try s.receive(into: rxBatch) } catch {
            count("socket-read-errors")
            return
        }
        guard n > 0 else { return }
        inDatagrams.removeAll(keepingCapacity: true)
        for i in 0 ..< n {
            guard let from = rxBatch.address(i), !rxBatch.isTruncated(i) else {
                count("truncated-datagrams")
                continue
            }
            let b = node.pool.take()
            guard b.load(UnsafeRawBufferPointer(rxBatch[i])) else {
                node.pool.recycle(b)
                count("oversized-datagrams")
                continue
            }
            let address: IPAddress
            switch from {
            case let .v4(a, _): address = .v4(a)
            case let .v6(a, _, _): address = .v6(a)
            }
            capture(fabric: UnsafeRawBufferPointer(rxBatch[i]), from: address, to: node.configuration.underlay, port: port, now: now)
            inDatagrams.append(FabricDatagram(address: address, port: port, buffer: b))
        }
        node.processFromFabric(inDatagrams, now: now, output: &output)
        flush(now: now)
    }

    func onDeadline(now: UInt64) {
        timer = nil
        node.poll(now: now, output: &output)
        flush(now: now)
    }

    func age(now: UInt64) {
        node.age(now: now, output: &output)
        flush(now: now)
        agingTimer = loop.schedule(at: now + 1_000_000_000) { [unowned self] now in age(now: now) }
    }

    /// Writes the node's output (TAP frames, underlay datagrams), recycles the buffers, follows the
    /// controller's deadline and applies back-pressure to the VM ports.
    func flush(now: UInt64) {
        if !output.traces.isEmpty { collectTraces(output.traces) }
        if !output.toInterfaces.isEmpty { writeTaps(now: now) }
        if !output.toFabric.isEmpty {
            for port in sockets.keys { sendDatagrams(port: port, now: now) }
        }
        node.recycle(&output)
        followDeadline()
        updateBackPressure()
        if draining { checkDrained(now: now) }
    }

    func writeTaps(now: UInt64) {
        // Frames to the same port go out together (one batch call); ports are few, so a pass per port.
        var done = 0
        var i = 0
        let all = output.toInterfaces
        var handled = [Bool](repeating: false, count: all.count)
        while done < all.count {
            while handled[i] { i += 1 }
            let id = all[i].interface
            tapBatch.resetAll()
            var k = 0
            for j in i ..< all.count where !handled[j] && all[j].interface == id {
                handled[j] = true
                done += 1
                if k == tapBatch.capacity { writeTapBatch(id, k); k = 0 }
                tapBatch.set(k, bytes: all[j].buffer.readableBytes)
                if let name = portByID[id] { capture(port: name, all[j].buffer.readableBytes, now: now) }
                k += 1
            }
            if k > 0 { writeTapBatch(id, k) }
        }
    }

    func writeTapBatch(_ id: InterfaceID, _ k: Int) {
        tapBatch.count = k
        guard let name = portByID[id], let port = ports[name] else {
            count("frames-to-closed-port", UInt64(k))
            return
        }
        do {
            let written = try port.tap.write(tapBatch, range: 0 ..< k)
            if written < k { count("tap-write-dropped", UInt64(k - written)) }
        } catch {
            count("tap-write-errors", UInt64(k))
        }
    }

    func sendDatagrams(port: UInt16, now: UInt64) {
        guard let s = sockets[port] else { return }
        var k = 0
        txBatch.resetAll()
        for d in output.toFabric where d.port == port {
            if k == txBatch.capacity { sendBatch(s, k); k = 0; txBatch.resetAll() }
            txBatch.set(k, bytes: d.buffer.readableBytes)
            switch d.address {
            case let .v4(a): txBatch.setAddress(k, .v4(a, port: port))
            case let .v6(a): txBatch.setAddress(k, .v6(a, port: port))
            }
            capture(fabric: d.buffer.readableBytes, from: node.configuration.underlay, to: d.address, port: port, now: now)
            k += 1
        }
        if k > 0 { sendBatch(s, k) }
    }

    func sendBatch(_ s: UDPSocket, _ k: Int) {
        txBatch.count = k
        do {
            let r = try s.send(txBatch, range: 0 ..< k)
            if r.failed > 0 { count("send-failed", UInt64(r.failed)) }
            if r.sent + r.failed < k {
                // The socket buffer is full: the controller resends what HNA peers miss; plain tunnel
                // packets are lost, as a full NIC queue would lose them.
                count("send-would-block", UInt64(k - r.sent - r.failed))
            }
        } catch {
            count("send-errors", UInt64(k))
        }
    }

    func followDeadline() {
        guard let d = node.nextDeadline else {
            if let t = timer { _ = loop.cancel(t); timer = nil }
            return
        }
        if let t = timer, loop.reschedule(t, at: d) { return }
        timer = loop.schedule(at: d) { [unowned self] now in onDeadline(now: now) }
    }

    func updateBackPressure() {
        let low = node.freeQueueBytes < Self.pauseBelowBytes
        guard low != tapsPaused else { return }
        tapsPaused = low
        if low { count("tap-pauses") }
        for p in ports.values where !draining {
            try? loop.modify(p.registration, events: low ? [] : .readable)
        }
    }

    func count(_ name: String, _ n: UInt64 = 1) { driverCounters[name, default: 0] &+= n }

    // MARK: Reload and drain

    func reload(now: UInt64) {
        guard let path = configPath else {
            logger.warning("SIGHUP ignored: no configuration file")
            return
        }
        let new: DaemonConfiguration
        do {
            new = try DaemonConfiguration.load(path: path)
        } catch {
            reloads.refused += 1
            logger.error("reload refused, keeping the running configuration", metadata: ["error": .string(error.description)])
            return
        }
        var refusal: String?
        if new.needsRestart(comparedTo: configuration) { refusal = "hna.underlay, hna.control and hna.metrics need a restart" }
        if let refusal {
            reloads.refused += 1
            logger.error("reload refused", metadata: ["error": .string(refusal)])
            return
        }
        var existing: [String: InterfaceID] = [:]
        for (name, p) in ports { existing[name] = p.id }
        var next = nextPortID
        let nodeConfig = Self.assignPortIDs(new.node, existing: existing, next: &next)
        do {
            try node.apply(nodeConfig, now: now)
        } catch {
            reloads.refused += 1
            logger.error("reload refused", metadata: ["error": .string(error.description)])
            return
        }
        nextPortID = next
        let wanted = Set(nodeConfig.ports.map(\.name))
        for name in Array(ports.keys) where !wanted.contains(name) { closePort(name) }
        for p in nodeConfig.ports where ports[p.name] == nil {
            do { try openPort(p.name, id: p.id) } catch {
                logger.error("reload: cannot open port", metadata: ["port": .string(p.name), "error": .string("\(error)")])
            }
        }
        do { try openSockets() } catch {
            logger.error("reload: cannot open socket", metadata: ["error": .string("\(error)")])
        }
        configuration = new
        reloads.ok += 1
        logger.info("configuration reloaded", metadata: ["ports": .string(nodeConfig.ports.map(\.name).joined(separator: ","))])
        flush(now: now)
    }

    /// Stops reading VM ports and lets the controller's queues empty, for at most `drainTimeout`.
    func startDrain(now: UInt64, reason: String) {
        guard !draining else { return }
        draining = true
        drainDeadline = now + Self.drainTimeout
        logger.info("draining", metadata: ["signal": .string(reason)])
        for p in ports.values { try? loop.modify(p.registration, events: []) }
        _ = loop.schedule(at: drainDeadline) { [unowned self] now in checkDrained(now: now) }
        checkDrained(now: now)
    }

    func checkDrained(now: UInt64) {
        let queued = queuedTotal()
        if queued == 0 || now >= drainDeadline {
            if queued > 0 { logger.warning("drain timed out", metadata: ["queuedBytes": .stringConvertible(queued)]) }
            loop.stop()
        }
    }

    /// Bytes waiting in the controller's queues plus packets not yet acknowledged.
    func queuedTotal() -> Int {
        guard let c = node.controller else { return 0 }
        var total = 0
        for peer in 0 ..< c.peerCount {
            for p in 0 ..< c.config.priorities { total += c.queuedBytes(to: peer, priority: p) + c.inFlight(to: peer, priority: p) }
        }
        return total
    }

    // MARK: Trace and capture

    func collectTraces(_ records: [NodeTrace]) {
        for r in records { logger.debug("trace", metadata: ["id": .stringConvertible(r.traceID), "stage": .string(r.stage), "detail": .string(r.detail)]) }
        guard !pendingTraces.isEmpty else { return }
        for i in pendingTraces.indices { pendingTraces[i].records.append(contentsOf: records) }
        answerTraces(force: false)
    }

    func answerTraces(force: Bool) {
        var keep: [(connection: Int32, count: Int, records: [NodeTrace])] = []
        for t in pendingTraces {
            let ids = Set(t.records.map(\.traceID))
            if force || (ids.count >= t.count && node.pendingTraces == 0) {
                let result: [[String: Any]] = t.records.map { ["id": Int($0.traceID), "stage": $0.stage, "detail": $0.detail] }
                control.respond(t.connection, ["ok": true, "result": result])
            } else {
                keep.append(t)
            }
        }
        pendingTraces = keep
    }

    func capture(port name: String, _ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard !captures.isEmpty else { return }
        for c in captures where c.target == name { c.add(bytes, now: now) }
        finishCaptures()
    }

    func capture(fabric bytes: UnsafeRawBufferPointer, from: IPAddress, to: IPAddress, port: UInt16, now: UInt64) {
        guard !captures.isEmpty, captures.contains(where: { $0.target == "fabric" }) else { return }
        // The kernel owns the outer IP/UDP headers; write equivalent ones so the capture dissects.
        var frame: [UInt8] = UDPHeader(sourcePort: port, destinationPort: port, payloadLength: bytes.count).emitted()
        frame.append(contentsOf: bytes)
        switch (from, to) {
        case let (.v4(s), .v4(d)):
            frame = IPv4Header(source: s, destination: d, protocol: .udp, payloadLength: frame.count).emitted() + frame
        case let (.v6(s), .v6(d)):
            frame = IPv6Header(source: s, destination: d, nextHeader: .udp, payloadLength: UInt16(frame.count)).emitted() + frame
        default: return
        }
        frame.withUnsafeBytes { raw in for c in captures where c.target == "fabric" { c.add(raw, now: now) } }
        finishCaptures()
    }

    func finishCaptures() {
        var keep: [Capture] = []
        for c in captures {
            if c.isComplete {
                c.finish()
                control.respond(c.connection, ["ok": true, "result": ["path": c.path, "packets": c.captured]])
            } else {
                keep.append(c)
            }
        }
        captures = keep
    }
}

extension DaemonConfiguration {
    /// True when a setting that only takes effect at start-up differs.
    func needsRestart(comparedTo old: DaemonConfiguration) -> Bool {
        node.underlay != old.node.underlay || controlPath != old.controlPath || metrics != old.metrics || port != old.port
    }
}

/// A running capture to a pcap file (`hna capture`).
final class Capture {
    let target: String
    let path: String
    let limit: Int
    let connection: Int32
    var writer: PcapWriter
    var captured = 0
    let wallOffset: UInt64

    init(target: String, path: String, limit: Int, connection: Int32) {
        self.target = target
        self.path = path
        self.limit = limit
        self.connection = connection
        writer = PcapWriter(linkType: target == "fabric" ? .raw : .ethernet)
        // pcap wants wall-clock time; the datapath has monotonic time: keep the offset.
        let wall = UInt64(Date().timeIntervalSince1970 * 1e9)
        wallOffset = wall &- EventLoop.now()
    }

    var isComplete: Bool { captured >= limit }

    func add(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard captured < limit else { return }
        writer.write(bytes, timestamp: now &+ wallOffset)
        captured += 1
    }

    func finish() {
        _ = FileManager.default.createFile(atPath: path, contents: Data(writer.bytes))
    }
}

extension Daemon {
    /// `hna run`: load, start, serve until SIGTERM/SIGINT. Errors go to stderr; returns the exit status.
    public static func main(configPath: String) -> Int32 {
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: configPath)
        } catch {
            FileHandle.standardError.write(Data("hna run: \(error.description)\n".utf8))
            return 2
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "hna.\(configuration.node.name)")
        do {
            let daemon = try Daemon(configuration: configuration, configPath: configPath, logger: logger)
            return try daemon.run()
        } catch {
            logger.critical("cannot start", metadata: ["error": .string("\(error)")])
            return 1
        }
    }

    /// The control socket path a configuration file names (for `hna show --config`).
    public static func controlPath(configPath: String) throws -> String {
        try DaemonConfiguration.load(path: configPath).controlPath
    }
}
