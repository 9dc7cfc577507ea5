import HNACore
import HNAWire

/// The boundary between the simulator and what runs in a host. The simulator owns the fabric, time and
/// the application (flows); a host owns everything an HNA (or a baseline NIC) does: queues, scheduling,
/// rates, reliability. HNA's host wraps the real communications controller of HNACore; the baselines
/// wrap the same controller with its flow control replaced, so every scheme shares one reliability
/// path and differs only in how it decides rates.
///
/// The simulator is generic over its host type, so calls are static and inlinable: no existentials in
/// the event loop.
public protocol SimHost {
    /// Hands one application packet of `payloadBytes` for `dst` to the host. False when the host refuses
    /// it (the application keeps it and retries later).
    mutating func enqueue(dst: Int, flow: Int32, payloadBytes: Int, now: SimTime) -> Bool

    /// Bytes queued towards `dst` (the application keeps each pair topped up to a target).
    func queuedBytes(to dst: Int) -> Int

    /// A packet from the fabric.
    mutating func receive(_ packet: Packet, now: SimTime, io: inout HostIO)

    /// Runs timers and sends what the host may send now.
    mutating func poll(now: SimTime, io: inout HostIO)

    /// When `poll` must run next (nil for nothing pending). Mutating, though it changes nothing: the
    /// loop reaches a host through a pointer, and a non-mutating call that is not inlined gets a copy
    /// of the whole host (a kilobyte for an HNA host) as its `self`; `@inline(__always)` alone did not
    /// keep the compiler from making that call.
    var nextDeadline: SimTime? { mutating get }

    /// What the host counted (drops by reason, retransmissions, ...).
    var stats: HostStats { get }

    /// Where the host's controller keeps its state, for memory hints only (nil: no hints). The loop
    /// prefetches what the next few events will touch; the host must not be copied after it is taken.
    var prefetcher: FlowPrefetcher? { get }
}

extension SimHost {
    /// No hints by default.
    public var prefetcher: FlowPrefetcher? { nil }
}

/// Where a host puts what it does during one call; the simulator drains it after each call, so its
/// arrays keep their capacity and nothing is allocated per packet.
public struct HostIO: Sendable {
    /// Packets to put on the host's link, in order.
    public var sends = RawList<Packet>()
    /// Application bytes handed up in order: (flow, bytes).
    public var deliveries = RawList<Delivery>()
    /// NACK lists of packets in flight (`SimHeader.nackSlot`), shared by all hosts of a run.
    public private(set) var nackTable: [[HNANack]] = []
    var freeNackSlots: [Int32] = []

    public init() {}

    /// Stores a packet's NACKs until its receiver takes them.
    public mutating func storeNacks(_ nacks: [HNANack]) -> Int32 {
        if let slot = freeNackSlots.popLast() {
            nackTable[Int(slot)] = nacks
            return slot
        }
        nackTable.append(nacks)
        return Int32(nackTable.count - 1)
    }

    /// Takes a packet's NACKs (the slot is free again).
    public mutating func takeNacks(_ slot: Int32) -> [HNANack] {
        guard slot >= 0 else { return [] }
        let n = nackTable[Int(slot)]
        nackTable[Int(slot)] = []
        freeNackSlots.append(slot)
        return n
    }
}

/// Application bytes a host hands up, in order per flow.
public struct Delivery: Sendable, BitwiseCopyable {
    public var flow: Int32
    public var bytes: Int32

    @inlinable
    public init(flow: Int32, bytes: Int32) {
        self.flow = flow
        self.bytes = bytes
    }
}

/// Host counters the simulator reports. Ingress drops are packets a host refused at its own edge (not
/// the fabric's); the rest explain how reliability recovered what the fabric lost.
public struct HostStats: Sendable, Equatable {
    public var ingressDrops = 0
    public var retransmissions = 0
    public var reorderOverflows = 0
    public var duplicates = 0
    public var heartbeats = 0

    public init() {}

    public static func + (a: HostStats, b: HostStats) -> HostStats {
        var s = a
        s.ingressDrops += b.ingressDrops
        s.retransmissions += b.retransmissions
        s.reorderOverflows += b.reorderOverflows
        s.duplicates += b.duplicates
        s.heartbeats += b.heartbeats
        return s
    }
}
