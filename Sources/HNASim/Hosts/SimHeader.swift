import HNAWire

/// The HNA header as a packet carries it through the simulated fabric: the same fields as `HNAHeader`,
/// stored flat so that a packet is plain data (copied with a few moves, no reference counting). The
/// rare NACK lists ride in a side table of `HostIO` and the header keeps their slot.
///
/// 40 bytes, so that a whole packet descriptor fits in one cache line: the per-priority vectors hold
/// `maxPriorities` entries (the simulator runs one priority; `HNAHost` refuses a configuration with
/// more than this).
public struct SimHeader: Sendable {
    /// Priorities a simulated header can carry.
    public static let maxPriorities = 4

    public var timestamp: UInt32
    /// Slot of this header's NACKs in `HostIO.nackTable`, -1 for none.
    public var nackSlot: Int32
    public var queueLengths: SIMD4<UInt16>
    public var grantedRates: SIMD4<UInt16>
    public var acks: SIMD4<UInt16>
    public var sequence: UInt16
    /// The header's length on the wire.
    public var encodedLength: Int16
    public var priorityCount: UInt8
    public var priority: UInt8
    public var nextProtocol: UInt8
    public var flags: UInt8

    @usableFromInline static let hasSequence: UInt8 = 1
    @usableFromInline static let hasAcks: UInt8 = 2
    @usableFromInline static let retransmission: UInt8 = 4

    /// An empty header (the bytes a packet without one keeps in its place).
    @inlinable
    init() {
        timestamp = 0
        nackSlot = -1
        queueLengths = SIMD4()
        grantedRates = SIMD4()
        acks = SIMD4()
        sequence = 0
        encodedLength = 0
        priorityCount = 0
        priority = 0
        nextProtocol = 0
        flags = 0
    }

    @inlinable
    public init(_ h: HNAHeader, nackSlot: Int32) {
        timestamp = h.timestamp
        let n = h.priorityCount
        precondition(n <= Self.maxPriorities, "the simulator carries at most \(Self.maxPriorities) priorities")
        var q = SIMD4<UInt16>(), r = SIMD4<UInt16>(), a = SIMD4<UInt16>()
        for i in 0 ..< n {
            q[i] = h.queueLengths[i]
            r[i] = h.grantedRates[i]
        }
        var f: UInt8 = 0
        if let acks = h.acks {
            for i in 0 ..< n { a[i] = acks[i] }
            f |= Self.hasAcks
        }
        if h.sequence != nil { f |= Self.hasSequence }
        if h.isRetransmission { f |= Self.retransmission }
        queueLengths = q
        grantedRates = r
        acks = a
        sequence = h.sequence ?? 0
        priorityCount = UInt8(n)
        priority = h.priority
        nextProtocol = h.nextProtocol.rawValue
        flags = f
        self.nackSlot = nackSlot
        encodedLength = Int16(h.encodedLength)
    }

    @inlinable public var hasSequence: Bool { flags & Self.hasSequence != 0 }
    @inlinable public var hasAcks: Bool { flags & Self.hasAcks != 0 }

    /// The header value again, with its NACKs.
    @inlinable
    public func header(nacks: [HNANack]) -> HNAHeader {
        let n = Int(priorityCount)
        var q = PriorityVector(count: n), r = PriorityVector(count: n)
        for i in 0 ..< n {
            q[i] = queueLengths[i]
            r[i] = grantedRates[i]
        }
        var a: PriorityVector?
        if hasAcks {
            var v = PriorityVector(count: n)
            for i in 0 ..< n { v[i] = acks[i] }
            a = v
        }
        return HNAHeader(nextProtocol: HNANextProtocol(rawValue: nextProtocol), priority: priority, timestamp: timestamp,
                         queueLengths: q, grantedRates: r, sequence: hasSequence ? sequence : nil, acks: a, nacks: nacks,
                         isRetransmission: flags & Self.retransmission != 0)
    }
}
