/// A packet's bytes plus the metadata the datapath carries with it, after DPDK's mbuf and VPP's
/// vlib_buffer: one contiguous allocation with headroom in front of the data, so a tunnel header is
/// pushed by moving `start` back instead of copying the packet, and stripped by moving it forward.
///
/// Buffers are allocated once and recycled through a `PacketPool`: in steady state the datapath never
/// allocates. A buffer is a class so a batch can hand it from stage to stage (and from the router to the
/// communications controller) without copying bytes; the ownership rule is that a buffer given to a
/// component comes back out of it exactly once (sent, delivered, held, or dropped).
public final class PacketBuffer {
    /// Total bytes of storage: headroom + data + tailroom.
    public let capacity: Int
    @usableFromInline let storage: UnsafeMutableRawPointer
    /// Offsets and metadata live behind a pointer, not in stored `var`s: a class's stored properties get
    /// a dynamic exclusivity check on every access, which on the datapath (a dozen accesses per packet
    /// per stage) cost more than the work itself.
    @usableFromInline let header: UnsafeMutablePointer<Header>
    @usableFromInline let metadata: UnsafeMutablePointer<PacketMetadata>

    @usableFromInline
    struct Header {
        @usableFromInline var start: Int
        @usableFromInline var length: Int

        @inlinable init(start: Int, length: Int) {
            self.start = start
            self.length = length
        }
    }

    /// Offset of the first data byte; everything before it is headroom.
    @inlinable public var start: Int { header.pointee.start }
    /// Number of data bytes.
    @inlinable public var length: Int { header.pointee.length }
    @inlinable var _start: Int {
        get { header.pointee.start }
        set { header.pointee.start = newValue }
    }

    @inlinable var _length: Int {
        get { header.pointee.length }
        set { header.pointee.length = newValue }
    }

    /// Per-packet datapath state, reset by `reset(headroom:)`.
    @inlinable public var meta: PacketMetadata {
        get { metadata.pointee }
        set { metadata.pointee = newValue }
    }

    /// Room for outer IPv6 (40) + UDP (8) + an HNA header with acks and NACKs + VXLAN (8) + a re-written
    /// inner Ethernet header, with margin: tunnel headers never need a copy.
    public static let defaultHeadroom = 192
    /// Enough for a 9000-byte jumbo frame after the default headroom.
    public static let defaultCapacity = 9216 + defaultHeadroom
    /// Enough for a TCP super-frame (an IP packet of up to 64 KiB, `PacketMetadata.gsoSize` set) and
    /// for the train of datagrams it is cut into on the way out, every one with its own headers.
    public static let largeCapacity = 96 << 10

    public init(capacity: Int = PacketBuffer.defaultCapacity, headroom: Int = PacketBuffer.defaultHeadroom) {
        precondition(capacity > 0 && headroom >= 0)
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        header = .allocate(capacity: 1)
        // Headroom is clamped like `reset` clamps it, so small buffers (tests, tools) need no special case.
        header.initialize(to: Header(start: min(headroom, capacity), length: 0))
        metadata = .allocate(capacity: 1)
        metadata.initialize(to: PacketMetadata())
    }

    deinit {
        header.deinitialize(count: 1)
        header.deallocate()
        metadata.deinitialize(count: 1)
        metadata.deallocate()
        storage.deallocate()
    }

    /// Bytes available in front of the data.
    @inlinable public var headroom: Int { start }
    /// Bytes available after the data.
    @inlinable public var tailroom: Int { capacity - start - length }

    /// The data bytes. Valid while the buffer is alive and until the next prepend/trim/append.
    @inlinable public var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + start, count: length)
    }

    @inlinable public var readableBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(bytes) }

    /// Empties the buffer for reuse and clears its metadata.
    @inlinable
    public func reset(headroom: Int = PacketBuffer.defaultHeadroom) {
        header.pointee = Header(start: min(headroom, capacity), length: 0)
        metadata.pointee = PacketMetadata()
    }

    /// Grows the data by `count` bytes at the front and returns them (uninitialised) for the caller to
    /// fill; nil when the headroom is too small.
    @inlinable
    public func prepend(_ count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, count <= start else { return nil }
        _start -= count
        _length += count
        return UnsafeMutableRawBufferPointer(start: storage + start, count: count)
    }

    /// Removes `count` bytes from the front (stripping a header). False when there are fewer bytes.
    @inlinable @discardableResult
    public func trimFront(_ count: Int) -> Bool {
        guard count >= 0, count <= length else { return false }
        _start += count
        _length -= count
        return true
    }

    /// Keeps only the first `newLength` bytes (drops link padding or a tail). False when longer than now.
    @inlinable @discardableResult
    public func truncate(to newLength: Int) -> Bool {
        guard newLength >= 0, newLength <= length else { return false }
        _length = newLength
        return true
    }

    /// Grows the data by `count` bytes at the end and returns them for the caller to fill; nil when the
    /// tailroom is too small.
    @inlinable
    public func append(_ count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, count <= tailroom else { return nil }
        let p = storage + start + length
        _length += count
        return UnsafeMutableRawBufferPointer(start: p, count: count)
    }

    /// Appends a copy of `source`; false when it does not fit.
    @inlinable @discardableResult
    public func append(contentsOf source: UnsafeRawBufferPointer) -> Bool {
        guard let dst = append(source.count) else { return false }
        if let base = source.baseAddress, source.count > 0 { dst.baseAddress!.copyMemory(from: base, byteCount: source.count) }
        return true
    }

    /// Replaces the contents with a copy of `source` after `headroom` bytes of headroom.
    @inlinable @discardableResult
    public func load(_ source: UnsafeRawBufferPointer, headroom: Int = PacketBuffer.defaultHeadroom) -> Bool {
        reset(headroom: headroom)
        return append(contentsOf: source)
    }

    /// Replaces the contents with `source` (tests and tools).
    @discardableResult
    public func load(_ source: [UInt8], headroom: Int = PacketBuffer.defaultHeadroom) -> Bool {
        source.withUnsafeBytes { load($0, headroom: headroom) }
    }

    /// A copy of the data bytes (tests and tools; the datapath works in place).
    public var array: [UInt8] { Array(readableBytes) }
}

/// What the datapath knows about a packet besides its bytes. Plain integers, so it is reset and copied
/// for free; the meaning of each field is the router's (docs/router.md).
public struct PacketMetadata: Sendable, Equatable {
    /// The interface the packet came in on (a VM port), or `PacketMetadata.fabric` for tunnel packets.
    public var ingressInterface: UInt32 = PacketMetadata.fabric
    /// The routing instance the packet is being processed in (valid once classified).
    public var vrf: UInt16 = 0
    /// A hash of the packet's flow key: ECMP member choice and the outer UDP source port's entropy.
    public var flowHash: UInt32 = 0
    /// Record every stage's decision for this packet.
    public var trace = false
    /// Scheduling priority towards the fabric (0 is the highest).
    public var priority: UInt8 = 0
    /// Offset of the network-layer header within the data, once parsed.
    public var l3Offset: UInt16 = 0
    /// The flow entry the packet matched, or `PacketMetadata.noFlow`.
    public var flow: UInt32 = PacketMetadata.noFlow
    /// An identifier the driver may set to correlate traces with its own records.
    public var traceID: UInt64 = 0
    /// The bytes in front of the data are a header waiting to go out with it (the node's zero-copy
    /// send: a buffer can carry one such header at a time).
    public var headerInHeadroom = false
    /// A TCP super-frame (Linux's GSO, a virtio-net TSO frame): the TCP payload size of each segment it
    /// stands for. 0 for an ordinary packet. Its IP header holds the whole length and its TCP checksum
    /// is partial (the pseudo-header sum); it is cut into segments only where it leaves
    /// (`TCPOffload.Segmenter`).
    public var gsoSize: UInt16 = 0

    public static let fabric: UInt32 = .max
    public static let noFlow: UInt32 = .max

    @inlinable public init() {}
}

/// A free list of equally sized buffers. Drivers take buffers for received packets and give them back
/// once sent or dropped; components that create packets (ARP replies, ICMP errors, fragments) take them
/// from the same pool, so the steady state allocates nothing. Super-frames and trains take large
/// buffers (`takeLarge`) from a second free list; `recycle` sorts every buffer back by its capacity.
public final class PacketPool {
    @usableFromInline var free: [PacketBuffer] = []
    @usableFromInline var freeLarge: [PacketBuffer] = []
    public let bufferCapacity: Int
    /// Buffers created because the free list was empty (growth beyond the preallocated count).
    public private(set) var allocations = 0

    public init(preallocate count: Int = 0, bufferCapacity: Int = PacketBuffer.defaultCapacity) {
        self.bufferCapacity = bufferCapacity
        free.reserveCapacity(max(count, 64))
        for _ in 0 ..< count { free.append(PacketBuffer(capacity: bufferCapacity)) }
    }

    public var available: Int { free.count }

    /// A reset buffer: recycled when one is free, new otherwise.
    @inlinable
    public func take() -> PacketBuffer {
        if let b = free.popLast() {
            b.reset()
            return b
        }
        return makeBuffer()
    }

    /// A reset buffer of `PacketBuffer.largeCapacity` bytes.
    @inlinable
    public func takeLarge() -> PacketBuffer {
        if let b = freeLarge.popLast() {
            b.reset()
            return b
        }
        return makeBuffer(capacity: PacketBuffer.largeCapacity)
    }

    @usableFromInline
    func makeBuffer(capacity: Int? = nil) -> PacketBuffer {
        allocations += 1
        return PacketBuffer(capacity: capacity ?? bufferCapacity)
    }

    @inlinable
    public func recycle(_ buffer: PacketBuffer) {
        if buffer.capacity == PacketBuffer.largeCapacity && bufferCapacity != PacketBuffer.largeCapacity {
            freeLarge.append(buffer)
        } else {
            free.append(buffer)
        }
    }
}
