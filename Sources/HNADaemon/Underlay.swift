import Glibc
import HNALinux
import HNANode
import HNAWire

/// What the daemon sends underlay batches through: a UDP socket or the raw GRE socket.
protocol UnderlaySender: AnyObject {
    func send(_ batch: PacketBatch, range: Range<Int>?) throws(LinuxError) -> UDPSocket.SendResult
}

extension UDPSocket: UnderlaySender {}
extension RawIPSocket: UnderlaySender {}

/// The socket one outgoing fabric datagram leaves through.
enum Sender: Equatable {
    /// The raw GRE socket (MPLS-over-GRE, plain or with an HNA header).
    case gre
    /// Entropy pool socket `i`: a UDP datagram carrying an inner flow.
    case pool(Int)
    /// The socket bound to this well-known port: datagrams without an inner flow (heartbeats, acks).
    case port(UInt16)
    /// Already put in a batch (`sendFabric`'s marker).
    case done
}

/// The underlay beyond the per-port UDP sockets: the entropy pool and the GRE socket (docs/daemon.md,
/// "Outer source ports" and "MPLS-over-GRE").
///
/// Outer source port entropy. The kernel writes the UDP header of a datagram sent on a UDP socket, and
/// the source port is always the socket's bound port: neither sendmsg nor IP_PKTINFO can choose another
/// (IP_PKTINFO sets the source address and interface, not the port), and SO_REUSEPORT sockets share one
/// port. So the daemon keeps `entropyPoolSize` unconnected sockets bound to different ports in
/// `WellKnownPort.entropyRange` and sends each datagram that carries an inner flow through socket
/// `entropy port mod size`, the entropy port being the one the router derived from the flow hash. One
/// flow keeps one socket (no reordering across ECMP paths); a peer pair's flows spread over at most
/// `entropyPoolSize` outer 5-tuples per destination port. The other way — a raw socket with IP_HDRINCL
/// writing each datagram's UDP header with the exact entropy port — would give all 16,384 ports but
/// loses the UDP socket's GSO/GRO, checksum offload and per-socket buffers, and needs the UDP sockets
/// anyway to receive.
extension Daemon {
    /// Sockets in the entropy pool: enough for ECMP groups of a typical leaf-spine fabric (4-8 uplinks)
    /// to see every path used, few enough to cost nothing to keep.
    static let entropyPoolSize = 8
    /// Ports tried per pool slot before falling back to a kernel-chosen port.
    static let entropyPortAttempts = 64

    func openEntropyPool() throws {
        guard entropyPool.isEmpty else { return }
        let range = WellKnownPort.entropyRange
        let stride = (Int(range.upperBound) - Int(range.lowerBound) + 1) / Self.entropyPoolSize
        for slot in 0 ..< Self.entropyPoolSize {
            let first = Int(range.lowerBound) + slot * stride
            var socket: UDPSocket?
            var attempt = 0
            while socket == nil {
                // The last attempt takes any free port: a busy range must not stop the daemon.
                let port = attempt >= Self.entropyPortAttempts ? 0 : UInt16(first + attempt)
                attempt += 1
                let r = Result { () throws(LinuxError) -> UDPSocket in
                    try UDPSocket(bindingTo: underlayAddress(port: port),
                                  options: UDPSocket.Options(receiveBufferSize: 64 << 10, sendBufferSize: 4 << 20))
                }
                switch r {
                case let .success(s): socket = s
                case let .failure(e) where e.errno == EADDRINUSE && port != 0: continue
                case let .failure(e): throw e
                }
            }
            entropyPool.append(socket!)
        }
    }

    /// The GRE socket opens with the first network using MPLS-over-GRE (also on reload) and stays.
    func openGRE() throws {
        guard gre == nil, node.configuration.networks.contains(where: { $0.encapsulation == .mplsOverGRE }) else { return }
        let s = try RawIPSocket(bindingTo: node.configuration.underlay, protocol: .gre,
                                receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20)
        gre = s
        greRegistration = try loop.register(fd: s.fd) { [unowned self] _, now in readGRE(now: now) }
    }

    func closeUnderlayExtras() {
        for s in entropyPool { s.close() }
        entropyPool = []
        if let r = greRegistration { try? loop.unregister(r) }
        greRegistration = nil
        gre?.close()
        gre = nil
    }

    func underlayAddress(port: UInt16) -> SocketAddress {
        switch node.configuration.underlay {
        case let .v4(a): return .v4(a, port: port)
        case let .v6(a): return .v6(a, port: port)
        }
    }

    /// One batch from the GRE socket. IPv4 raw sockets deliver the outer IPv4 header: it is checked and
    /// stripped here (the source is read from it); IPv6 ones deliver from the GRE header on.
    func readGRE(now: UInt64) {
        guard let s = gre else { return }
        let n: Int
        do { n = try s.receive(into: rxBatch) } catch {
            count("gre-read-errors")
            return
        }
        guard n > 0 else { return }
        inDatagrams.removeAll(keepingCapacity: true)
        for i in 0 ..< n {
            guard !rxBatch.isTruncated(i) else {
                count("truncated-datagrams")
                continue
            }
            let raw = UnsafeRawBufferPointer(rxBatch[i])
            var source: IPAddress?
            var payload = raw
            if case .v4 = node.configuration.underlay {
                if let ip = try? IPv4Packet(checking: raw), ip.protocol == .gre, !ip.isFragment {
                    source = .v4(ip.source)
                    payload = ip.payload
                }
            } else if case let .v6(a, _, _)? = rxBatch.address(i) {
                source = .v6(a)
            }
            guard let source else {
                count("malformed-gre-ip")
                continue
            }
            let b = pool.take()
            guard b.load(payload) else {
                pool.recycle(b)
                count("oversized-datagrams")
                continue
            }
            capture(fabric: payload, from: source, to: node.configuration.underlay, transport: .gre, sourcePort: 0, port: 0, now: now)
            inDatagrams.append(FabricDatagram(address: source, port: 0, buffer: b, transport: .gre))
        }
        node.processFromFabric(inDatagrams, now: now, output: &output)
        flush(now: now)
    }

    func sender(for d: FabricDatagram) -> Sender {
        if d.transport == .gre { return .gre }
        if d.sourcePort != 0, !entropyPool.isEmpty { return .pool(Int(d.sourcePort) % entropyPool.count) }
        return .port(d.port)
    }

    /// Writes `output.toFabric`: one sendmmsg per socket used, datagrams grouped by the socket they
    /// leave through, in their order within each socket. UDP datagrams are sent from the buffers they
    /// sit in (a gather list: no copy); the raw GRE socket gets copies in `txBatch`.
    func sendFabric(now: UInt64) {
        let all = output.toFabric
        senders.removeAll(keepingCapacity: true)
        for d in all { senders.append(sender(for: d)) }
        var first = 0
        while first < all.count {
            let target = senders[first]
            if target == .gre {
                sendCopies(all, from: first, now: now)
            } else {
                sendGathered(all, from: first, to: target, now: now)
            }
            first += 1
            while first < all.count, senders[first] == .done { first += 1 }
        }
    }

    /// The datagrams of `all` from `first` on that leave through UDP socket `target`. With offloads,
    /// consecutive datagrams to one peer form one UDP GSO burst: equal sizes, the last one possibly
    /// shorter; the kernel cuts them apart again (each keeps its own HNA header, so every segment is a
    /// complete datagram).
    func sendGathered(_ all: [FabricDatagram], from first: Int, to target: Sender, now: UInt64) {
        gather.removeAll()
        var slotAddress: IPAddress?
        var slotSegment = 0
        var slotCount = 0
        var slotBytes = 0
        var slotClosed = false
        let sourcePort = self.sourcePort(of: target)
        for j in first ..< all.count where senders[j] == target {
            senders[j] = .done
            let d = all[j]
            let bytes = d.bytes
            if let plan = d.gather {
                // A train cut by reference: each datagram is two pieces (its headers, its payload in
                // the train), GSO bursts of whole datagrams within the kernel's limits.
                slotClosed = true
                let size = d.segmentSize
                let perSlot = offload ? max(1, min(Self.gsoMaxSegments, Self.gsoMaxBytes / size)) : 1
                let headers = d.buffer.readableBytes
                var k = 0
                while k < plan.count {
                    let n = min(perSlot, plan.count - k)
                    if !gather.canStart(pieces: 2 * n) {
                        sendGather(target)
                        gather.removeAll()
                    }
                    for j in k ..< k + n {
                        let h = headers.slice(j * plan.headerLength, plan.headerLength)
                        if j == k {
                            switch d.address {
                            case let .v4(a): gather.start(to: .v4(a, port: d.port), h)
                            case let .v6(a): gather.start(to: .v6(a, port: d.port), h)
                            }
                        } else {
                            gather.append(h)
                        }
                        gather.append(plan.payload(j))
                        if !captures.isEmpty {
                            // A capture needs the datagram in one piece (a copy, only while capturing).
                            ([UInt8](h) + [UInt8](plan.payload(j))).withUnsafeBytes {
                                capture(fabric: $0, from: node.configuration.underlay, to: d.address, transport: d.transport,
                                        sourcePort: sourcePort, port: d.port, now: now)
                            }
                        }
                    }
                    if n > 1 { gather.setSegmentSize(size) }
                    k += n
                }
                continue
            }
            if d.segmentSize > 0 {
                // A train the node cut: its own slots, GSO bursts of whole datagrams within the kernel's
                // limits (or, without offloads, one slot per datagram).
                slotClosed = true
                let size = d.segmentSize
                let perSlot = offload ? max(1, min(Self.gsoMaxSegments, Self.gsoMaxBytes / size)) : 1
                var at = 0
                while at < bytes.count {
                    let n = min(perSlot * size, bytes.count - at)
                    if !gather.canStart() {
                        sendGather(target)
                        gather.removeAll()
                    }
                    let chunk = bytes.slice(at, n)
                    switch d.address {
                    case let .v4(a): gather.start(to: .v4(a, port: d.port), chunk)
                    case let .v6(a): gather.start(to: .v6(a, port: d.port), chunk)
                    }
                    if n > size { gather.setSegmentSize(size) }
                    if !captures.isEmpty {
                        var o = 0
                        while o < n {
                            capture(fabric: chunk.slice(o, min(size, n - o)), from: node.configuration.underlay, to: d.address,
                                    transport: d.transport, sourcePort: sourcePort, port: d.port, now: now)
                            o += size
                        }
                    }
                    at += n
                }
                continue
            }
            if offload, let a = slotAddress, a == d.address, !slotClosed, bytes.count <= slotSegment,
               slotCount < Self.gsoMaxSegments, slotBytes + bytes.count <= Self.gsoMaxBytes, gather.canExtend {
                gather.append(bytes)
                gather.setSegmentSize(slotSegment)
                slotBytes += bytes.count
                slotCount += 1
                slotClosed = bytes.count < slotSegment
            } else {
                if !gather.canStart() {
                    sendGather(target)
                    gather.removeAll()
                }
                switch d.address {
                case let .v4(a): gather.start(to: .v4(a, port: d.port), bytes)
                case let .v6(a): gather.start(to: .v6(a, port: d.port), bytes)
                }
                slotAddress = d.address
                slotSegment = bytes.count
                slotCount = 1
                slotBytes = bytes.count
                slotClosed = false
            }
            if !captures.isEmpty {
                capture(fabric: bytes, from: node.configuration.underlay, to: d.address, transport: d.transport,
                        sourcePort: sourcePort, port: d.port, now: now)
            }
        }
        if gather.count > 0 { sendGather(target) }
    }

    /// The GRE datagrams of `all` from `first` on, copied into `txBatch` (the raw socket has no GSO).
    func sendCopies(_ all: [FabricDatagram], from first: Int, now: UInt64) {
        var k = 0
        txBatch.resetAll()
        for j in first ..< all.count where senders[j] == .gre {
            senders[j] = .done
            let d = all[j]
            let bytes = d.bytes
            if k == txBatch.capacity { send(.gre, k); k = 0; txBatch.resetAll() }
            txBatch.set(k, bytes: bytes)
            switch d.address {
            case let .v4(a): txBatch.setAddress(k, .v4(a, port: 0))
            case let .v6(a): txBatch.setAddress(k, .v6(a, port: 0))
            }
            k += 1
            if !captures.isEmpty {
                capture(fabric: bytes, from: node.configuration.underlay, to: d.address, transport: d.transport,
                        sourcePort: 0, port: d.port, now: now)
            }
        }
        if k > 0 { send(.gre, k) }
    }

    func sourcePort(of target: Sender) -> UInt16 {
        switch target {
        case .gre, .done: 0
        case let .pool(i): entropyPool[i].localAddress.port
        case let .port(p): sockets[p]?.localAddress.port ?? p
        }
    }

    func sendGather(_ target: Sender) {
        let socket: UDPSocket?
        switch target {
        case let .pool(i): socket = entropyPool[i]
        case let .port(p): socket = sockets[p]
        case .gre, .done: socket = nil
        }
        guard let socket else {
            count("frames-without-socket", UInt64(gather.count))
            return
        }
        do {
            let r = try socket.send(gather)
            if r.failed > 0 { count("send-failed", UInt64(r.failed)) }
            if r.sent + r.failed < gather.count {
                // The socket buffer is full: the controller resends what HNA peers miss; plain tunnel
                // packets are lost, as a full NIC queue would lose them.
                count("send-would-block", UInt64(gather.count - r.sent - r.failed))
            }
        } catch {
            count("send-errors", UInt64(gather.count))
        }
    }

    func send(_ target: Sender, _ k: Int) {
        switch target {
        case .gre:
            if let g = gre { sendBatch(g, k) } else { count("frames-without-socket", UInt64(k)) }
        case let .pool(i):
            sendBatch(entropyPool[i], k)
        case let .port(p):
            if let s = sockets[p] { sendBatch(s, k) } else { count("frames-without-socket", UInt64(k)) }
        case .done:
            break
        }
    }
}
