import HNAWire

/// Where the controller keeps its per-peer and per-lane records: one block of memory per kind, aligned
/// to cache lines, reached through raw pointers the controller holds inline.
///
/// Why not arrays: a controller with a thousand peers keeps a few hundred kilobytes of per-peer state,
/// and a host of a large fabric touches a different peer on nearly every packet, so each access misses
/// the caches. An array adds a dependent load of its buffer header (and a uniqueness check on every
/// write) in front of each element; separate arrays per field group put one peer's state on many
/// lines. Here a peer's hot state is one 64-byte line (`Peer`), and a lane's feedback and the lane
/// fields a header touches share one line with it in a 128-byte record (`PairFeedback` then `Lane`).
///
/// The controller stays a value: the memory object is shared between copies and copied on the first
/// mutation of a copy (`FlowController.makeUnique`).
@usableFromInline
final class ControllerMemory<Payload> {
    @usableFromInline let peerCount: Int
    @usableFromInline let laneCount: Int
    @usableFromInline let profileCount: Int
    @usableFromInline let peerBlock: UnsafeMutableRawPointer
    @usableFromInline let laneBlock: UnsafeMutableRawPointer
    @usableFromInline let profileBlock: UnsafeMutableRawPointer
    @usableFromInline let control: UnsafeMutablePointer<ControlBlock<Payload>>
    /// Per priority, the round robin of lanes that may send (`FlowController.eligible`).
    @usableFromInline let eligibleCount: Int
    @usableFromInline let eligibleBlock: UnsafeMutablePointer<RawRing<Int32>>

    @usableFromInline static var lineBytes: Int { 64 }
    @usableFromInline static var peerStride: Int { roundUp(MemoryLayout<Peer>.size, lineBytes) }
    /// A lane record: its `PairFeedback`, then its `Lane`.
    @usableFromInline static var laneOffset: Int {
        roundUp(MemoryLayout<PairFeedback>.size, MemoryLayout<Lane<Payload>>.alignment)
    }
    @usableFromInline static var laneStride: Int {
        roundUp(laneOffset + MemoryLayout<Lane<Payload>>.size, lineBytes)
    }
    @usableFromInline static var profileStride: Int { MemoryLayout<PeerProfile>.stride }

    @usableFromInline static func roundUp(_ n: Int, _ to: Int) -> Int { (n + to - 1) / to * to }

    /// Takes the records; `peers[i].profile` indexes `profiles`. With no `control` and `eligible`,
    /// starts them empty (one round robin per priority).
    @usableFromInline
    init(peers: [Peer], lanes: [Lane<Payload>], feedback: [PairFeedback], profiles: [PeerProfile], priorities: Int,
         control: ControlBlock<Payload>? = nil, eligible: [RawRing<Int32>]? = nil) {
        precondition(lanes.count == feedback.count)
        precondition(eligible.map { $0.count == priorities } ?? true)
        peerCount = peers.count
        laneCount = lanes.count
        profileCount = profiles.count
        peerBlock = .allocate(byteCount: max(1, peers.count) * Self.peerStride, alignment: Self.lineBytes)
        laneBlock = .allocate(byteCount: max(1, lanes.count) * Self.laneStride, alignment: Self.lineBytes)
        profileBlock = .allocate(byteCount: max(1, profiles.count) * Self.profileStride, alignment: Self.lineBytes)
        self.control = .allocate(capacity: 1)
        self.control.initialize(to: control ?? ControlBlock())
        eligibleCount = priorities
        eligibleBlock = .allocate(capacity: priorities)
        for p in 0 ..< priorities { (eligibleBlock + p).initialize(to: eligible?[p] ?? RawRing()) }
        for (i, p) in peers.enumerated() { self.peers.address(i).initialize(to: p) }
        for i in lanes.indices {
            self.feedback.address(i).initialize(to: feedback[i])
            self.lanes.address(i).initialize(to: lanes[i])
        }
        for (i, p) in profiles.enumerated() { self.profiles.address(i).initialize(to: p) }
    }

    /// A copy with its own records (the deques and arrays inside them are shared until written, as
    /// values are).
    @usableFromInline
    func copy() -> ControllerMemory {
        ControllerMemory(peers: (0 ..< peerCount).map { peers[$0] }, lanes: (0 ..< laneCount).map { lanes[$0].copy() },
                         feedback: (0 ..< laneCount).map { feedback[$0] },
                         profiles: (0 ..< profileCount).map { profiles[$0] }, priorities: eligibleCount,
                         control: control.pointee.copy(), eligible: (0 ..< eligibleCount).map { eligibleBlock[$0].copy() })
    }

    @usableFromInline var peers: RecordTable<Peer> { RecordTable(peerBlock, stride: Self.peerStride, count: peerCount) }
    @usableFromInline var feedback: RecordTable<PairFeedback> {
        RecordTable(laneBlock, stride: Self.laneStride, count: laneCount)
    }
    @usableFromInline var lanes: RecordTable<Lane<Payload>> {
        RecordTable(laneBlock + Self.laneOffset, stride: Self.laneStride, count: laneCount)
    }
    @usableFromInline var profiles: RecordTable<PeerProfile> {
        RecordTable(profileBlock, stride: Self.profileStride, count: profileCount)
    }
    @usableFromInline var eligible: RecordTable<RawRing<Int32>> {
        RecordTable(UnsafeMutableRawPointer(eligibleBlock), stride: MemoryLayout<RawRing<Int32>>.stride,
                    count: eligibleCount)
    }

    deinit {
        for i in 0 ..< peerCount { _ = peers.address(i).deinitialize(count: 1) }
        for i in 0 ..< laneCount {
            _ = feedback.address(i).deinitialize(count: 1)
            lanes.address(i).pointee.release()
            _ = lanes.address(i).deinitialize(count: 1)
        }
        for i in 0 ..< profileCount { _ = profiles.address(i).deinitialize(count: 1) }
        peerBlock.deallocate()
        laneBlock.deallocate()
        profileBlock.deallocate()
        control.pointee.release()
        control.deinitialize(count: 1)
        control.deallocate()
        for p in 0 ..< eligibleCount { eligibleBlock[p].release() }
        eligibleBlock.deinitialize(count: eligibleCount)
        eligibleBlock.deallocate()
    }
}

/// Records of one kind at a fixed stride in memory a `ControllerMemory` owns, indexed like an array
/// (bounds checked) and read and written in place: no buffer header to load, no uniqueness check.
@usableFromInline
struct RecordTable<Element> {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let stride: Int
    @usableFromInline let count: Int

    @inlinable init(_ base: UnsafeMutableRawPointer, stride: Int, count: Int) {
        self.base = base
        self.stride = stride
        self.count = count
    }

    @inlinable @inline(__always)
    func address(_ i: Int) -> UnsafeMutablePointer<Element> {
        precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
        return (base + i &* stride).assumingMemoryBound(to: Element.self)
    }

    @inlinable var indices: Range<Int> { 0 ..< count }

    @inlinable
    func contains(where predicate: (Element) -> Bool) -> Bool {
        for i in 0 ..< count where predicate(self[i]) { return true }
        return false
    }

    @inlinable
    subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress { UnsafePointer(address(i)) }
        @inline(__always) unsafeMutableAddress { address(i) }
    }
}

/// A growable FIFO in memory its owner releases (`release`), read and written in place: the
/// controller's queues of lanes and peers, its outbox, and each lane's VOQ, resend queue,
/// unacknowledged packets and reorder buffer (held inline in the lane's record). Its buffer is
/// allocated on the first append and grows by doubling; a ring never used has none (most of a large
/// fabric's lanes never carry data).
///
/// Why not a `Deque`: a deque is a reference to a storage object, so every access loaded the storage's
/// header line (and checked its uniqueness, a runtime call that loads the reference count) before the
/// element's line: with a thousand peers per HNA those headers were cold lines of their own. Here the
/// count and the position are inline, in a line the access has loaded already. The owner, a
/// `ControllerMemory`, copies (`copy`) and frees (`release`) the buffer.
@usableFromInline
struct RawRing<Element> {
    @usableFromInline var buffer: UnsafeMutablePointer<Element>
    /// A power of two, or 0 with no buffer (then `buffer` is never dereferenced).
    @usableFromInline var capacity: Int32 = 0
    @usableFromInline var head: Int32 = 0
    @usableFromInline var stored: Int32 = 0

    @inlinable init() {
        buffer = UnsafeMutablePointer(bitPattern: MemoryLayout<Element>.alignment)!
    }

    @inlinable var count: Int { @inline(__always) get { Int(stored) } }
    @inlinable var isEmpty: Bool { @inline(__always) get { stored == 0 } }
    @inlinable var first: Element? { @inline(__always) get { stored == 0 ? nil : buffer[Int(head)] } }

    @inlinable @inline(__always)
    func slot(_ i: Int) -> UnsafeMutablePointer<Element> {
        precondition(UInt(bitPattern: i) < UInt(bitPattern: Int(stored)), "index out of range")
        return buffer + ((Int(head) &+ i) & (Int(capacity) &- 1))
    }

    /// The element `i` places after the first, in place.
    @inlinable
    subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress { UnsafePointer(slot(i)) }
        @inline(__always) unsafeMutableAddress { slot(i) }
    }

    @inlinable @inline(__always)
    mutating func append(_ element: consuming Element) {
        if stored == capacity { grow() }
        (buffer + ((Int(head) &+ Int(stored)) & (Int(capacity) &- 1))).initialize(to: element)
        stored &+= 1
    }

    @inlinable @inline(__always)
    mutating func popFirst() -> Element? {
        guard stored > 0 else { return nil }
        return removeFirst()
    }

    @inlinable @inline(__always) @discardableResult
    mutating func removeFirst() -> Element {
        precondition(stored > 0, "removeFirst on an empty ring")
        let element = (buffer + Int(head)).move()
        stored &-= 1
        // Empty, it starts again at the front: the queues of a controller are mostly empty between
        // calls, so its next use touches the same (likely cached) line instead of the next one.
        head = stored == 0 ? 0 : (head &+ 1) & (capacity &- 1)
        return element
    }

    @usableFromInline
    mutating func grow() {
        let bigger = capacity == 0 ? 4 : 2 * Int(capacity)
        precondition(bigger <= Int(Int32.max), "lane queue too long")
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: bigger)
        if capacity > 0 {
            let n = Int(stored), h = Int(head), c = Int(capacity)
            let firstPart = min(n, c - h)
            fresh.moveInitialize(from: buffer + h, count: firstPart)
            (fresh + firstPart).moveInitialize(from: buffer, count: n - firstPart)
            buffer.deallocate()
        }
        buffer = fresh
        capacity = Int32(bigger)
        head = 0
    }

    /// A ring with its own buffer and copies of the elements.
    @usableFromInline
    func copy() -> RawRing {
        var r = RawRing()
        for i in 0 ..< count { r.append(self[i]) }
        return r
    }

    /// Destroys the elements and frees the buffer; the ring is empty (and unallocated) afterwards.
    @usableFromInline
    mutating func release() {
        while stored > 0 { _ = removeFirst() }
        if capacity > 0 { buffer.deallocate() }
        self = RawRing()
    }
}

/// The controller's queues, outbox and timers, kept in memory the controller owns (`ControllerMemory`)
/// and reached through pointers held inline, so a call into a controller follows one pointer to
/// them instead of a chain of array and deque headers.
@usableFromInline
struct ControlBlock<Payload> {
    @usableFromInline var outbox = RawRing<PendingAction<Payload>>()
    /// The NACK lists of the outbox's headers that carry some, in the same order.
    @usableFromInline var outboxNacks = RawRing<[HNANack]>()
    @usableFromInline var controlQueue = RawRing<Int32>()
    @usableFromInline var heartbeatQueue = RawRing<Int32>()
    /// The peers in the span, in the order the heartbeat sweep visits them.
    @usableFromInline var span = RawRing<Int32>()
    @usableFromInline var memoryBlocked = RawRing<Int32>()
    @usableFromInline var squeezed = RawRing<Int32>()
    @usableFromInline var timers = TimerQueue()

    @usableFromInline init() {}

    @usableFromInline
    func copy() -> ControlBlock {
        var c = ControlBlock()
        c.release()
        c.outbox = outbox.copy()
        c.outboxNacks = outboxNacks.copy()
        c.controlQueue = controlQueue.copy()
        c.heartbeatQueue = heartbeatQueue.copy()
        c.span = span.copy()
        c.memoryBlocked = memoryBlocked.copy()
        c.squeezed = squeezed.copy()
        c.timers = timers.copy()
        return c
    }

    @usableFromInline
    mutating func release() {
        outbox.release()
        outboxNacks.release()
        controlQueue.release()
        heartbeatQueue.release()
        span.release()
        memoryBlocked.release()
        squeezed.release()
        timers.release()
    }
}
