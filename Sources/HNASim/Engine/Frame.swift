/// A packet as the event queue carries it between hops: everything the fabric reads (routing, size,
/// ECN bits) and the application fields, with the HNA header left behind in a `HeaderStore` slot.
///
/// Why: a packet hops four times between two hosts of a leaf-spine, and each hop copies its event
/// from one bucket to a later one; only the receiving host reads the header. Carrying the 40-byte
/// header through every hop made an event 72 bytes (more than a cache line); without it an event is
/// 32 bytes, two to a line, and a 1,024-host fabric's tens of thousands of pending events take less
/// than half the cache they did.
public struct Frame: Sendable, BitwiseCopyable {
    public var src: Int32
    public var dst: Int32
    public var flow: Int32
    public var hash: UInt32
    /// Where the header is in the run's `HeaderStore` (-1: the packet has none).
    public var headerSlot: Int32
    @usableFromInline var wire: UInt16
    @usableFromInline var payload: UInt16
    public var kind: PacketKind
    /// `Packet`'s ECN bits (its header bit is `headerSlot`'s business here).
    @usableFromInline var bits: UInt8

    /// The frame of `packet`, whose header (if it has one) is in `headerSlot`.
    @inlinable @inline(__always)
    public init(_ packet: Packet, headerSlot: Int32 = -1) {
        precondition((packet.header != nil) == (headerSlot >= 0),
                     "a packet's header travels in a HeaderStore slot")
        src = packet.src
        dst = packet.dst
        flow = packet.flow
        hash = packet.hash
        self.headerSlot = headerSlot
        wire = packet.wire
        payload = packet.payload
        kind = packet.kind
        bits = packet.bits & ~Packet.headerBit
    }

    /// The placeholder events without a packet carry.
    @inlinable static var none: Frame {
        Frame(Packet(src: 0, dst: 0, wireBytes: 0, flow: -1, payloadBytes: 0, kind: .data, hash: 0))
    }

    /// The packet again, with the header taken from its slot (`header` must be it, nil for none).
    @inlinable @inline(__always)
    public func packet(header: SimHeader?) -> Packet {
        var bits = self.bits
        if header != nil { bits |= Packet.headerBit }
        return Packet(src: src, dst: dst, flow: flow, hash: hash, wire: wire, payload: payload, kind: kind,
                      bits: bits, carried: header ?? SimHeader())
    }

    @inlinable public var wireBytes: Int32 { Int32(wire) }
    @inlinable public var payloadBytes: Int32 { Int32(payload) }
    @inlinable public var ect: Bool { bits & Packet.ectBit != 0 }
    @inlinable public var ce: Bool {
        get { bits & Packet.ceBit != 0 }
        set { bits = newValue ? bits | Packet.ceBit : bits & ~Packet.ceBit }
    }
}

/// The headers of packets in flight, each in a slot from sending to arrival (or loss). Slots are
/// reused last-freed first, so a header is written into memory that was read moments ago.
public struct HeaderStore {
    var headers = RawList<SimHeader>(capacity: 1024)
    var free = RawList<Int32>(capacity: 1024)

    public init() {}

    /// Headers held now.
    public var count: Int { headers.count - free.count }
    /// Slots made so far: the most headers held at once.
    public var slots: Int { headers.count }

    /// Keeps `header` until `take`; returns its slot.
    @inline(__always)
    public mutating func put(_ header: SimHeader) -> Int32 {
        if let slot = free.popLast() {
            headers[Int(slot)] = header
            return slot
        }
        headers.append(header)
        return Int32(headers.count - 1)
    }

    /// The header in `slot`, which is free again.
    @inline(__always)
    public mutating func take(_ slot: Int32) -> SimHeader {
        free.append(slot)
        return headers[Int(slot)]
    }

    /// Where `slot` is (for prefetching; the slot must be held).
    @inline(__always)
    func address(_ slot: Int32) -> UnsafeRawPointer { UnsafeRawPointer(headers.base + Int(slot)) }
}
