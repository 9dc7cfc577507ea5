import CHNALinux
import HNAWire

/// A batch of packet slots in one allocation, plus the descriptor array the batched system calls fill.
///
/// The datapath allocates a few of these at start-up and reuses them for every burst, so receiving and
/// sending never allocate per packet. Each slot reserves `headroom` bytes in front of the packet so an
/// encapsulation can be prepended in place (VPP's `current_data`): `adjustStart(_:by:)` with a negative
/// delta exposes headroom, a positive one strips a header.
public final class PacketBatch {
    /// Number of slots.
    public let capacity: Int
    /// Bytes per slot available for a received packet (after the headroom).
    public let bufferSize: Int
    /// Bytes reserved in front of each slot's packet.
    public let headroom: Int
    /// Slots holding packets: set by a receive, or by the caller before a send.
    public var count: Int = 0

    @usableFromInline let slotStride: Int
    @usableFromInline let storage: UnsafeMutableRawPointer
    @usableFromInline let messages: UnsafeMutablePointer<hna_msg>

    /// Cache-line alignment keeps each packet's first bytes (the headers every stage reads) on one line.
    static let alignment = 64

    public init(capacity: Int, bufferSize: Int, headroom: Int = 0) {
        precondition(capacity > 0 && bufferSize > 0 && headroom >= 0, "a batch needs slots with room")
        precondition(bufferSize <= Int(UInt32.max), "slot too large")
        self.capacity = capacity
        self.bufferSize = bufferSize
        self.headroom = headroom
        let a = PacketBatch.alignment
        slotStride = (headroom + bufferSize + a - 1) / a * a
        storage = UnsafeMutableRawPointer.allocate(byteCount: slotStride * capacity, alignment: a)
        messages = .allocate(capacity: capacity)
        messages.initialize(repeating: hna_msg(), count: capacity)
        resetAll()
    }

    deinit {
        messages.deinitialize(count: capacity)
        messages.deallocate()
        storage.deallocate()
    }

    /// Start of slot `i` (its headroom).
    @inlinable
    func slotBase(_ i: Int) -> UnsafeMutableRawPointer { storage + i * slotStride }

    /// Puts slot `i` back to an empty packet at the end of its headroom with the full buffer available.
    @inlinable
    public func reset(_ i: Int) {
        precondition(i >= 0 && i < capacity, "slot out of range")
        let m = messages + i
        m.pointee.data = (slotBase(i) + headroom).assumingMemoryBound(to: UInt8.self)
        m.pointee.capacity = UInt32(bufferSize)
        m.pointee.length = 0
        m.pointee.segment_size = 0
        m.pointee.flags = 0
        m.pointee.addr = hna_sockaddr()
    }

    /// Resets every slot and sets `count` to 0.
    public func resetAll() {
        for i in 0 ..< capacity { reset(i) }
        count = 0
    }

    /// The packet in slot `i`: its bytes from the current start for its current length.
    @inlinable
    public subscript(i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < capacity, "slot out of range")
        let m = messages[i]
        return UnsafeMutableRawBufferPointer(start: m.data, count: Int(m.length))
    }

    /// All writable bytes of slot `i` from the packet's current start to the end of the slot.
    @inlinable
    public func room(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < capacity, "slot out of range")
        let start = UnsafeMutableRawPointer(messages[i].data!)
        let end = slotBase(i) + headroom + bufferSize
        precondition(start >= slotBase(i) && start <= end, "slot lent to other memory")
        return UnsafeMutableRawBufferPointer(start: start, count: end - start)
    }

    /// Points slot `i` at memory outside the batch (a packet buffer): a receive fills `memory`, a send
    /// takes its first `length` bytes — no copy into or out of the slot. The memory is borrowed until
    /// the call returns; `reset(i)` gives the slot its own storage back (`room` is only for those).
    @inlinable
    public func lend(_ i: Int, to memory: UnsafeMutableRawBufferPointer, length: Int = 0) {
        precondition(i >= 0 && i < capacity, "slot out of range")
        precondition(length >= 0 && length <= memory.count && memory.count <= Int(UInt32.max), "bad length")
        let m = messages + i
        m.pointee.data = memory.baseAddress!.assumingMemoryBound(to: UInt8.self)
        m.pointee.capacity = UInt32(memory.count)
        m.pointee.length = UInt32(length)
        m.pointee.segment_size = 0
        m.pointee.flags = 0
    }

    /// The length of packet `i`.
    @inlinable
    public func length(_ i: Int) -> Int {
        precondition(i >= 0 && i < capacity, "slot out of range")
        return Int(messages[i].length)
    }

    /// Sets the length of packet `i` (bytes written into `room(i)`).
    @inlinable
    public func setLength(_ i: Int, _ length: Int) {
        precondition(length >= 0 && length <= room(i).count, "length beyond the slot")
        messages[i].length = UInt32(length)
    }

    /// Moves the start of packet `i` by `delta` bytes: negative to prepend a header into the headroom,
    /// positive to strip one. The end of the packet stays put.
    @inlinable
    public func adjustStart(_ i: Int, by delta: Int) {
        precondition(i >= 0 && i < capacity, "slot out of range")
        let m = messages + i
        let start = UnsafeMutableRawPointer(m.pointee.data!) + delta
        precondition(start >= slotBase(i), "not enough headroom")
        precondition(delta <= Int(m.pointee.length), "stripping more than the packet")
        m.pointee.data = start.assumingMemoryBound(to: UInt8.self)
        m.pointee.length = UInt32(Int(m.pointee.length) - delta)
    }

    /// Copies `bytes` into slot `i` as its whole packet (after resetting it) — for tests and slow paths.
    public func set(_ i: Int, bytes: UnsafeRawBufferPointer) {
        reset(i)
        precondition(bytes.count <= bufferSize, "packet larger than the slot")
        if let base = bytes.baseAddress { room(i).baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
        setLength(i, bytes.count)
    }

    /// UDP: the sender of a received datagram, or the destination of one to send.
    @inlinable
    public func address(_ i: Int) -> SocketAddress? {
        precondition(i >= 0 && i < capacity, "slot out of range")
        let raw = messages[i].addr
        return raw.family == 0 ? nil : SocketAddress(raw)
    }

    @inlinable
    public func setAddress(_ i: Int, _ address: SocketAddress) {
        precondition(i >= 0 && i < capacity, "slot out of range")
        messages[i].addr = address.raw
    }

    /// UDP GSO/GRO: the segment size a send should cut packet `i` into (0 = one datagram), or the size of
    /// the segments the kernel coalesced into a received packet (0 = not coalesced).
    @inlinable
    public func segmentSize(_ i: Int) -> Int {
        precondition(i >= 0 && i < capacity, "slot out of range")
        return Int(messages[i].segment_size)
    }

    @inlinable
    public func setSegmentSize(_ i: Int, _ size: Int) {
        precondition(i >= 0 && i < capacity && size >= 0 && size <= Int(UInt16.max), "bad segment size")
        messages[i].segment_size = UInt16(size)
    }

    /// True when the received packet was longer than the slot and was cut short.
    @inlinable
    public func isTruncated(_ i: Int) -> Bool {
        precondition(i >= 0 && i < capacity, "slot out of range")
        return messages[i].flags & UInt16(HNA_MSG_TRUNCATED) != 0
    }

    /// Readies slots `0 ..< n` for a receive: full buffers at the end of the headroom.
    @usableFromInline
    func prepareReceive(_ n: Int) {
        for i in 0 ..< n { reset(i) }
    }
}
