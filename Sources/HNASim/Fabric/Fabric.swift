import HNACore

/// The modelled network: directed links with FIFO output queues, switches with one shared buffer each,
/// and the forwarding rules of the ideal switch and of leaf-spine.
///
/// A link's FIFO is represented by when it becomes free (`busyUntilPs`): a packet enqueued at time t
/// starts when the link is next free and arrives at the far end after its serialisation plus the
/// propagation delay. That is exact for a FIFO at constant rate and costs one event per hop (the
/// arrival) instead of three. The backlog at time t is (busyUntil - t) x rate, which is also what a
/// shared buffer holds for that port, counted down continuously as bytes leave.

public struct Link: Sendable {
    /// The node at the far end (host index, or `hosts + switch index`).
    public var to: Int32
    /// The switch that owns this output queue, or -1 for a host's NIC (hosts pace themselves).
    public var owner: Int32
    public var picosecondsPerByte: Double
    public var delayNs: SimTime
    /// When the last byte queued so far leaves, in picoseconds, kept fractional so that odd link speeds
    /// do not drift (53 bits of picoseconds last for hours of simulated time).
    public var busyUntilPs: Double = 0
    /// Bytes that reached the far end (throughput and utilisation).
    public var deliveredBytes: UInt64 = 0
    /// `deliveredBytes` when the steady-state window opened.
    public var windowStartBytes: UInt64 = 0
    public var bytesPerSecond: Double { 1e12 / picosecondsPerByte }


    public func backlogBytes(atPs nowPs: Double) -> Int {
        busyUntilPs > nowPs ? Int((busyUntilPs - nowPs) / picosecondsPerByte) : 0
    }

    /// Whole nanoseconds at which a time in picoseconds has passed.
    @inline(__always)
    /// (Half a picosecond of slack absorbs floating-point rounding in long sums.)
    static func ceilNs(_ ps: Double) -> SimTime { ceilToUInt64((ps - 0.5) / 1000) }
}

public struct SwitchState: Sendable {
    public enum Role: UInt8, Sendable { case ideal, leaf, spine }
    public var role: Role
    /// Index among switches of its role.
    public var position: Int32
    public var bufferBytes: Int
    /// An upper bound of what the buffer holds: exact when last measured, plus every byte queued since
    /// (draining only lowers the truth). The exact sum over the ports is taken only when this bound says
    /// the buffer might be full, so a switch far from full costs nothing per packet.
    public var boundBytes = 0
    /// Salt for the ECMP hash, so leaves do not all make the same choice (no hash polarisation).
    public var salt: UInt32
    public var drops: UInt64 = 0
    public var marks: UInt64 = 0
}

/// What happened to a packet offered to a switch.
public enum ForwardResult: Sendable, Equatable {
    /// Queued on `link`; it reaches the link's far end at `arrival`; `marked` if ECN set CE.
    case queued(link: Int32, arrival: SimTime, marked: Bool)
    case dropped
}

public struct Fabric: Sendable {
    public let config: FabricConfig
    public let hosts: Int
    public var links: [Link] = []
    public var switches: [SwitchState] = []
    /// Output links of each switch.
    public private(set) var ports: [[Int32]] = []
    /// Queue occupancy each packet saw on enqueue, over all switch ports (bytes).
    public var queueHistogram = Histogram()
    public var maxQueueBytes = 0
    /// Largest shared-buffer occupancy seen in any switch (at the samples and whenever a buffer was
    /// measured for drop-tail).
    public var maxBufferBytes = 0

    // Link layout: host uplinks [0, H), host downlinks [H, 2H), leaf->spine [2H, 2H + L*S),
    // spine->leaf after that (index s * L + l).
    @usableFromInline let leafCount: Int
    @usableFromInline let spineCount: Int
    @usableFromInline let perLeaf: Int
    @usableFromInline let ecn: FabricConfig.ECN?
    @usableFromInline let spray: Bool

    public init(_ config: FabricConfig, seed: UInt64) {
        self.config = config
        hosts = config.hosts
        var rng = SimRandom(seed: seed, stream: 0xFAB)
        let unbounded = Int.max / 4
        let buffer = config.bufferBytes ?? unbounded
        let hostPs = 8000 / config.linkGbps
        let delay = config.linkDelayNs
        ecn = config.ecn
        spray = config.loadBalancing == .spray
        switch config.topology {
        case .ideal:
            leafCount = 1
            spineCount = 0
            perLeaf = hosts
            let sw = Int32(hosts)
            switches.append(SwitchState(role: .ideal, position: 0, bufferBytes: buffer, salt: UInt32(truncatingIfNeeded: rng.next())))
            for _ in 0 ..< hosts { links.append(Link(to: sw, owner: -1, picosecondsPerByte: hostPs, delayNs: delay)) }
            for h in 0 ..< hosts { links.append(Link(to: Int32(h), owner: 0, picosecondsPerByte: hostPs, delayNs: delay)) }
        case .leafSpine:
            leafCount = config.leaves
            spineCount = config.spines
            perLeaf = config.hostsPerLeaf
            for l in 0 ..< leafCount {
                switches.append(SwitchState(role: .leaf, position: Int32(l), bufferBytes: buffer,
                                            salt: UInt32(truncatingIfNeeded: rng.next())))
            }
            for s in 0 ..< spineCount {
                switches.append(SwitchState(role: .spine, position: Int32(s), bufferBytes: buffer,
                                            salt: UInt32(truncatingIfNeeded: rng.next())))
            }
            let upPs = 8000 / config.effectiveUplinkGbps
            for h in 0 ..< hosts {
                links.append(Link(to: Int32(hosts + h / perLeaf), owner: -1, picosecondsPerByte: hostPs, delayNs: delay))
            }
            for h in 0 ..< hosts {
                links.append(Link(to: Int32(h), owner: Int32(h / perLeaf), picosecondsPerByte: hostPs, delayNs: delay))
            }
            for l in 0 ..< leafCount {
                for s in 0 ..< spineCount {
                    links.append(Link(to: Int32(hosts + leafCount + s), owner: Int32(l), picosecondsPerByte: upPs,
                                      delayNs: delay))
                }
            }
            for s in 0 ..< spineCount {
                for l in 0 ..< leafCount {
                    links.append(Link(to: Int32(hosts + l), owner: Int32(leafCount + s), picosecondsPerByte: upPs,
                                      delayNs: delay))
                }
            }
        }
        var owned = [[Int32]](repeating: [], count: switches.count)
        for (i, l) in links.enumerated() where l.owner >= 0 { owned[Int(l.owner)].append(Int32(i)) }
        ports = owned
    }

    public func hostUplink(_ h: Int) -> Int { h }
    public func hostDownlink(_ h: Int) -> Int { hosts + h }
    public func leafUplink(leaf: Int, spine: Int) -> Int { 2 * hosts + leaf * spineCount + spine }
    public func spineDownlink(spine: Int, leaf: Int) -> Int { 2 * hosts + leafCount * spineCount + spine * leafCount + leaf }
    public func leaf(ofHost h: Int) -> Int { h / perLeaf }

    /// Bytes switch `sw`'s output queues hold at `nowPs`.
    public func bufferOccupancy(switch sw: Int, atPs nowPs: Double) -> Int {
        var used = 0
        for p in ports[sw] { used += links[Int(p)].backlogBytes(atPs: nowPs) }
        return used
    }

    /// Links a path from `src` to `dst` crosses, when there is only one (same leaf or ideal), else the
    /// path through `spine`.
    public func path(from src: Int, to dst: Int, spine: Int = 0) -> [Int] {
        if config.topology == .ideal || leaf(ofHost: src) == leaf(ofHost: dst) {
            return [hostUplink(src), hostDownlink(dst)]
        }
        return [hostUplink(src), leafUplink(leaf: leaf(ofHost: src), spine: spine),
                spineDownlink(spine: spine, leaf: leaf(ofHost: dst)), hostDownlink(dst)]
    }

    /// Hops (links) between two hosts.
    public func hops(from src: Int, to dst: Int) -> Int { path(from: src, to: dst).count }

    /// Puts a host's packet on its own link (the NIC never queues: the host only sends when the link is
    /// free). Returns when the packet reaches the first switch and when the NIC is free again.

    public mutating func transmitFromHost(_ h: Int, bytes: Int, now: SimTime) -> (arrival: SimTime, free: SimTime) {
        let nowPs = Double(now) * 1000
        let start = max(links[h].busyUntilPs, nowPs)
        let end = start + Double(bytes) * links[h].picosecondsPerByte
        links[h].busyUntilPs = end
        let endNs = Link.ceilNs(end)
        return (endNs &+ links[h].delayNs, endNs)
    }

    /// When host `h`'s NIC can start another packet.

    public func nicFree(_ h: Int) -> SimTime { Link.ceilNs(links[h].busyUntilPs) }

    /// The output link switch `sw` uses for a packet to `dst`. Always inlined: a call from `forward`
    /// would pass the whole fabric (its configuration included) by value, a 242-byte copy per hop.
    @inline(__always)
    public func route(switch sw: Int, dst: Int, hash: UInt32, rng: inout SimRandom) -> Int {
        let role = switches[sw].role
        let position = Int(switches[sw].position)
        switch role {
        case .ideal:
            return hosts + dst
        case .leaf:
            let l = position
            if dst / perLeaf == l { return hosts + dst }
            let spine: Int
            if spray {
                spine = rng.below(spineCount)
            } else {
                spine = Int(Self.mix(hash ^ switches[sw].salt) % UInt32(spineCount))
            }
            return 2 * hosts + l * spineCount + spine
        case .spine:
            return 2 * hosts + leafCount * spineCount + position * leafCount + dst / perLeaf
        }
    }

    @inline(__always)
    static func mix(_ x: UInt32) -> UInt32 {
        var h = x
        h ^= h >> 16
        h &*= 0x7FEB_352D
        h ^= h >> 15
        h &*= 0x846C_A68B
        h ^= h >> 16
        return h
    }

    /// Offers a packet of `bytes` arriving at switch `sw` now: picks the output, applies the shared
    /// buffer's drop-tail and ECN marking (only for ECN-capable packets), and queues it.

    public mutating func forward(
        switch sw: Int, dst: Int, hash: UInt32, bytes: Int, ect: Bool, now: SimTime, rng: inout SimRandom
    ) -> ForwardResult {
        let out = route(switch: sw, dst: dst, hash: hash, rng: &rng)
        let nowPs = Double(now) * 1000
        let backlog = links[out].backlogBytes(atPs: nowPs)
        // Shared buffer: drop-tail on the sum of this switch's output backlogs.
        if switches[sw].boundBytes + bytes > switches[sw].bufferBytes {
            let used = bufferOccupancy(switch: sw, atPs: nowPs)
            switches[sw].boundBytes = used
            if used + bytes > switches[sw].bufferBytes {
                switches[sw].drops &+= 1
                return .dropped
            }
            if used + bytes > maxBufferBytes { maxBufferBytes = used + bytes }
        }
        switches[sw].boundBytes += bytes
        var marked = false
        if ect, let e = ecn, backlog > e.minBytes {
            if backlog >= e.maxBytes {
                marked = true
            } else {
                let p = e.maxProbability * Double(backlog - e.minBytes) / Double(max(e.maxBytes - e.minBytes, 1))
                marked = rng.unit() < p
            }
            if marked { switches[sw].marks &+= 1 }
        }
        queueHistogram.record(backlog)
        if backlog > maxQueueBytes { maxQueueBytes = backlog }
        let start = max(links[out].busyUntilPs, nowPs)
        let end = start + Double(bytes) * links[out].picosecondsPerByte
        links[out].busyUntilPs = end
        return .queued(link: Int32(out), arrival: Link.ceilNs(end) &+ links[out].delayNs, marked: marked)
    }

    /// Total packets switches dropped for want of buffer.
    public var drops: UInt64 { switches.reduce(0) { $0 + $1.drops } }
    public var marks: UInt64 { switches.reduce(0) { $0 + $1.marks } }
}
