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

    /// Takes the records; `peers[i].profile` indexes `profiles`.
    @usableFromInline
    init(peers: [Peer], lanes: [Lane<Payload>], feedback: [PairFeedback], profiles: [PeerProfile]) {
        precondition(lanes.count == feedback.count)
        peerCount = peers.count
        laneCount = lanes.count
        profileCount = profiles.count
        peerBlock = .allocate(byteCount: max(1, peers.count) * Self.peerStride, alignment: Self.lineBytes)
        laneBlock = .allocate(byteCount: max(1, lanes.count) * Self.laneStride, alignment: Self.lineBytes)
        profileBlock = .allocate(byteCount: max(1, profiles.count) * Self.profileStride, alignment: Self.lineBytes)
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
        ControllerMemory(peers: (0 ..< peerCount).map { peers[$0] }, lanes: (0 ..< laneCount).map { lanes[$0] },
                         feedback: (0 ..< laneCount).map { feedback[$0] },
                         profiles: (0 ..< profileCount).map { profiles[$0] })
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

    deinit {
        for i in 0 ..< peerCount { _ = peers.address(i).deinitialize(count: 1) }
        for i in 0 ..< laneCount {
            _ = feedback.address(i).deinitialize(count: 1)
            _ = lanes.address(i).deinitialize(count: 1)
        }
        for i in 0 ..< profileCount { _ = profiles.address(i).deinitialize(count: 1) }
        peerBlock.deallocate()
        laneBlock.deallocate()
        profileBlock.deallocate()
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
    subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress { UnsafePointer(address(i)) }
        @inline(__always) unsafeMutableAddress { address(i) }
    }
}
