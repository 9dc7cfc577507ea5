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
        if runs[k].accepts(entry) {
            if runs[k].isEmpty { heads[k] = entry }
            runs[k].append(entry)
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
            heads[nextSource] = runs[nextSource].removeFirst()
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

/// A FIFO of deadlines in increasing order: an array consumed from `head`, compacted when it empties
/// or when the consumed prefix is large, so it allocates only while it grows.
@usableFromInline
struct TimerRun {
    @usableFromInline var items: [TimerEntry] = []
    /// Invariant: `head < items.count`, or both are 0.
    @usableFromInline var head = 0

    @inlinable init() {}

    @inlinable var isEmpty: Bool { items.isEmpty }

    /// True when `entry` keeps the run sorted.
    @inlinable func accepts(_ entry: TimerEntry) -> Bool { items.last.map { $0 < entry } ?? true }

    @inlinable mutating func append(_ entry: TimerEntry) { items.append(entry) }

    /// Drops the first entry and returns the new first one (`TimerEntry.none` when the run is empty).
    @inlinable
    mutating func removeFirst() -> TimerEntry {
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
            return .none
        }
        if head >= 1024, head * 2 >= items.count {
            items.removeSubrange(0 ..< head)
            head = 0
        }
        return items[head]
    }
}
