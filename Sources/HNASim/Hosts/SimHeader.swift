import HNACore
import HNAWire

/// The HNA header as a packet carries it through the simulated fabric: the same fields as `HNAHeader`,
/// stored flat so that a packet is plain data (copied with a few moves, no reference counting). The
/// rare NACK lists ride in a side table of `HostIO` and the header keeps their slot.
///
/// 40 bytes, so that a whole packet descriptor fits in one cache line: the per-priority vectors hold
/// `maxPriorities` entries (the simulator runs one priority; `HNAHost` refuses a configuration with
/// more than this).
public struct SimHeader: Sendable, BitwiseCopyable {
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

    /// The header a controller produced (`FlowHeader`), its NACK list in slot `nackSlot`. Always
    /// inlined: as a call it took the 64-byte header through memory, once per packet.
    @inlinable @inline(__always)
    public init(_ h: FlowHeader, nackSlot: Int32) {
        precondition(h.priorityCount <= Self.maxPriorities, "the simulator carries at most \(Self.maxPriorities) priorities")
        timestamp = h.timestamp
        queueLengths = h.queueLengths.lowHalf
        grantedRates = h.grantedRates.lowHalf
        acks = h.ackValues.lowHalf
        sequence = h.sequenceValue
        priorityCount = h.priorityCount
        priority = h.priority
        nextProtocol = h.nextProtocol.rawValue
        flags = (h.hasSequence ? Self.hasSequence : 0) | (h.hasAcks ? Self.hasAcks : 0)
            | (h.isRetransmission ? Self.retransmission : 0)
        self.nackSlot = nackSlot
        encodedLength = Int16(h.encodedLength)
    }

    @inlinable public var hasSequence: Bool { flags & Self.hasSequence != 0 }
    @inlinable public var hasAcks: Bool { flags & Self.hasAcks != 0 }

    /// The header as the controller takes it (`nackCount` NACK entries, handed over beside it).
    @inlinable
    public func flowHeader(nackCount: Int) -> FlowHeader {
        let zero = SIMD4<UInt16>()
        return FlowHeader(nextProtocol: HNANextProtocol(rawValue: nextProtocol), priority: priority,
                          timestamp: timestamp, priorityCount: Int(priorityCount),
                          queueLengths: SIMD8(lowHalf: queueLengths, highHalf: zero),
                          grantedRates: SIMD8(lowHalf: grantedRates, highHalf: zero),
                          sequence: hasSequence ? sequence : nil,
                          acks: hasAcks ? SIMD8(lowHalf: acks, highHalf: zero) : nil,
                          nackCount: nackCount, isRetransmission: flags & Self.retransmission != 0)
    }
}
