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

/// Records of one kind in memory a `FabricMemory` owns, indexed like an array (bounds checked) and
/// read and written in place: no buffer header to load and no uniqueness check per write.
public struct FabricTable<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Element>
    public let count: Int

    @usableFromInline init(_ base: UnsafeMutablePointer<Element>, count: Int) {
        self.base = base
        self.count = count
    }

    public var indices: Range<Int> { 0 ..< count }

    @inlinable
    public subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return UnsafePointer(base + i)
        }
        @inline(__always) nonmutating unsafeMutableAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return base + i
        }
    }
}

/// Owns a fabric's links, switches and scalar figures. Copies of a `Fabric` share them: a simulation
/// owns its one fabric (as it owns its hosts), and the event loop updates it on every hop.
final class FabricMemory: @unchecked Sendable {
    let links: UnsafeMutablePointer<Link>
    let linkCount: Int
    let switches: UnsafeMutablePointer<SwitchState>
    let switchCount: Int
    /// Leaf of each host (a table instead of a division per hop).
    let leafOf: UnsafeMutablePointer<Int32>
    let hostCount: Int
    let figures: UnsafeMutablePointer<FabricFigures>

    init(links: [Link], switches: [SwitchState], leafOf: [Int32]) {
        linkCount = links.count
        switchCount = switches.count
        hostCount = leafOf.count
        self.links = .allocate(capacity: max(1, links.count))
        self.links.initialize(from: links, count: links.count)
        self.switches = .allocate(capacity: max(1, switches.count))
        self.switches.initialize(from: switches, count: switches.count)
        self.leafOf = .allocate(capacity: max(1, leafOf.count))
        self.leafOf.initialize(from: leafOf, count: leafOf.count)
        figures = .allocate(capacity: 1)
        figures.initialize(to: FabricFigures())
    }

    deinit {
        links.deinitialize(count: linkCount)
        links.deallocate()
        switches.deinitialize(count: switchCount)
        switches.deallocate()
        leafOf.deallocate()
        figures.deinitialize(count: 1)
        figures.deallocate()
    }
}

/// The fabric-wide figures the loop updates per packet.
struct FabricFigures {
    var queueHistogram = Histogram()
    var maxQueueBytes = 0
    var maxBufferBytes = 0
}

/// What happened to a packet offered to a switch.
public enum ForwardResult: Sendable, Equatable {
    /// Queued on `link`; it reaches the link's far end at `arrival`; `marked` if ECN set CE.
    case queued(link: Int32, arrival: SimTime, marked: Bool)
    case dropped
}

/// The fabric. Its links, switches and figures live in memory its copies share (`FabricMemory`): the
/// simulation owns one fabric and updates it in place on every hop.
public struct Fabric: @unchecked Sendable {
    public let config: FabricConfig
    public let hosts: Int
    let memory: FabricMemory
    public let links: FabricTable<Link>
    public let switches: FabricTable<SwitchState>
    let leafOf: UnsafeMutablePointer<Int32>
    let figures: UnsafeMutablePointer<FabricFigures>
    /// Output links of each switch.
    public let ports: [[Int32]]
    /// Queue occupancy each packet saw on enqueue, over all switch ports (bytes).
    public var queueHistogram: Histogram { figures.pointee.queueHistogram }
    public var maxQueueBytes: Int { figures.pointee.maxQueueBytes }
    /// Largest shared-buffer occupancy seen in any switch (at the samples and whenever a buffer was
    /// measured for drop-tail).
    public var maxBufferBytes: Int {
        get { figures.pointee.maxBufferBytes }
        nonmutating set { figures.pointee.maxBufferBytes = newValue }
    }

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
        var links: [Link] = []
        var switches: [SwitchState] = []
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
        let perLeaf = self.perLeaf
        memory = FabricMemory(links: links, switches: switches, leafOf: (0 ..< hosts).map { Int32($0 / perLeaf) })
        self.links = FabricTable(memory.links, count: memory.linkCount)
        self.switches = FabricTable(memory.switches, count: memory.switchCount)
        leafOf = memory.leafOf
        figures = memory.figures
    }

    public func hostUplink(_ h: Int) -> Int { h }
    public func hostDownlink(_ h: Int) -> Int { hosts + h }
    /// The host a packet on `link` arrives at, or -1 when the link ends at a switch: from the
    /// numbering alone (a host's downlink is `hosts + h`), without reading the link's record, which
    /// is what the loop's lookahead needs for each event it hints at.
    @inline(__always)
    public func host(reachedBy link: Int) -> Int {
        let h = link &- hosts
        return UInt(bitPattern: h) < UInt(bitPattern: hosts) ? h : -1
    }
    public func leafUplink(leaf: Int, spine: Int) -> Int { 2 * hosts + leaf * spineCount + spine }
    public func spineDownlink(spine: Int, leaf: Int) -> Int { 2 * hosts + leafCount * spineCount + spine * leafCount + leaf }
    public func leaf(ofHost h: Int) -> Int { Int(leafOf[h]) }

    /// Bytes switch `sw`'s output queues hold at `nowPs`. Always inlined (as `route`): `forward` calls
    /// it whenever a buffer's bound says it might be full, and a call would copy the whole fabric.
    @inline(__always)
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

    /// Mutating (as `forward`) though its state is in shared memory: a non-mutating call that is not
    /// inlined gets a copy of the whole fabric (242 bytes) as its `self`.
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
            if Int(leafOf[dst]) == l { return hosts + dst }
            let spine: Int
            if spray {
                spine = rng.below(spineCount)
            } else {
                spine = Int(Self.mix(hash ^ switches[sw].salt) % UInt32(spineCount))
            }
            return 2 * hosts + l * spineCount + spine
        case .spine:
            return 2 * hosts + leafCount * spineCount + position * leafCount + Int(leafOf[dst])
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
    /// buffer's drop-tail and ECN marking (only for ECN-capable packets), and queues it. Always
    /// inlined into the loop's hop: as a call it returned its result as an enum through memory.
    @inline(__always)
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
            if used + bytes > figures.pointee.maxBufferBytes { figures.pointee.maxBufferBytes = used + bytes }
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
        figures.pointee.queueHistogram.record(backlog)
        if backlog > figures.pointee.maxQueueBytes { figures.pointee.maxQueueBytes = backlog }
        let start = max(links[out].busyUntilPs, nowPs)
        let end = start + Double(bytes) * links[out].picosecondsPerByte
        links[out].busyUntilPs = end
        return .queued(link: Int32(out), arrival: Link.ceilNs(end) &+ links[out].delayNs, marked: marked)
    }

    /// Total packets switches dropped for want of buffer.
    public var drops: UInt64 { switches.indices.reduce(0) { $0 + switches[$1].drops } }
    public var marks: UInt64 { switches.indices.reduce(0) { $0 + switches[$1].marks } }
}
