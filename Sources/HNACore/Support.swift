import HNAWire

/// What the controller queues, resends and delivers. The simulator queues small descriptors, the daemon
/// real buffers; the controller never looks at the bytes.
public protocol FabricPayload {
    /// Bytes the payload occupies on the fabric, everything except the HNA header (which the controller
    /// adds to the cost of every packet it paces).
    var wireLength: Int { get }
    /// What the HNA header says follows it.
    var nextProtocol: HNANextProtocol { get }
    /// Datagrams the payload leaves as, each behind its own HNA header with its own sequence number: 1
    /// for a packet; up to `FlowController.maxSegments` for a train, a TCP super-frame the driver cuts
    /// into segments only when it sends, so that the router and the controller handle it once.
    var segmentCount: Int { get }
    /// The train's segments `range` alone (a resend of some of its datagrams), with `wireLength` and
    /// `segmentCount` for just those. Called only with a range inside `0 ..< segmentCount`.
    func segments(_ range: Range<Int>) -> Self
}

extension FabricPayload {
    @inlinable public var segmentCount: Int { 1 }
    @inlinable public func segments(_ range: Range<Int>) -> Self { self }
}

/// 16-bit sequence numbers compared by serial-number arithmetic (RFC 1982): valid while the numbers
/// compared are less than 2^15 apart, which the in-flight and reorder bounds (at most 16384) ensure.
public enum SequenceNumber {
    /// Signed distance from `a` to `b`: positive when `b` is after `a`.
    @inlinable @inline(__always)
    public static func distance(from a: UInt16, to b: UInt16) -> Int { Int(Int16(bitPattern: b &- a)) }

    /// True when `a` comes before `b`.
    @inlinable @inline(__always)
    public static func precedes(_ a: UInt16, _ b: UInt16) -> Bool { distance(from: a, to: b) > 0 }
}

/// Why a packet from a VM never entered a virtual output queue. These are ingress drops: the fabric
/// itself never drops a packet the controller accepted.
public enum IngressDropReason: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// The (destination, priority) queue is at `voqLimitBytes`.
    case voqFull
    /// All queues together are at `voqMemoryBytes`.
    case memoryFull
    /// The destination peer or the priority is out of range.
    case badDestination
    /// A payload of no segments, of more than `FlowController.maxSegments`, or of no bytes on the wire
    /// (every fabric frame has headers; the queues' byte counts tell empty from not).
    case badPayload

    public var description: String {
        switch self {
        case .voqFull: return "voq-full"
        case .memoryFull: return "voq-memory-full"
        case .badDestination: return "bad-destination"
        case .badPayload: return "bad-payload"
        }
    }
}

/// The answer to `FlowController.enqueue`.
public enum IngressResult: Hashable, Sendable {
    case queued
    case dropped(IngressDropReason)
}

/// What the controller asks its driver to do. A later layer writes the header bytes.
public enum FlowAction<Payload> {
    /// Send `header` (and the payload after it, if any) to `peer`.
    case send(peer: Int, header: HNAHeader, payload: Payload?)
    /// Hand `payload` from `peer` to the virtual router; in order per (peer, priority).
    case deliver(peer: Int, priority: Int, payload: Payload)
}

/// Every event the controller counts, drops with their reasons among them.
public struct FlowCounters: Hashable, Sendable {
    public var enqueued = 0
    /// Ingress drops by reason (index: `IngressDropReason.rawValue`).
    public var ingressDrops = [Int](repeating: 0, count: IngressDropReason.allCases.count)
    public var dataSent = 0
    public var dataBytesSent = 0
    public var retransmissions = 0
    public var resendsRequestedByNack = 0
    public var resendsByTimeout = 0
    public var heartbeatsSent = 0
    public var heartbeatBytesSent = 0
    public var controlSent = 0
    public var nackEntriesSent = 0
    public var delivered = 0
    public var duplicates = 0
    /// Packets refused because the reorder window or memory was full (the sender resends them).
    public var reorderOverflows = 0
    /// Trains (payloads of several segments) received anywhere but at the next expected sequence
    /// number: refused whole, and resent by their sender. A driver only hands over a train in order
    /// (`expectedSequence`) and splits anything else into packets.
    public var misplacedTrains = 0
    /// Feedback older than feedback already applied (reordered in the fabric), ignored.
    public var staleFeedback = 0
    /// Grants that aged out; the pair fell back to the safe rate.
    public var staleGrants = 0
    /// Acks that acknowledged nothing new or something never sent.
    public var ignoredAcks = 0
    /// Headers refused (unknown peer, wrong priority count, data without payload).
    public var badHeaders = 0
    /// Times a queue could not send because its in-flight window was full.
    public var windowStalls = 0
    /// Times a queue could not send because resend memory was full.
    public var resendMemoryStalls = 0
    /// Round-trip samples taken (acks of packets sent once).
    public var roundTripSamples = 0
    /// Headers sent to refresh the grant of a source with queued bytes that heard nothing else.
    public var grantRefreshes = 0

    public init() {}

    public func ingressDrops(_ reason: IngressDropReason) -> Int { ingressDrops[reason.rawValue] }
}

/// The least whole number at or above `x`, as `UInt64(x.rounded(.up))` is (and trapping where it
/// traps: NaN, infinities, 2^64 and beyond, -1 and below), without a call: on the x86-64 baseline
/// `rounded(.up)` is a call to libm's `ceil` through the PLT, and the pacing and link arithmetic
/// takes one per packet.
@inlinable @inline(__always)
public func ceilToUInt64(_ x: Double) -> UInt64 {
    // Below 2^62 (every time and size the controller and the simulator compute), the signed
    // conversions are single instructions; the unsigned ones, and the checks that make them trap
    // where they must, cost several more. The rest takes the general path, traps included.
    if x >= 0 && x < 0x1p62 {
        let t = Int64(x)
        return UInt64(bitPattern: Double(t) < x ? t &+ 1 : t)
    }
    let t = UInt64(x)
    return Double(t) < x ? t + 1 : t
}

/// LLVM's prefetch intrinsic, declared by its name (Swift has no prefetch of its own): a hint that
/// changes nothing but when a cache line arrives.
@_silgen_name("llvm.prefetch.p0")
@usableFromInline
func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cacheType: Int32)

/// Memory hints for drivers that run many controllers (a simulator of a thousand hosts touches a
/// different controller, and a different peer's state in it, on nearly every event): issuing the
/// loads of the next few events early lets their cache misses overlap. They change no state.
public enum MemoryHint {
    /// Starts loading the cache line at `address` for reading.
    @inlinable @inline(__always)
    public static func prefetch(_ address: UnsafeRawPointer) {
        llvmPrefetch(address, 0, 3, 1)
    }
}

/// The addresses of one controller's per-peer state, queues and timers (`FlowController.prefetcher`),
/// to start loading what its next calls will touch. Reads nothing but, in `prefetch(pollAt:)`, the
/// controller's earliest timer, the heads of its control and heartbeat queues and the first peers of
/// its span; changes nothing.
public struct FlowPrefetcher: @unchecked Sendable, BitwiseCopyable {
    // Kept small (56 bytes: one line) because a driver of many controllers reads one of these per
    // event to hint at the next ones: four addresses, and the strides and offsets in narrow integers.
    @usableFromInline let peers: UnsafeRawPointer
    @usableFromInline let lanes: UnsafeRawPointer
    @usableFromInline let object: UnsafeRawPointer
    @usableFromInline let control: UnsafeRawPointer
    @usableFromInline let peerCountValue: Int32
    @usableFromInline let peerStrideValue: UInt16
    @usableFromInline let laneStrideValue: UInt16
    @usableFromInline let controlBytesValue: UInt16
    @usableFromInline let prioritiesValue: UInt8
    /// Where the timer queue (and its earliest entry), the control and heartbeat queues and the span
    /// are in the control block.
    @usableFromInline let timersOffset: UInt16
    @usableFromInline let nextTimerOffset: UInt16
    @usableFromInline let controlQueueOffset: UInt16
    @usableFromInline let heartbeatQueueOffset: UInt16
    @usableFromInline let spanOffset: UInt16

    @inlinable var peerCount: Int { Int(peerCountValue) }
    @inlinable var peerStride: Int { Int(peerStrideValue) }
    @inlinable var laneStride: Int { Int(laneStrideValue) }
    @inlinable var controlBytes: Int { Int(controlBytesValue) }
    @inlinable var priorities: Int { Int(prioritiesValue) }
    @inlinable var timers: UnsafePointer<TimerQueue> {
        (control + Int(timersOffset)).assumingMemoryBound(to: TimerQueue.self)
    }
    @inlinable var nextTimer: UnsafePointer<TimerEntry> {
        (control + Int(nextTimerOffset)).assumingMemoryBound(to: TimerEntry.self)
    }
    @inlinable var controlQueue: UnsafePointer<RawRing<Int32>> {
        (control + Int(controlQueueOffset)).assumingMemoryBound(to: RawRing<Int32>.self)
    }
    @inlinable var heartbeatQueue: UnsafePointer<RawRing<Int32>> {
        (control + Int(heartbeatQueueOffset)).assumingMemoryBound(to: RawRing<Int32>.self)
    }
    @inlinable var span: UnsafePointer<RawRing<Int32>> {
        (control + Int(spanOffset)).assumingMemoryBound(to: RawRing<Int32>.self)
    }

    @inlinable
    init(peers: UnsafeRawPointer, peerStride: Int, lanes: UnsafeRawPointer, laneStride: Int, priorities: Int,
         peerCount: Int, object: UnsafeRawPointer, control: UnsafeRawPointer, controlBytes: Int,
         timers: UnsafePointer<TimerQueue>, controlQueue: UnsafePointer<RawRing<Int32>>,
         heartbeatQueue: UnsafePointer<RawRing<Int32>>, span: UnsafePointer<RawRing<Int32>>) {
        func offset(_ p: UnsafeRawPointer) -> UInt16 { UInt16(p - control) }
        self.peers = peers
        self.lanes = lanes
        self.object = object
        self.control = control
        peerCountValue = Int32(peerCount)
        peerStrideValue = UInt16(peerStride)
        laneStrideValue = UInt16(laneStride)
        controlBytesValue = UInt16(controlBytes)
        prioritiesValue = UInt8(priorities)
        timersOffset = offset(UnsafeRawPointer(timers))
        nextTimerOffset = offset(UnsafeRawPointer(timers) + MemoryLayout<TimerQueue>.offset(of: \.next)!)
        controlQueueOffset = offset(UnsafeRawPointer(controlQueue))
        heartbeatQueueOffset = offset(UnsafeRawPointer(heartbeatQueue))
        spanOffset = offset(UnsafeRawPointer(span))
    }

    /// Starts loading the state a packet from `peer` touches: its peer record and its lanes.
    @inlinable @inline(__always)
    public func prefetch(peer: Int) {
        guard UInt(bitPattern: peer) < UInt(bitPattern: peerCount) else { return }
        let record = peers + peer &* peerStride
        MemoryHint.prefetch(record)
        MemoryHint.prefetch(record + 64)
        var lane = lanes + peer &* priorities &* laneStride
        for _ in 0 ..< priorities {
            prefetchLane(lane)
            lane += laneStride
        }
    }

    /// Starts loading a lane record (its feedback, its fields and its queues' positions: every line).
    @inlinable @inline(__always)
    func prefetchLane(_ lane: UnsafeRawPointer) {
        var offset = 0
        while offset < laneStride {
            MemoryHint.prefetch(lane + offset)
            offset += 64
        }
    }

    /// Starts loading what any call touches: the controller's queues, outbox and timers (the first
    /// step before `prefetch(pollAt:)`) and the header of the object that owns its memory.
    @inlinable @inline(__always)
    public func prefetchController() {
        MemoryHint.prefetch(object)
        var offset = 0
        while offset < controlBytes {
            MemoryHint.prefetch(control + offset)
            offset += 64
        }
    }

    /// Starts loading the peer or lane state of the controller's earliest timer if it is due at `now`,
    /// and of the peers at the heads of its control and heartbeat queues (what `poll(now:)` touches
    /// first). Reads those: call `prefetchController()` some time before.
    @inlinable @inline(__always)
    public func prefetch(pollAt now: UInt64) {
        if let peer = controlQueue.pointee.first { prefetch(peer: Int(peer)) }
        if let peer = heartbeatQueue.pointee.first { prefetch(peer: Int(peer)) }
        let next = nextTimer.pointee
        guard next.time <= now else { return }
        let index = Int(truncatingIfNeeded: next.code >> 3)
        guard let kind = TimerKind(rawValue: next.code & 7) else { return }
        // The timer's run (the entry after it becomes the head) and the runs it is re-armed into.
        TimerQueue.prefetchRuns(of: timers, popping: timers.pointee.nextSource, inserting: kind)
        switch kind as TimerKind? {
        case .heartbeat?:
            // The sweep's next step visits the first peers of the span. The span may be empty: an
            // entry superseded by an earlier step stays queued after the span has emptied.
            let ring = span.pointee
            for k in 0 ..< min(FlowControlConfig.heartbeatBurstFrames, ring.count) { prefetch(peer: Int(ring[k])) }
        case .ack?, .grantExpiry?, .grantRefresh?:
            prefetch(peer: index)
        case .laneWake?, .resend?, .nack?:
            guard UInt(bitPattern: index) < UInt(bitPattern: peerCount &* priorities) else { return }
            prefetchLane(lanes + index &* laneStride)
            MemoryHint.prefetch(peers + (index / priorities) &* peerStride)
        case nil:
            return
        }
    }
}

extension SIMD8 where Scalar == UInt16 {
    /// Sets lane `i` in registers (a compare and a blend). Written as `v[i] = x` with `i` not a
    /// constant, the compiler stores the vector to the stack, stores the lane into it and loads the
    /// vector back: a load that spans a narrower store just made cannot be forwarded and waits for it
    /// to retire, and perf put a third of `FlowController.makeHeader`'s time on those reloads.
    @inlinable @inline(__always)
    mutating func setLane(_ i: Int, to x: UInt16) {
        replace(with: x, where: Self(0, 1, 2, 3, 4, 5, 6, 7) .== Self(repeating: UInt16(truncatingIfNeeded: i)))
    }
}
