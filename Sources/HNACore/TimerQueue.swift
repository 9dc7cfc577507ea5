/// The controller's deadlines, taken in `TimerEntry` order (time, then code), exactly as from a single
/// priority queue.
///
/// Nearly every timer is set a fixed delay after the current time (acks, NACKs, resends, heartbeats,
/// grant expiry), so the deadlines of one kind mostly arrive already sorted. Each kind therefore has
/// FIFO runs that take a deadline in O(1) when it sorts after a run's last entry; only the others go
/// to a binary heap. Lane wake-ups get four runs, because the lanes that pace data each wake at their
/// own increasing times, which interleave; heartbeats need one (a single sweep timer, see
/// `FlowController.sweepHeartbeats`). Without extra runs about half of all deadlines at a thousand
/// peers went to a heap of several hundred entries. Taking the next deadline compares the heads of
/// the runs and the heap: the order is exactly a single priority queue's, whichever run or heap holds
/// an entry.
///
/// The queue lives in the controller's memory (`ControlBlock`) and is used in place: the heads, the
/// runs' positions and the heap's size are inline, next to `next`, so taking or adding a deadline
/// touches the queue's own lines and one line of the run or heap, with no array headers between.
/// `copy` and `release` manage the runs' and the heap's buffers.
@usableFromInline
struct TimerQueue {
    /// The smallest entry of the heap and the runs (`.none` when there is none), and where it is: a
    /// run's index, or -1 for the heap.
    @usableFromInline var next = TimerEntry.none
    @usableFromInline var nextSource = -1
    /// The first entry of each run (`TimerEntry.none` when empty): what `findNext` compares.
    @usableFromInline var heads: TimerSlots = TimerSlots()
    /// The runs (`runs(of:)` says which belong to a kind).
    @usableFromInline var runs: (TimerRun, TimerRun, TimerRun, TimerRun, TimerRun, TimerRun, TimerRun, TimerRun,
                                 TimerRun, TimerRun) =
        (TimerRun(), TimerRun(), TimerRun(), TimerRun(), TimerRun(), TimerRun(), TimerRun(), TimerRun(),
         TimerRun(), TimerRun())
    @usableFromInline var heap = TimerHeap()

    @usableFromInline static var runCount: Int { 10 }

    /// The runs of a kind: lane wake-ups four, the others one.
    @inlinable @inline(__always)
    static func runs(of kind: TimerKind) -> Range<Int> {
        switch kind {
        case .laneWake: return 0 ..< 4
        case .resend: return 4 ..< 5
        case .nack: return 5 ..< 6
        case .ack: return 6 ..< 7
        case .heartbeat: return 7 ..< 8
        case .grantExpiry: return 8 ..< 9
        case .grantRefresh: return 9 ..< 10
        }
    }

    @inlinable init() {}

    @inlinable var nextTime: UInt64? { next == .none ? nil : next.time }

    /// Runs `body` with the runs in place.
    @inlinable @inline(__always)
    mutating func withRuns<R>(_ body: (UnsafeMutablePointer<TimerRun>) -> R) -> R {
        withUnsafeMutablePointer(to: &runs) { $0.withMemoryRebound(to: TimerRun.self, capacity: Self.runCount, body) }
    }

    @inlinable
    mutating func insert(_ entry: TimerEntry) {
        let (k, first) = withRuns { runs -> (Int, Bool) in
            for k in Self.runs(of: entry.kind) where runs[k].accepts(entry) {
                runs[k].append(entry)
                return (k, runs[k].count == 1)
            }
            return (-1, false)
        }
        if k >= 0 {
            if first { heads[k] = entry }
            if entry < next {
                next = entry
                nextSource = k
            }
        } else {
            heap.push(entry)
            if entry < next {
                next = entry
                nextSource = -1
            }
        }
    }

    /// Removes and returns the next deadline if it is at or before `now`.
    @inlinable
    mutating func popDue(now: UInt64) -> TimerEntry? {
        let entry = next
        guard entry.time <= now, entry != .none else { return nil }
        if nextSource < 0 {
            heap.popMin()
        } else {
            let k = nextSource
            heads[k] = withRuns { $0[k].removeFirst() }
        }
        findNext()
        return entry
    }

    @inlinable
    mutating func findNext() {
        let first = heap.first
        // The scan keeps its best in registers (captured variables would live in memory).
        (next, nextSource) = heads.withEntries { heads -> (TimerEntry, Int) in
            var best = first
            var source = -1
            for k in 0 ..< Self.runCount {
                let e = heads[k]
                if e.time < best.time || (e.time == best.time && e.code < best.code) {
                    best = e
                    source = k
                }
            }
            return (best, source)
        }
    }

    /// Starts loading the entry that becomes run `source`'s head when its head is taken, and the
    /// slots the runs of `kind` append to next (memory hints: reads only this queue's own fields).
    @inlinable @inline(__always)
    static func prefetchRuns(of queue: UnsafePointer<TimerQueue>, popping source: Int, inserting kind: TimerKind) {
        let runs = (UnsafeRawPointer(queue) + MemoryLayout<TimerQueue>.offset(of: \.runs)!)
            .assumingMemoryBound(to: TimerRun.self)
        if source >= 0 && source < Self.runCount { runs[source].prefetch(offset: 1) }
        for k in Self.runs(of: kind) { runs[k].prefetch(offset: Int(runs[k].count)) }
    }

    /// A queue with its own buffers and the same entries.
    @usableFromInline
    func copy() -> TimerQueue {
        var q = self
        q.withRuns { runs in
            for k in 0 ..< Self.runCount { runs[k] = runs[k].copy() }
        }
        q.heap = heap.copy()
        return q
    }

    /// Frees the buffers; the queue must not be used afterwards.
    @usableFromInline
    mutating func release() {
        withRuns { runs in
            for k in 0 ..< Self.runCount { runs[k].release() }
        }
        heap.release()
    }
}

/// Ten timer entries inline (the heads of the runs).
@usableFromInline
struct TimerSlots {
    @usableFromInline var storage: (TimerEntry, TimerEntry, TimerEntry, TimerEntry, TimerEntry,
                                    TimerEntry, TimerEntry, TimerEntry, TimerEntry, TimerEntry) =
        (.none, .none, .none, .none, .none, .none, .none, .none, .none, .none)
    @usableFromInline static var count: Int { 10 }

    @inlinable init() {}

    /// Runs `body` with the entries in place (reading them through a copy of the tuple would copy all
    /// eight for each).
    @inlinable @inline(__always)
    mutating func withEntries<R>(_ body: (UnsafeMutablePointer<TimerEntry>) -> R) -> R {
        withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: TimerEntry.self, capacity: Self.count, body) }
    }

    @inlinable
    subscript(k: Int) -> TimerEntry {
        @inline(__always) get {
            precondition(k >= 0 && k < Self.count)
            return withUnsafePointer(to: storage) {
                $0.withMemoryRebound(to: TimerEntry.self, capacity: Self.count) { $0[k] }
            }
        }
        @inline(__always) set {
            precondition(k >= 0 && k < Self.count)
            withEntries { $0[k] = newValue }
        }
    }
}

/// A FIFO of deadlines in increasing order: a ring whose size is a power of two, so taking the first
/// entry never moves the others, and it allocates only while it grows (a run never used has no
/// buffer). Its buffer belongs to the `TimerQueue` (`copy`, `release`).
@usableFromInline
struct TimerRun {
    @usableFromInline var items: UnsafeMutablePointer<TimerEntry>?
    @usableFromInline var capacity: Int32 = 0
    @usableFromInline var head: Int32 = 0
    @usableFromInline var count: Int32 = 0

    @inlinable init() {}

    @inlinable var isEmpty: Bool { count == 0 }

    /// True when `entry` keeps the run sorted.
    @inlinable @inline(__always) func accepts(_ entry: TimerEntry) -> Bool {
        count == 0 || items![Int((head &+ count &- 1) & (capacity &- 1))] < entry
    }

    @inlinable @inline(__always) mutating func append(_ entry: TimerEntry) {
        if count == capacity { grow() }
        items![Int((head &+ count) & (capacity &- 1))] = entry
        count &+= 1
    }

    @usableFromInline mutating func grow() {
        let size = max(16, 2 * Int(capacity))
        let bigger = UnsafeMutablePointer<TimerEntry>.allocate(capacity: size)
        for k in 0 ..< Int(count) { bigger[k] = items![Int((head &+ Int32(k)) & (capacity &- 1))] }
        items?.deallocate()
        items = bigger
        capacity = Int32(size)
        head = 0
    }

    /// Drops the first entry and returns the new first one (`TimerEntry.none` when the run is empty).
    @inlinable
    mutating func removeFirst() -> TimerEntry {
        count &-= 1
        if count == 0 {
            head = 0
            return .none
        }
        head = (head &+ 1) & (capacity &- 1)
        return items![Int(head)]
    }

    /// Starts loading the slot `offset` places after the head.
    @inlinable @inline(__always)
    func prefetch(offset: Int) {
        guard let items, capacity > 0 else { return }
        MemoryHint.prefetch(UnsafeRawPointer(items + ((Int(head) &+ offset) & (Int(capacity) &- 1))))
    }

    @usableFromInline
    func copy() -> TimerRun {
        var r = TimerRun()
        guard let items else { return r }
        r.items = .allocate(capacity: Int(capacity))
        r.items!.update(from: items, count: Int(capacity))
        r.capacity = capacity
        r.head = head
        r.count = count
        return r
    }

    @usableFromInline
    mutating func release() {
        items?.deallocate()
        items = nil
        capacity = 0
        count = 0
    }
}

/// A binary min-heap of deadlines, its buffer belonging to the `TimerQueue` (`copy`, `release`).
@usableFromInline
struct TimerHeap {
    @usableFromInline var items: UnsafeMutablePointer<TimerEntry>?
    @usableFromInline var capacity = 0
    @usableFromInline var count = 0

    @inlinable init() {}

    /// The smallest entry (`.none` when empty).
    @inlinable var first: TimerEntry { count == 0 ? .none : items![0] }

    @inlinable
    mutating func push(_ entry: TimerEntry) {
        if count == capacity { grow() }
        let h = items!
        var i = count
        count += 1
        while i > 0 {
            let parent = (i - 1) >> 1
            guard entry < h[parent] else { break }
            h[i] = h[parent]
            i = parent
        }
        h[i] = entry
    }

    @inlinable
    mutating func popMin() {
        count -= 1
        let h = items!
        let n = count
        let last = h[n]
        guard n > 0 else { return }
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n, h[child + 1] < h[child] { child += 1 }
            guard h[child] < last else { break }
            h[i] = h[child]
            i = child
        }
        h[i] = last
    }

    @usableFromInline
    mutating func grow() {
        let size = max(16, 2 * capacity)
        let bigger = UnsafeMutablePointer<TimerEntry>.allocate(capacity: size)
        if let items {
            bigger.update(from: items, count: count)
            items.deallocate()
        }
        items = bigger
        capacity = size
    }

    @usableFromInline
    func copy() -> TimerHeap {
        var h = TimerHeap()
        guard let items else { return h }
        h.items = .allocate(capacity: capacity)
        h.items!.update(from: items, count: count)
        h.capacity = capacity
        h.count = count
        return h
    }

    @usableFromInline
    mutating func release() {
        items?.deallocate()
        items = nil
        capacity = 0
        count = 0
    }
}
