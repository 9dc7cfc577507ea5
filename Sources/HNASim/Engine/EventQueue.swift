import HNACore

/// The event queue: a calendar (timing wheel) of one-nanosecond buckets over the next `horizon`
/// nanoseconds, and a heap for events further out.
///
/// Events at the same nanosecond run in the order they were scheduled: a bucket is a FIFO, appended to
/// in scheduling order, and an event from the far heap (ordered by time, then scheduling order) enters
/// its bucket when the bucket's time comes into the wheel, before anything can be scheduled directly
/// into it. So a run is a pure function of its inputs, and the order is exactly (time, scheduling order)
/// with no wrap-around.
///
/// Why a wheel: a fabric of a thousand hosts has tens of events per simulated nanosecond and tens of
/// thousands pending; a heap's sift-down misses the cache at every level, and a pool of packets reached
/// by index misses once more per arrival. Here scheduling appends to a bucket a few microseconds ahead,
/// popping reads a bucket front to back, and an arrival carries its packet descriptor inside the event,
/// so the loop streams through memory. Buckets are chains of fixed-size chunks from one pool with a
/// LIFO free list: a chunk just consumed is the next one filled, while it is still in cache.

/// Virtual time in integer nanoseconds.
public typealias SimTime = UInt64

/// What an event does; the simulator switches on it (no closures or existentials in the loop).
public enum EventKind: UInt8, Sendable, CaseIterable {
    /// A packet (carried in the event) reaches the far end of the link in `index`.
    case arrive
    /// A host's NIC is free or its pacing/timer deadline has come: ask the host what to send.
    case hostWake
    /// A workload flow (index into the flow table) starts.
    case flowStart
    /// Periodic sampling of throughput and queues for the time series.
    case sample
}

/// One event: what happens and to what. 32 bytes, two to a cache line: an arrival carries its
/// packet's frame (the header waits in the run's `HeaderStore`); the other kinds leave the frame
/// empty. The time is the bucket's (`EventQueue.time` after `pop`).
public struct Event: Sendable {
    /// The arriving packet (`.arrive` only). First, so that `kind` and `index` fill its tail padding.
    public var frame: Frame
    public var kind: EventKind
    /// The host, flow or (for an arrival) link the event is about.
    public var index: UInt32

    /// The latest time an event can be scheduled for (about 4.9 hours); later times are clamped to it, so
    /// that no time arithmetic in the queue can overflow (nothing in a run lasts that long).
    public static let maxTime: SimTime = (1 << 44) - 1

    /// `EventQueue.copy` moves exactly this many bytes.
    static let copiedBytes = 32

    @inlinable
    public init(kind: EventKind, index: UInt32, frame: Frame) {
        self.kind = kind
        self.index = index
        self.frame = frame
    }
}

/// Releases the queue's memory. The queue keeps its raw pointers itself (reaching them through a class
/// would cost an exclusivity check per access); this object only frees them at the end.
@usableFromInline
final class EventMemory: @unchecked Sendable {
    @usableFromInline var pool: UnsafeMutablePointer<Event>
    @usableFromInline var chunkNext: UnsafeMutablePointer<Int32>
    @usableFromInline let buckets: UnsafeMutablePointer<EventQueue.Bucket>
    @usableFromInline let occupied: UnsafeMutablePointer<UInt64>

    @usableFromInline
    init(chunks: Int, buckets n: Int) {
        pool = .allocate(capacity: chunks * EventQueue.chunkEvents)
        chunkNext = .allocate(capacity: chunks)
        buckets = .allocate(capacity: n)
        buckets.initialize(repeating: EventQueue.Bucket(), count: n)
        occupied = .allocate(capacity: n / 64)
        occupied.initialize(repeating: 0, count: n / 64)
    }

    deinit {
        pool.deallocate()
        chunkNext.deallocate()
        buckets.deallocate()
        occupied.deallocate()
    }
}

/// The queue shares its memory with its copies: a simulation owns exactly one.
public struct EventQueue {
    /// Nanoseconds the wheel covers (a power of two). A packet's next hop is a link delay (1 µs by
    /// default) plus queueing ahead; HNA keeps queues short, so nearly every event lands in the wheel.
    public static let horizon = 1 << 14
    @usableFromInline static let mask = SimTime(horizon - 1)
    /// Events per chunk.
    @usableFromInline static let chunkEvents = 8

    @usableFromInline
    struct Bucket {
        @usableFromInline var head: Int32 = -1
        @usableFromInline var tail: Int32 = -1
        /// Events in the tail chunk (every other chunk of the bucket is full).
        @usableFromInline var tailCount: Int32 = 0
        @inlinable init() {}
    }

    /// An event beyond the wheel, ordered by time and then by scheduling order.
    @usableFromInline
    struct Far {
        @usableFromInline var time: SimTime
        @usableFromInline var order: UInt64
        @usableFromInline var event: Event

        @inlinable init(time: SimTime, order: UInt64, event: Event) {
            self.time = time
            self.order = order
            self.event = event
        }

        @inlinable @inline(__always)
        func precedes(_ other: Far) -> Bool { time != other.time ? time < other.time : order < other.order }
    }

    @usableFromInline let memory: EventMemory
    @usableFromInline var pool: UnsafeMutablePointer<Event>
    @usableFromInline var chunkNext: UnsafeMutablePointer<Int32>
    @usableFromInline let buckets: UnsafeMutablePointer<Bucket>
    @usableFromInline let occupied: UnsafeMutablePointer<UInt64>
    @usableFromInline var chunkCapacity: Int
    /// Chunks never used yet start here; freed ones are on the `freeChunk` list.
    @usableFromInline var unusedChunk: Int32 = 0
    @usableFromInline var freeChunk: Int32 = -1
    /// The wheel's time: its buckets hold times `base ..< base + horizon`.
    @usableFromInline var base: SimTime = 0
    /// Where `pop` reads in the bucket of `base` (-1: not started).
    @usableFromInline var readChunk: Int32 = -1
    @usableFromInline var readIndex: Int32 = 0
    /// Events `readChunk` held when last looked at (it may gain more at the same time later).
    @usableFromInline var readLimit: Int32 = 0
    @usableFromInline var far: [Far] = []
    @usableFromInline var farOrder: UInt64 = 0
    @usableFromInline var pending = 0
    /// How far ahead of the current time most events are scheduled (the fabric's link delay): when
    /// the wheel moves on, it starts loading the bucket headers there, which were last touched a
    /// revolution ago, and it loads each bucket's events as it reaches them. 0: no prefetching (a
    /// small fabric's events and headers stay in cache).
    public var typicalDelay: SimTime = 0
    /// The time up to which bucket headers were prefetched (`prefetchHeaders`).
    @usableFromInline var headersPrefetched: SimTime = 0
    /// Events popped so far (the engine's work counter).
    @usableFromInline var processedCount: UInt64 = 0
    public var processed: UInt64 { processedCount }

    public init(capacity: Int = 1024) {
        precondition(MemoryLayout<Event>.size == Event.copiedBytes && MemoryLayout<Event>.stride == Event.copiedBytes,
                     "EventQueue.copy moves an event of 32 bytes")
        let chunks = max(64, (capacity + Self.chunkEvents - 1) / Self.chunkEvents)
        memory = EventMemory(chunks: chunks, buckets: Self.horizon)
        pool = memory.pool
        chunkNext = memory.chunkNext
        buckets = memory.buckets
        occupied = memory.occupied
        chunkCapacity = chunks
    }

    @inlinable public var count: Int { pending }
    @inlinable public var isEmpty: Bool { pending == 0 }
    /// Time of the event `pop` returned last.
    @inlinable public var time: SimTime { base }

    /// Time of the earliest event, if any. Moves the wheel up to it (nothing may be scheduled before it
    /// afterwards).
    @inlinable
    public mutating func nextTime() -> SimTime? {
        if readChunk >= 0 && hasUnread() { return base }
        return pending > 0 ? peekAdvance() : nil
    }

    /// Schedules an event that carries no packet. Times before the current time run at the current
    /// time, after what is already due then; times after `Event.maxTime` run then.
    @inlinable
    public mutating func schedule(_ kind: EventKind, at time: SimTime, index: UInt32) {
        insert(Event(kind: kind, index: index, frame: Frame.none), at: time)
    }

    /// Schedules the arrival of the packet `frame` at the far end of `link`.
    @inlinable @inline(__always)
    public mutating func schedule(arrivalOf frame: Frame, on link: Int32, at time: SimTime) {
        let e = Event(kind: .arrive, index: UInt32(bitPattern: link), frame: frame)
        if let s = slot(at: time) { s.initialize(to: e) } else { insert(e, at: time) }
    }

    @inlinable
    mutating func insert(_ e: Event, at requested: SimTime) {
        pending += 1
        let t = max(min(requested, Event.maxTime), base)
        if t - base < SimTime(Self.horizon) {
            append(e, bucket: Int(t & Self.mask))
        } else {
            farPush(Far(time: t, order: farOrder, event: e))
            farOrder &+= 1
        }
    }

    /// Where the event for time `requested` goes: its bucket's next slot (uninitialised), or nil when
    /// the time is beyond the wheel (then `insert` takes it). The caller writes the event into the slot
    /// at once. Writing it there field by field, instead of building it on the stack and copying it,
    /// avoids a store-forwarding stall: a copy reads the fresh narrow stores back with wide loads,
    /// which wait for the stores to retire (perf put three fifths of `insert`'s samples, 13% of a
    /// 1,024-host run, on those loads).
    @inlinable @inline(__always)
    mutating func slot(at requested: SimTime) -> UnsafeMutablePointer<Event>? {
        let t = max(min(requested, Event.maxTime), base)
        guard t - base < SimTime(Self.horizon) else { return nil }
        pending += 1
        return reserve(bucket: Int(t & Self.mask))
    }

    @inlinable @inline(__always)
    mutating func append(_ e: Event, bucket b: Int) {
        reserve(bucket: b).initialize(to: e)
    }

    /// The next slot of bucket `b`, counted as taken.
    @inlinable @inline(__always)
    mutating func reserve(bucket b: Int) -> UnsafeMutablePointer<Event> {
        let bucket = buckets + b
        var tail = bucket.pointee.tail
        var n = bucket.pointee.tailCount
        if tail < 0 || n == Int32(Self.chunkEvents) {
            let c = takeChunk()
            chunkNext[Int(c)] = -1
            if tail < 0 {
                bucket.pointee.head = c
                occupied[b >> 6] |= 1 << UInt64(b & 63)
            } else {
                chunkNext[Int(tail)] = c
            }
            tail = c
            bucket.pointee.tail = c
            n = 0
        }
        bucket.pointee.tailCount = n + 1
        return pool + (Int(tail) * Self.chunkEvents + Int(n))
    }

    @inlinable @inline(__always)
    mutating func takeChunk() -> Int32 {
        if freeChunk >= 0 {
            let c = freeChunk
            freeChunk = chunkNext[Int(c)]
            return c
        }
        if Int(unusedChunk) == chunkCapacity { grow() }
        let c = unusedChunk
        unusedChunk += 1
        return c
    }

    @inlinable @inline(__always)
    mutating func releaseChunk(_ c: Int32) {
        chunkNext[Int(c)] = freeChunk
        freeChunk = c
    }

    @usableFromInline
    mutating func grow() {
        let chunks = chunkCapacity * 2
        let newPool = UnsafeMutablePointer<Event>.allocate(capacity: chunks * Self.chunkEvents)
        newPool.moveInitialize(from: pool, count: chunkCapacity * Self.chunkEvents)
        let newNext = UnsafeMutablePointer<Int32>.allocate(capacity: chunks)
        newNext.moveInitialize(from: chunkNext, count: chunkCapacity)
        pool.deallocate()
        chunkNext.deallocate()
        pool = newPool
        chunkNext = newNext
        memory.pool = newPool
        memory.chunkNext = newNext
        chunkCapacity = chunks
    }

    /// True when the bucket of `base` has events `pop` has not returned (`readChunk` must be set).
    @inlinable @inline(__always)
    func hasUnread() -> Bool {
        let bucket = buckets[Int(base & Self.mask)]
        return readChunk != bucket.tail || readIndex < bucket.tailCount
    }

    /// Moves to the next event if it is due at or before `end` (then `current` is it and `time` its
    /// time), as `pop` would return it; false when there is none. The event loop reads the event in
    /// place instead of copying it out.
    @inlinable @inline(__always)
    public mutating func advance(until end: SimTime) -> Bool {
        if readChunk >= 0 && readIndex < readLimit {
            readIndex &+= 1
            pending &-= 1
            processedCount &+= 1
            return true
        }
        return advanceSlowly(until: end)
    }

    @usableFromInline
    mutating func advanceSlowly(until end: SimTime) -> Bool {
        while true {
            if readChunk >= 0 {
                let b = Int(base & Self.mask)
                let tail = buckets[b].tail
                readLimit = readChunk == tail ? buckets[b].tailCount : Int32(Self.chunkEvents)
                if readIndex < readLimit {
                    readIndex &+= 1
                    pending &-= 1
                    processedCount &+= 1
                    return true
                }
                let done = readChunk
                if done != tail {
                    readChunk = chunkNext[Int(done)]
                    readIndex = 0
                    buckets[b].head = readChunk
                    releaseChunk(done)
                    if typicalDelay > 0 { prefetchNextChunk() }
                    continue
                }
                releaseChunk(done)
                buckets[b] = Bucket()
                occupied[b >> 6] &= ~(1 << UInt64(b & 63))
                readChunk = -1
            }
            if pending == 0 { return false }
            let d = nextOccupied()
            if (d.map { base + SimTime($0) } ?? far[0].time) > end { return false }
            _ = peekAdvance(distance: d)
            if typicalDelay > 0 {
                prefetchChunk(readChunk)
                prefetchNextChunk()
                prefetchHeaders()
            }
        }
    }

    /// Starts loading a chunk's events (written a microsecond or more ago, so out of the nearer
    /// caches): the loop reads them one after the other, and a chunk is 4 lines of which only the
    /// first would otherwise miss... and then each of the others, chunks being scattered.
    @inlinable @inline(__always)
    func prefetchChunk(_ c: Int32) {
        guard c >= 0 else { return }
        let start = UnsafeRawPointer(pool + Int(c) * Self.chunkEvents)
        var offset = 0
        while offset < Self.chunkEvents * MemoryLayout<Event>.stride {
            MemoryHint.prefetch(start + offset)
            offset += 64
        }
    }

    /// Starts loading the bucket headers that scheduling will first touch soon: most events go a link
    /// delay ahead, plus serialisation and a little queueing (about 160 ns at 100 Gb/s), so the
    /// headers of that window's front, last touched a revolution of the wheel ago, are loaded as the
    /// wheel moves (each line of headers once).
    @inlinable @inline(__always)
    mutating func prefetchHeaders() {
        let end = base &+ typicalDelay &+ 192
        var t = max(headersPrefetched, base &+ typicalDelay)
        while t < end {
            MemoryHint.prefetch(UnsafeRawPointer(buckets + Int(t & Self.mask)))
            t &+= 5
        }
        headersPrefetched = t
    }

    /// Starts loading the chunk after the one being read, if the bucket has one.
    @inlinable @inline(__always)
    func prefetchNextChunk() {
        if readChunk >= 0 && readChunk != buckets[Int(base & Self.mask)].tail {
            prefetchChunk(chunkNext[Int(readChunk)])
        }
    }

    /// The `k`-th event after the current one if it is in the same bucket (at the same time): what
    /// the loop prefetches for.
    @inlinable @inline(__always)
    func peek(_ k: Int) -> UnsafePointer<Event>? {
        guard readChunk >= 0 else { return nil }
        let bucket = buckets[Int(base & Self.mask)]
        var chunk = readChunk
        var index = Int(readIndex) + k - 1
        while index >= Self.chunkEvents {
            if chunk == bucket.tail { return nil }
            chunk = chunkNext[Int(chunk)]
            index -= Self.chunkEvents
        }
        if chunk == bucket.tail && index >= Int(bucket.tailCount) { return nil }
        return UnsafePointer(pool + (Int(chunk) * Self.chunkEvents + index))
    }

    /// The event `advance` moved to, in place (valid until the next `advance` or `pop`).
    @inlinable
    public var current: UnsafeMutablePointer<Event> {
        @inline(__always) get { pool + (Int(readChunk) * Self.chunkEvents + Int(readIndex) - 1) }
    }

    /// Schedules the current event (an arrival) again, as the arrival of its packet at the far end of
    /// `link` at `time`, with congestion experienced set if `ce`: a switch forwarding a packet.
    @inlinable @inline(__always)
    public mutating func rescheduleCurrent(on link: Int32, at time: SimTime, ce: Bool) {
        guard let e = slot(at: time) else {
            var copy = current.pointee
            copy.index = UInt32(bitPattern: link)
            if ce { copy.frame.ce = true }
            insert(copy, at: time)
            return
        }
        // Copied as it is, then changed in place (see `slot`). `current` only now: taking the slot may
        // have grown (moved) the pool.
        Self.copy(current, to: e)
        e.pointee.index = UInt32(bitPattern: link)
        if ce { e.pointee.frame.ce = true }
    }

    /// Copies an event in two 16-byte words. `initialize(to:)` of one slot from another becomes a
    /// call to `memcpy`, as does a loop over the words (LLVM recognises it), and the call costs as
    /// much as the hop's routing.
    @inlinable @inline(__always)
    static func copy(_ from: UnsafePointer<Event>, to: UnsafeMutablePointer<Event>) {
        let src = UnsafeRawPointer(from), dst = UnsafeMutableRawPointer(to)
        typealias Word = SIMD2<UInt64>
        let a = src.loadUnaligned(as: Word.self)
        let b = src.loadUnaligned(fromByteOffset: 16, as: Word.self)
        dst.storeBytes(of: a, as: Word.self)
        dst.storeBytes(of: b, toByteOffset: 16, as: Word.self)
    }

    @inlinable
    public mutating func pop() -> Event? {
        while true {
            if readChunk >= 0 {
                let b = Int(base & Self.mask)
                let tail = buckets[b].tail
                let limit = readChunk == tail ? buckets[b].tailCount : Int32(Self.chunkEvents)
                if readIndex < limit {
                    let e = pool[Int(readChunk) * Self.chunkEvents + Int(readIndex)]
                    readIndex += 1
                    pending -= 1
                    processedCount &+= 1
                    return e
                }
                let done = readChunk
                if done != tail {
                    // On to the bucket's next chunk; the consumed one is reused first.
                    readChunk = chunkNext[Int(done)]
                    readIndex = 0
                    readLimit = 0
                    buckets[b].head = readChunk
                    releaseChunk(done)
                    continue
                }
                releaseChunk(done)
                buckets[b] = Bucket()
                occupied[b >> 6] &= ~(1 << UInt64(b & 63))
                readChunk = -1
            }
            if pending == 0 { return nil }
            _ = peekAdvance()
        }
    }

    /// Moves `base` to the earliest pending event's time, brings the far events that come into the
    /// wheel into their buckets, and starts reading that bucket. The current bucket must be consumed
    /// (or never started) and an event must be pending.
    @usableFromInline
    mutating func peekAdvance() -> SimTime {
        if readChunk >= 0 {
            // Started and not consumed: `nextTime` checked there is nothing unread, so nothing is here.
            let b = Int(base & Self.mask)
            releaseChunk(readChunk)
            buckets[b] = Bucket()
            occupied[b >> 6] &= ~(1 << UInt64(b & 63))
            readChunk = -1
        }
        return peekAdvance(distance: nextOccupied())
    }

    /// `peekAdvance` once the current bucket is released, `distance` being `nextOccupied()`.
    @usableFromInline
    mutating func peekAdvance(distance: Int?) -> SimTime {
        if let d = distance {
            base += SimTime(d)
        } else {
            base = far[0].time
        }
        let end = base + SimTime(Self.horizon)
        while let first = far.first, first.time < end {
            let f = farPop()
            append(f.event, bucket: Int(f.time & Self.mask))
        }
        let b = Int(base & Self.mask)
        readChunk = buckets[b].head
        readIndex = 0
        readLimit = 0
        return base
    }

    /// Distance from `base` to the first occupied bucket (at or after it, within the wheel).
    @inlinable
    func nextOccupied() -> Int? {
        let words = Self.horizon / 64
        let start = Int(base & Self.mask)
        var w = start >> 6
        var bits = occupied[w] & (~0 << UInt64(start & 63))
        for step in 0 ... words {
            if bits != 0 {
                let b = w << 6 | bits.trailingZeroBitCount
                return (b - start) & (Self.horizon - 1)
            }
            if step == words { break }
            w = (w + 1) & (words - 1)
            bits = occupied[w]
            if w == start >> 6 { bits &= (1 << UInt64(start & 63)) &- 1 }
        }
        return nil
    }

    /// Distance from `base` to the first occupied bucket at `base + from` or later within the wheel.
    @inlinable
    func occupiedDistance(from: Int) -> Int? {
        guard from >= 0, from < Self.horizon else { return nil }
        var slot = (Int(base & Self.mask) + from) & (Self.horizon - 1)
        var remaining = Self.horizon - from
        while remaining > 0 {
            let bit = slot & 63
            let span = min(64 - bit, remaining)
            var bits = occupied[slot >> 6] >> UInt64(bit)
            if span < 64 { bits &= (1 << UInt64(span)) &- 1 }
            if bits != 0 { return Self.horizon - remaining + bits.trailingZeroBitCount }
            remaining -= span
            slot = (slot + span) & (Self.horizon - 1)
        }
        return nil
    }

    /// Calls `body` with each event of the bucket `distance` nanoseconds after `base` (at most
    /// `limit`), in order, in place: what the loop prefetches for a bucket ahead.
    @inlinable @inline(__always)
    func forEachEvent(atDistance distance: Int, limit: Int, _ body: (UnsafePointer<Event>) -> Void) {
        let bucket = buckets[Int((base &+ SimTime(distance)) & Self.mask)]
        var chunk = bucket.head
        var left = limit
        while chunk >= 0 && left > 0 {
            let n = min(chunk == bucket.tail ? Int(bucket.tailCount) : Self.chunkEvents, left)
            let first = pool + Int(chunk) * Self.chunkEvents
            for i in 0 ..< n { body(UnsafePointer(first + i)) }
            left -= n
            if chunk == bucket.tail { break }
            chunk = chunkNext[Int(chunk)]
        }
    }

    /// Starts loading the events of the bucket `distance` nanoseconds after `base` (at most `limit`
    /// chunks).
    @inlinable @inline(__always)
    func prefetchEvents(atDistance distance: Int, chunks limit: Int) {
        let bucket = buckets[Int((base &+ SimTime(distance)) & Self.mask)]
        var chunk = bucket.head
        var left = limit
        while chunk >= 0 && left > 0 {
            prefetchChunk(chunk)
            left -= 1
            if chunk == bucket.tail { break }
            chunk = chunkNext[Int(chunk)]
        }
    }

    @inlinable
    mutating func farPush(_ e: Far) {
        far.append(e)
        far.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if !e.precedes(h[parent]) { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = e
        }
    }

    @inlinable
    mutating func farPop() -> Far {
        let top = far[0]
        let last = far.removeLast()
        if far.isEmpty { return top }
        far.withUnsafeMutableBufferPointer { h in
            let n = h.count
            var i = 0
            while true {
                var child = 2 * i + 1
                if child >= n { break }
                if child + 1 < n, h[child + 1].precedes(h[child]) { child += 1 }
                if !h[child].precedes(last) { break }
                h[i] = h[child]
                i = child
            }
            h[i] = last
        }
        return top
    }
}
