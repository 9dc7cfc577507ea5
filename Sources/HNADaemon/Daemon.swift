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
    /// The node's buffer pool (the router keeps one for its life): held here so the per-packet paths
    /// reach it without going through `node`.
    let pool: PacketPool
    var output = NodeOutput()
    let logger: Logger

    struct Port {
        var name: String
        var id: InterfaceID
        var tap: TapDevice
        var registration: EventLoop.Registration
        /// The TAP takes UDP super-frames (USO, Linux 6.2 and later): datagrams of one flow towards the
        /// VM go in one write, and the VM may hand over UDP GSO frames.
        var uso = false
    }
    var ports: [String: Port] = [:]
    var portByID: [InterfaceID: String] = [:]
    var nextPortID: InterfaceID = 1
    var sockets: [UInt16: UDPSocket] = [:]
    var socketRegistrations: [UInt16: EventLoop.Registration] = [:]
    /// Sending sockets on ports in the entropy range, chosen per datagram by its flow's entropy port
    /// (Underlay.swift).
    var entropyPool: [UDPSocket] = []
    /// The raw GRE socket, open while a network uses MPLS-over-GRE.
    var gre: RawIPSocket?
    var greRegistration: EventLoop.Registration?
    /// Where each of `output.toFabric` leaves (reused per flush).
    var senders: [Sender] = []

    /// Reused batches: one for reads, one for underlay sends, one for TAP writes. With offloads every
    /// slot holds a 64 KiB super-frame or GSO/GRO burst (docs/daemon.md, "Offloads").
    let rxBatch: PacketBatch
    let txBatch: PacketBatch
    let tapBatch: PacketBatch
    /// TAP reads with offloads land straight in large pool buffers lent to these slots, so a
    /// super-frame kept whole is never copied; a slot whose buffer the datapath took gets a fresh one.
    let tapReadBatch = PacketBatch(capacity: Daemon.batchSize, bufferSize: 64)
    var tapReadBuffers: [PacketBuffer] = []
    /// Underlay sends straight from the node's buffers: a slot per UDP GSO burst, a piece per datagram.
    let gather = GatherBatch(capacity: Daemon.batchSize, pieceCapacity: Daemon.batchSize * Daemon.gsoMaxSegments)
    var inBuffers: [PacketBuffer] = []
    var inDatagrams: [FabricDatagram] = []
    /// Distinct ports in one output (reused scratch for `writeTaps`).
    var outPorts: [InterfaceID] = []
    static let batchSize = 64
    /// TAP offloads (virtio-net headers, checksum and TSO) and UDP GSO/GRO. On unless the environment
    /// says `HNA_OFFLOAD=off` (how `scripts/perf-daemon.sh` measures the difference).
    let offload: Bool
    /// Bytes of a slot: a 64 KiB IP packet plus its Ethernet and virtio-net headers, or a GSO burst.
    static let offloadSlotSize = 65536 + 64
    /// Packets handed to the node per call: a burst of super-frames becomes thousands of segments, and
    /// smaller calls keep the working set in cache and the controller's queues moving.
    static let nodeBatch = 256
    /// UDP GSO: the kernel takes at most 64 segments per send (UDP_MAX_SEGMENTS) and a UDP payload
    /// must stay under 64 KiB.
    static let gsoMaxSegments = 64
    static let gsoMaxBytes = 65000
    /// The most segments a VM's super-frame may stand for: 64 KiB at the smallest sensible MSS (IPv4's
    /// 536 bytes) is 123. A tiny gso_size would otherwise turn one frame into thousands of buffers.
    static let maxSegmentsPerSuperFrame = 256

    var timer: EventLoop.TimerID?
    var agingTimer: EventLoop.TimerID?
    /// Which VM ports the crowded VOQs hold back (the logic is sans-I/O in HNANode).
    var backPressure = IngressBackPressure()
    /// Ports taken out of the epoll interest set by back-pressure.
    var pausedPorts: Set<InterfaceID> = []
    /// Driver events that are back-pressure, not loss: `hna show stats` lists them under
    /// `backPressure`, apart from the drops.
    static let backPressureEvents: Set<String> = ["tap-pauses", "crowded-pause-expired"]

    var draining = false
    var drainDeadline: UInt64 = 0
    /// How long a drain waits for queues to empty.
    public static let drainTimeout: UInt64 = 2_000_000_000
    public private(set) var exitCode: Int32 = 0

    var control: ControlServer!
    var metrics: MetricsServer?
    /// Drops and errors the driver itself counts (I/O errors and the like), by name.
    var driverCounters: [String: UInt64] = [:]
    /// Offload work that is not a drop (super-frames segmented or coalesced), by name: kept apart so
    /// drop totals (`hna show drops`, the lab) count only lost packets.
    var offloadCounters: [String: UInt64] = [:]
    var captures: [Capture] = []
    var pendingTraces: [(connection: Int32, count: Int, records: [NodeTrace])] = []
    let started = Date()
    public private(set) var reloads: (ok: Int, refused: Int) = (0, 0)

    public init(configuration: DaemonConfiguration, configPath: String?, logger: Logger) throws {
        self.configuration = configuration
        self.configPath = configPath
        self.logger = logger
        loop = try EventLoop()
        offload = ProcessInfo.processInfo.environment["HNA_OFFLOAD"] != "off"
        let slot = offload ? Self.offloadSlotSize : 9216 + 256
        rxBatch = PacketBatch(capacity: Self.batchSize, bufferSize: slot)
        txBatch = PacketBatch(capacity: Self.batchSize, bufferSize: slot)
        tapBatch = PacketBatch(capacity: Self.batchSize, bufferSize: slot)
        var routerConfiguration = RouterConfiguration()
        // 64K flows (about 11 MB) per daemon; the library default (1M, ~180 MB) is for big hosts.
        routerConfiguration.flowCapacity = 1 << 16
        let nodeConfig = Self.assignPortIDs(configuration.node, existing: [:], next: &nextPortID)
        node = try HNANode(configuration: nodeConfig, routerConfiguration: routerConfiguration,
                           pool: PacketPool(preallocate: 1024), now: EventLoop.now())
        pool = node.pool
        for p in nodeConfig.ports { portByID[p.id] = p.name }
        if offload {
            for i in 0 ..< Self.batchSize {
                tapReadBuffers.append(pool.takeLarge())
                lendTapSlot(i)
            }
        }
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
        // The node's first deadline (heartbeats): every later one comes with its output.
        node.poll(now: EventLoop.now(), output: &output)
        flush(now: EventLoop.now())
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
            let s = try UDPSocket(bindingTo: address, options: UDPSocket.Options(gro: offload, receiveBufferSize: 4 << 20,
                                                                                sendBufferSize: 4 << 20))
            sockets[port] = s
            socketRegistrations[port] = try loop.register(fd: s.fd) { [unowned self] _, now in readSocket(port, now: now) }
        }
        try openEntropyPool()
        try openGRE()
    }

    func openPort(_ name: String, id: InterfaceID) throws {
        // The TAP is left as the kernel makes it: whoever moves it into a VM's namespace brings it up
        // there, and the daemon never touches its link state (the fd keeps working after a move).
        let tap = try TapDevice(name: name, options: offload ? .vnetHeader : [])
        var uso = false
        if offload {
            // USO where the kernel knows it (TUNSETOFFLOAD refuses unknown flags), TSO alone otherwise.
            do {
                try tap.setOffloads([.checksum, .tso4, .tso6, .uso4, .uso6])
                uso = true
            } catch {
                try tap.setOffloads([.checksum, .tso4, .tso6])
            }
        }
        let reg = try loop.register(fd: tap.fd) { [unowned self] _, now in readTap(id, now: now) }
        ports[name] = Port(name: name, id: id, tap: tap, registration: reg, uso: uso)
        portByID[id] = name
    }

    func closePort(_ name: String) {
        guard let p = ports.removeValue(forKey: name) else { return }
        backPressure.remove(p.id)
        pausedPorts.remove(p.id)
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
        closeUnderlayExtras()
        control?.close()
        metrics?.close()
        for c in captures { c.finish() }
        captures = []
        loop.close()
        logger.info("hna daemon stopped", metadata: ["name": .string(configuration.node.name)])
    }

    // MARK: Datapath

    /// Points TAP read slot `i` at the whole of its (reset) buffer.
    func lendTapSlot(_ i: Int) {
        let b = tapReadBuffers[i]
        b.reset()
        tapReadBatch.lend(i, to: b.append(b.tailroom)!)
    }

    func readTap(_ id: InterfaceID, now: UInt64) {
        guard !draining, let name = portByID[id], let port = ports[name] else { return }
        let vnet = port.tap.vnetHeaderSize
        let batch = vnet > 0 ? tapReadBatch : rxBatch
        let n: Int
        // Super-frames make a batch of 64 frames up to 4 MiB: half the pause room per batch keeps a
        // pause (`updateBackPressure`) ahead of a VOQ's limit.
        do { n = try port.tap.read(into: batch, maxBytes: node.ingressPauseBytes / 2, lentSlots: vnet > 0) } catch {
            count("tap-read-errors")
            return
        }
        guard n > 0 else { return }
        inBuffers.removeAll(keepingCapacity: true)
        for i in 0 ..< n {
            if vnet > 0 {
                let frame = UnsafeRawBufferPointer(batch[i])
                if takeOffloaded(frame, vnet: vnet, port: id, name: name, owner: tapReadBuffers[i], now: now) {
                    tapReadBuffers[i] = pool.takeLarge()
                }
                lendTapSlot(i)
            } else {
                take(UnsafeRawBufferPointer(rxBatch[i]), port: id, name: name, now: now)
            }
            if inBuffers.count >= Self.nodeBatch {
                node.processFromInterfaces(inBuffers, now: now, output: &output)
                inBuffers.removeAll(keepingCapacity: true)
                flush(now: now)
            }
        }
        if !inBuffers.isEmpty { node.processFromInterfaces(inBuffers, now: now, output: &output) }
        flush(now: now)
    }

    /// One frame into a pool buffer for the node.
    @inline(__always)
    func take(_ frame: UnsafeRawBufferPointer, port id: InterfaceID, name: String, now: UInt64) {
        let b = pool.take()
        if b.load(frame) {
            b.meta.ingressInterface = id
            inBuffers.append(b)
            if !captures.isEmpty { capture(port: name, frame, now: now) }
        } else {
            pool.recycle(b)
            count("oversized-frames")
        }
    }

    /// A frame after its virtio-net header: a TSO super-frame stays whole (a train, cut as it leaves)
    /// or is cut into MSS-sized segments now; a frame whose checksum the VM left to us gets it
    /// completed. `raw` lies at the start of `owner`'s data: a super-frame kept whole keeps that buffer
    /// (true: the caller needs a new one), anything else is copied out of it.
    @discardableResult
    func takeOffloaded(_ raw: UnsafeRawBufferPointer, vnet: Int, port id: InterfaceID, name: String,
                       owner: PacketBuffer? = nil, now: UInt64) -> Bool {
        guard raw.count > vnet, let h = try? VirtioNetHeader(parsing: raw) else {
            count("tap-short-frames")
            return false
        }
        let frame = raw.tail(from: vnet)
        let gso = h.gsoType & ~VirtioNetHeader.gsoECN
        if gso == VirtioNetHeader.gsoTCPv4 || gso == VirtioNetHeader.gsoTCPv6 {
            if Self.keepsWhole(frame, gsoSize: Int(h.gsoSize)) {
                // Whole through the router and the controller: cut only as it leaves (a train).
                if !captures.isEmpty { capture(port: name, frame, now: now) }
                countOffload("tso-frames-kept")
                let b: PacketBuffer
                if let owner {
                    b = owner
                    b.truncate(to: raw.count)
                    b.trimFront(vnet)
                } else {
                    b = pool.takeLarge()
                    guard b.load(frame) else {
                        pool.recycle(b)
                        count("oversized-frames")
                        return false
                    }
                }
                b.meta.ingressInterface = id
                b.meta.gsoSize = h.gsoSize
                inBuffers.append(b)
                return owner != nil
            }
            // A VM's gso_size is its MSS; one that would make hundreds of segments is refused, not obeyed.
            guard let seg = try? TCPOffload.Segmenter(frame: frame, segmentSize: Int(h.gsoSize)),
                  seg.segmentCount <= Self.maxSegmentsPerSuperFrame else {
                count("tso-refused")
                return false
            }
            countOffload("tso-frames")
            for s in 0 ..< seg.segmentCount {
                let b = pool.take()
                guard let room = b.append(seg.length(of: s)), seg.write(s, into: room) != nil else {
                    pool.recycle(b)
                    count("oversized-frames")
                    continue
                }
                b.meta.ingressInterface = id
                inBuffers.append(b)
                if !captures.isEmpty { capture(port: name, b.readableBytes, now: now) }
            }
            return false
        }
        if gso == VirtioNetHeader.gsoUDPL4 {
            // A UDP super-frame (the VM's UDP_SEGMENT): its datagrams, one frame each.
            guard let seg = try? UDPOffload.Segmenter(frame: frame, segmentSize: Int(h.gsoSize)),
                  seg.segmentCount <= Self.maxSegmentsPerSuperFrame else {
                count("uso-refused")
                return false
            }
            countOffload("uso-frames")
            for s in 0 ..< seg.segmentCount {
                let b = pool.take()
                guard let room = b.append(seg.length(of: s)), seg.write(s, into: room) != nil else {
                    pool.recycle(b)
                    count("oversized-frames")
                    continue
                }
                b.meta.ingressInterface = id
                inBuffers.append(b)
                if !captures.isEmpty { capture(port: name, b.readableBytes, now: now) }
            }
            return false
        }
        guard gso == VirtioNetHeader.gsoNone else {
            count("gso-type-unsupported")
            return false
        }
        take(frame, port: id, name: name, now: now)
        if h.flags & VirtioNetHeader.needsChecksum != 0, let b = inBuffers.last, b.meta.ingressInterface == id {
            do { try TCPOffload.completeChecksum(b.bytes, start: Int(h.checksumStart), offset: Int(h.checksumOffset)) } catch {
                inBuffers.removeLast()
                pool.recycle(b)
                count("bad-checksum-offload")
            }
        }
        return false
    }

    /// A TSO super-frame stays whole (the node cuts it as it sends) when its segments can be rebuilt
    /// exactly from it: TCP over IPv6, or over IPv4 with DF (a super-frame is never fragmented), and at
    /// most the segments the controller takes in one payload.
    static func keepsWhole(_ frame: UnsafeRawBufferPointer, gsoSize: Int) -> Bool {
        guard gsoSize > 0, let layout = try? TCPOffload.Layout(frame: frame) else { return false }
        if !layout.isIPv6,
           frame.u16(at: layout.l3 + IPv4Packet.Field.flagsFragmentOffset) & IPv4Packet.Bits.dontFragment == 0 { return false }
        return (layout.payloadLength + gsoSize - 1) / gsoSize <= FlowController<FabricPacket>.maxSegments
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
            let address: IPAddress
            switch from {
            case let .v4(a, _): address = .v4(a)
            case let .v6(a, _, _): address = .v6(a)
            }
            // With GRO one message is a run of datagrams from one sender, all `segment` bytes but the last.
            let message = UnsafeRawBufferPointer(rxBatch[i])
            let segment = rxBatch.segmentSize(i) > 0 ? rxBatch.segmentSize(i) : max(message.count, 1)
            if segment < message.count {
                // A run: the node takes it from here whole (it builds trains of what continues a TCP
                // stream), after the datagrams gathered so far, to keep their order.
                if !inDatagrams.isEmpty {
                    node.processFromFabric(inDatagrams, now: now, output: &output)
                    inDatagrams.removeAll(keepingCapacity: true)
                }
                if !captures.isEmpty {
                    var o = 0
                    while o < message.count {
                        capture(fabric: message.slice(o, min(segment, message.count - o)), from: address,
                                to: node.configuration.underlay, transport: .udp, sourcePort: from.port, port: port, now: now)
                        o += segment
                    }
                }
                node.processFromFabric(run: message, segmentSize: segment, from: address, sourcePort: from.port, port: port,
                                       now: now, output: &output)
                countOffload("gro-runs")
                continue
            }
            var offset = 0
            while offset < message.count {
                let datagram = message.slice(offset, min(segment, message.count - offset))
                offset += segment
                let b = pool.take()
                guard b.load(datagram) else {
                    pool.recycle(b)
                    count("oversized-datagrams")
                    continue
                }
                if !captures.isEmpty {
                    capture(fabric: datagram, from: address, to: node.configuration.underlay,
                            transport: .udp, sourcePort: from.port, port: port, now: now)
                }
                inDatagrams.append(FabricDatagram(address: address, port: port, buffer: b, sourcePort: from.port))
                if inDatagrams.count >= Self.nodeBatch {
                    node.processFromFabric(inDatagrams, now: now, output: &output)
                    inDatagrams.removeAll(keepingCapacity: true)
                }
            }
        }
        if !inDatagrams.isEmpty { node.processFromFabric(inDatagrams, now: now, output: &output) }
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
        if !output.toFabric.isEmpty { sendFabric(now: now) }
        updateBackPressure(now: now)
        node.recycle(&output)
        followDeadline()
        if draining { checkDrained(now: now) }
    }

    func writeTaps(now: UInt64) {
        // Frames to the same port go out together (one batch call); ports are few, so a pass per port.
        outPorts.removeAll(keepingCapacity: true)
        for p in output.toInterfaces where !outPorts.contains(p.interface) { outPorts.append(p.interface) }
        for id in outPorts {
            let name = portByID[id]
            let vnet = name.flatMap { ports[$0]?.tap.vnetHeaderSize } ?? 0
            tapBatch.resetAll()
            var k = 0
            if vnet > 0 {
                writeCoalesced(id, vnet: vnet, name: name, now: now)
                continue
            }
            for p in output.toInterfaces where p.interface == id {
                if p.buffer.meta.gsoSize > 0 {
                    // No virtio-net header to describe a super-frame: its segments, one frame each.
                    guard let seg = try? TCPOffload.Segmenter(frame: p.buffer.readableBytes,
                                                               segmentSize: Int(p.buffer.meta.gsoSize)) else {
                        count("tso-refused")
                        continue
                    }
                    for i in 0 ..< seg.segmentCount {
                        if k == tapBatch.capacity { writeTapBatch(id, k); k = 0 }
                        guard let n = seg.write(i, into: tapBatch.room(k)) else { count("oversized-frames"); continue }
                        tapBatch.setLength(k, n)
                        k += 1
                    }
                    continue
                }
                if k == tapBatch.capacity { writeTapBatch(id, k); k = 0 }
                tapBatch.set(k, bytes: p.buffer.readableBytes)
                if !captures.isEmpty, let name { capture(port: name, p.buffer.readableBytes, now: now) }
                k += 1
            }
            if k > 0 { writeTapBatch(id, k) }
        }
    }

    /// Towards a TAP with virtio-net headers: consecutive segments of one TCP stream are merged into one
    /// super-frame (GSO type TCPv4/v6, checksum left partial), so the VM's stack takes dozens of
    /// segments in one frame and the daemon makes one write(2) for them; anything else goes as it is.
    func writeCoalesced(_ id: InterfaceID, vnet: Int, name: String?, now: UInt64) {
        var k = 0
        var current: FrameCoalescer?
        let uso = name.flatMap { ports[$0]?.uso } ?? false
        func finish() {
            guard let c = current else { return }
            let (frame, h) = c.finish()
            if h.gsoType != VirtioNetHeader.gsoNone { countOffload(h.gsoType == VirtioNetHeader.gsoUDPL4 ? "uso-frames-written" : "gro-frames") }
            h.write(to: tapBatch.room(k), size: vnet)
            tapBatch.setLength(k, vnet + frame.count)
            k += 1
            current = nil
        }
        for p in output.toInterfaces where p.interface == id {
            let frame = p.buffer.readableBytes
            if !captures.isEmpty, let name { capture(port: name, frame, now: now) }
            if p.buffer.meta.gsoSize > 0 {
                // A super-frame (a train received whole, or from a local VM): it goes as it is, with
                // the virtio-net header that tells the VM's stack its segments and partial checksum.
                finish()
                if k == tapBatch.capacity { writeTapBatch(id, k); k = 0; tapBatch.resetAll() }
                guard let layout = try? TCPOffload.Layout(frame: frame), let room = p.buffer.prepend(vnet) else {
                    count("oversized-frames")
                    continue
                }
                // The header goes in the buffer's headroom and the slot is lent the buffer: no copy.
                var h = VirtioNetHeader()
                h.flags = VirtioNetHeader.needsChecksum
                h.gsoType = layout.isIPv6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
                h.headerLength = UInt16(layout.headerLength)
                h.gsoSize = p.buffer.meta.gsoSize
                h.checksumStart = UInt16(layout.l4)
                h.checksumOffset = UInt16(TCPSegment.Field.checksum)
                h.write(to: room, size: vnet)
                tapBatch.lend(k, to: p.buffer.bytes, length: p.buffer.length)
                k += 1
                countOffload("gso-frames-written")
                continue
            }
            if current?.append(frame) == true { continue }
            finish()
            if k == tapBatch.capacity { writeTapBatch(id, k); k = 0; tapBatch.resetAll() }
            let room = tapBatch.room(k)
            current = FrameCoalescer(first: frame, into: UnsafeMutableRawBufferPointer(rebasing: room[vnet...]), udp: uso)
            if current == nil {
                // Not coalescable: a zero header (nothing left to do) and the frame as it is.
                guard vnet + frame.count <= room.count else { count("oversized-frames"); continue }
                VirtioNetHeader().write(to: room, size: vnet)
                UnsafeMutableRawBufferPointer(rebasing: room[vnet...]).copyMemory(from: frame)
                tapBatch.setLength(k, vnet + frame.count)
                k += 1
            }
        }
        finish()
        if k > 0 { writeTapBatch(id, k) }
    }

    /// Consecutive frames towards a VM merged into one with a virtio-net header: segments of one TCP
    /// stream (GRO) or, on a TAP offered USO, datagrams of one UDP flow.
    enum FrameCoalescer {
        case tcp(TCPOffload.Coalescer)
        case udp(UDPOffload.Coalescer)

        init?(first: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, udp: Bool) {
            if let c = TCPOffload.Coalescer(first: first, into: out) {
                self = .tcp(c)
            } else if udp, let c = UDPOffload.Coalescer(first: first, into: out) {
                self = .udp(c)
            } else {
                return nil
            }
        }

        mutating func append(_ frame: UnsafeRawBufferPointer) -> Bool {
            switch self {
            case var .tcp(c):
                defer { self = .tcp(c) }
                return c.append(frame)
            case var .udp(c):
                defer { self = .udp(c) }
                return c.append(frame)
            }
        }

        /// The merged frame and its virtio-net header (all zero for a frame of one).
        func finish() -> (UnsafeMutableRawBufferPointer, VirtioNetHeader) {
            var h = VirtioNetHeader()
            switch self {
            case let .tcp(c):
                guard c.segments > 1 else { return (c.finish(), h) }
                h.gsoType = c.layout.isIPv6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
                h.headerLength = UInt16(c.layout.headerLength)
                h.gsoSize = UInt16(c.segmentSize)
                h.checksumStart = UInt16(c.checksumStart)
                h.checksumOffset = UInt16(c.checksumOffset)
                h.flags = VirtioNetHeader.needsChecksum
                return (c.finish(), h)
            case let .udp(c):
                guard c.segments > 1 else { return (c.finish(), h) }
                h.gsoType = VirtioNetHeader.gsoUDPL4
                h.headerLength = UInt16(c.layout.headerLength)
                h.gsoSize = UInt16(c.segmentSize)
                h.checksumStart = UInt16(c.checksumStart)
                h.checksumOffset = UInt16(c.checksumOffset)
                h.flags = VirtioNetHeader.needsChecksum
                return (c.finish(), h)
            }
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

    func sendBatch(_ s: some UnderlaySender, _ k: Int) {
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
        guard let d = output.nextDeadline else {
            if let t = timer { _ = loop.cancel(t); timer = nil }
            return
        }
        if let t = timer, loop.reschedule(t, at: d) { return }
        timer = loop.schedule(at: d) { [unowned self] now in onDeadline(now: now) }
    }

    /// Back-pressure towards the VMs. A VM port whose packets went into a VOQ with less than the pause
    /// room left is not read until that VOQ has room again, and every port waits while all VOQs together
    /// are short of room: the TAP's queue then fills and the VM's TCP slows down (TCP small queues),
    /// where a refused burst would have been loss to it. Other ports keep going, so one VM sending
    /// into a congested destination does not hold back its neighbours.
    func updateBackPressure(now: UInt64) {
        let expired = backPressure.expired
        backPressure.update(crowding: output.crowding, node: node, now: now)
        if backPressure.expired > expired { count("crowded-pause-expired", backPressure.expired - expired) }
        let memoryLow = output.freeQueueBytes < node.ingressPauseBytes
        if backPressure.isEmpty && pausedPorts.isEmpty && !memoryLow { return }
        guard !draining else { return }
        for p in ports.values {
            let pause = memoryLow || backPressure.isHolding(p.id)
            guard pause != pausedPorts.contains(p.id) else { continue }
            if pause {
                pausedPorts.insert(p.id)
                count("tap-pauses")
            } else {
                pausedPorts.remove(p.id)
            }
            try? loop.modify(p.registration, events: pause ? [] : .readable)
        }
    }

    func count(_ name: String, _ n: UInt64 = 1) { driverCounters[name, default: 0] &+= n }
    func countOffload(_ name: String, _ n: UInt64 = 1) { offloadCounters[name, default: 0] &+= n }

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
        // A new controller has new deadlines: poll once so the output reports them.
        node.poll(now: now, output: &output)
        flush(now: now)
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

    func capture(fabric bytes: UnsafeRawBufferPointer, from: IPAddress, to: IPAddress, transport: FabricTransport,
                 sourcePort: UInt16, port: UInt16, now: UInt64) {
        guard !captures.isEmpty, captures.contains(where: { $0.target == "fabric" }) else { return }
        // The kernel owns the outer IP (and UDP) headers; write equivalent ones so the capture dissects.
        var frame: [UInt8] = []
        if transport == .udp {
            frame = UDPHeader(sourcePort: sourcePort, destinationPort: port, payloadLength: bytes.count).emitted()
        }
        frame.append(contentsOf: bytes)
        let proto: IPProtocol = transport == .udp ? .udp : .gre
        switch (from, to) {
        case let (.v4(s), .v4(d)):
            frame = IPv4Header(source: s, destination: d, protocol: proto, payloadLength: frame.count).emitted() + frame
        case let (.v6(s), .v6(d)):
            frame = IPv6Header(source: s, destination: d, nextHeader: proto, payloadLength: UInt16(frame.count)).emitted() + frame
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
        // tcpdump's snap length: a VM port carries TCP super-frames of up to 64 KiB plus headers.
        writer = PcapWriter(linkType: target == "fabric" ? .raw : .ethernet, snapLength: 262_144)
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
