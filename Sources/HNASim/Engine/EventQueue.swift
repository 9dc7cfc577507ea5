/// The event queue: a 4-ary min-heap of small value events keyed by (time, sequence). The sequence
/// number is the order of scheduling, so events at the same nanosecond run in the order they were
/// scheduled and a run is reproducible exactly. A 4-ary heap halves the depth of a binary one and keeps
/// a node's children in one cache line.

/// Virtual time in integer nanoseconds.
public typealias SimTime = UInt64

/// What an event does; the simulator switches on it (no closures or existentials in the loop).
public enum EventKind: UInt8, Sendable {
    /// A packet (index into the packet pool) reaches the node recorded in the packet.
    case arrive
    /// A host's NIC is free or its pacing/timer deadline has come: ask the host what to send.
    case hostWake
    /// A workload flow (index into the flow table) starts.
    case flowStart
    /// Periodic sampling of throughput and queues for the time series.
    case sample
}

/// 16 bytes: the time and the scheduling order packed in one key, so the heap compares one word.
public struct Event: Sendable {
    /// time << 20 | (sequence mod 2^20): time first, then the order of scheduling. Sequence numbers
    /// wrap after a million events, so two events at the same nanosecond scheduled a million events apart
    /// may run out of scheduling order; the order is still a pure function of the run, so runs stay
    /// reproducible.
    public var key: UInt64
    public var index: UInt32
    public var kind: EventKind

    public static let sequenceBits: UInt64 = 20
    /// The latest time the key can hold (about 4.9 hours).
    public static let maxTime: SimTime = (1 << (64 - sequenceBits)) - 1

    @inlinable
    public init(time: SimTime, sequence: UInt64, kind: EventKind, index: UInt32) {
        key = time << Self.sequenceBits | (sequence & ((1 << Self.sequenceBits) - 1))
        self.kind = kind
        self.index = index
    }

    @inlinable public var time: SimTime { key >> Self.sequenceBits }

    @inlinable @inline(__always)
    func precedes(_ other: Event) -> Bool { key < other.key }
}

public struct EventQueue: Sendable {
    @usableFromInline var heap: [Event] = []
    @usableFromInline var nextSequence: UInt64 = 0
    /// Events popped so far (the engine's work counter).
    @usableFromInline var processedCount: UInt64 = 0
    public var processed: UInt64 { processedCount }

    public init(capacity: Int = 1024) { heap.reserveCapacity(capacity) }

    @inlinable public var count: Int { heap.count }
    @inlinable public var isEmpty: Bool { heap.isEmpty }
    /// Time of the earliest event, if any.
    @inlinable public var nextTime: SimTime? { heap.first?.time }

    /// Times beyond `Event.maxTime` are clamped to it (nothing in a run lasts that long).

    @inlinable
    public mutating func schedule(_ kind: EventKind, at time: SimTime, index: UInt32) {
        let e = Event(time: min(time, Event.maxTime), sequence: nextSequence, kind: kind, index: index)
        nextSequence &+= 1
        heap.append(e)
        siftUp(heap.count - 1)
    }

    @inlinable
    public mutating func pop() -> Event? {
        guard let top = heap.first else { return nil }
        processedCount &+= 1
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap.withUnsafeMutableBufferPointer { h in
                Self.siftDown(h, from: 0, moving: last)
            }
        }
        return top
    }

    @inlinable
    mutating func siftUp(_ start: Int) {
        heap.withUnsafeMutableBufferPointer { h in
            var i = start
            let e = h[i]
            while i > 0 {
                let parent = (i - 1) >> 2
                let p = h[parent]
                if !e.precedes(p) { break }
                h[i] = p
                i = parent
            }
            h[i] = e
        }
    }

    @inlinable
    static func siftDown(_ h: UnsafeMutableBufferPointer<Event>, from start: Int, moving e: Event) {
        let n = h.count
        var i = start
        while true {
            let first = 4 * i + 1
            if first >= n { break }
            var best = first
            var bestEvent = h[first]
            let end = min(first + 4, n)
            var c = first + 1
            while c < end {
                let ce = h[c]
                if ce.precedes(bestEvent) { best = c; bestEvent = ce }
                c += 1
            }
            if !bestEvent.precedes(e) { break }
            h[i] = bestEvent
            i = best
        }
        h[i] = e
    }
}
