/// The controller's deadlines, taken in `TimerEntry` order (time, then code), exactly as from a single
/// priority queue.
///
/// Nearly every timer is set a fixed delay after the current time (acks, NACKs, resends, heartbeats,
/// grant expiry), so the deadlines of one kind mostly arrive already sorted. Each kind therefore has a
/// FIFO run that takes a deadline in O(1) when it sorts after the run's last entry; only the others
/// (lane wake-ups, deadlines set against an earlier time, a driver whose clock steps back) go to a
/// binary heap. Taking the next deadline compares the heads of the runs and the heap. A general heap
/// cost about as much per packet as the rest of the controller: thousands of armed timers, one push
/// and one pop per ack or resend timer, log2(n) levels each.
@usableFromInline
struct TimerQueue {
    @usableFromInline var heap: [TimerEntry] = []
    /// One run per `TimerKind`, indexed by its raw value.
    @usableFromInline var runs = [TimerRun](repeating: TimerRun(), count: TimerKind.allCases.count)
    /// The first entry of each run (`TimerEntry.none` when empty): what `findNext` compares, kept
    /// beside the runs so the scan reads one small array.
    @usableFromInline var heads = [TimerEntry](repeating: .none, count: TimerKind.allCases.count)
    /// The smallest entry of the heap and the runs (`.none` when there is none), and where it is: a
    /// run's index, or -1 for the heap.
    @usableFromInline var next = TimerEntry.none
    @usableFromInline var nextSource = -1

    @inlinable init() {}

    @inlinable var nextTime: UInt64? { next == .none ? nil : next.time }

    @inlinable
    mutating func insert(_ entry: TimerEntry) {
        let k = Int(entry.kind.rawValue)
        let inRun = runs.withUnsafeMutableBufferPointer { runs in
            guard runs[k].accepts(entry) else { return false }
            runs[k].append(entry)
            return true
        }
        if inRun {
            if runs[k].count == 1 { heads[k] = entry }
            if entry < next {
                next = entry
                nextSource = k
            }
        } else {
            heapPush(entry)
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
            heapPopMin()
        } else {
            let k = nextSource
            heads[k] = runs.withUnsafeMutableBufferPointer { $0[k].removeFirst() }
        }
        findNext()
        return entry
    }

    @inlinable
    mutating func findNext() {
        var best = heap.first ?? .none
        var source = -1
        for k in 0 ..< heads.count where heads[k] < best {
            best = heads[k]
            source = k
        }
        next = best
        nextSource = source
    }

    @inlinable
    mutating func heapPush(_ entry: TimerEntry) {
        heap.append(entry)
        heap.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                guard entry < h[parent] else { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = entry
        }
    }

    @inlinable
    mutating func heapPopMin() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap.withUnsafeMutableBufferPointer { h in
            let n = h.count
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
    }
}

/// A FIFO of deadlines in increasing order: a ring whose size is a power of two, so taking the first
/// entry never moves the others (a consumed prefix compacted by moving the rest cost a memmove of the
/// whole run every thousand entries), and it allocates only while it grows.
@usableFromInline
struct TimerRun {
    @usableFromInline var items: [TimerEntry] = []
    @usableFromInline var head = 0
    @usableFromInline var count = 0

    @inlinable init() {}

    @inlinable var isEmpty: Bool { count == 0 }

    /// True when `entry` keeps the run sorted.
    @inlinable func accepts(_ entry: TimerEntry) -> Bool {
        count == 0 || items[(head + count - 1) & (items.count - 1)] < entry
    }

    @inlinable mutating func append(_ entry: TimerEntry) {
        if count == items.count { grow() }
        let mask = items.count - 1
        let slot = (head + count) & mask
        count += 1
        items.withUnsafeMutableBufferPointer { $0[slot] = entry }
    }

    @usableFromInline mutating func grow() {
        var bigger = [TimerEntry](repeating: .none, count: max(16, 2 * items.count))
        for k in 0 ..< count { bigger[k] = items[(head + k) & (items.count - 1)] }
        items = bigger
        head = 0
    }

    /// Drops the first entry and returns the new first one (`TimerEntry.none` when the run is empty).
    @inlinable
    mutating func removeFirst() -> TimerEntry {
        count -= 1
        if count == 0 {
            head = 0
            return .none
        }
        head = (head + 1) & (items.count - 1)
        return items[head]
    }
}
