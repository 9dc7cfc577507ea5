/// The HNA fabric header: the patent's flow-control information (FIG. 5 fields 185-189) and heartbeat
/// (FIG. 6, Table 1/2) in one format. Byte-by-byte layout and placement: docs/wire-format.md.
///
/// It rides directly after the outer UDP header (destination port `WellKnownPort.hna`) or after a GRE
/// header whose protocol is `EtherType.hna`, and names what follows it (VXLAN, an MPLS label stack, ...).
/// A heartbeat is the header with next protocol `.none` and no payload: for 4 priorities it is
/// 22 bytes, so Ethernet + IPv4 + UDP + heartbeat is a 64-byte frame.

/// What follows the HNA header. Three bits on the wire.
public struct HNANextProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue & 0x7 }

    /// Nothing: a heartbeat or a standalone ack.
    public static let none = HNANextProtocol(rawValue: 0)
    /// A VXLAN header (RFC 7348) and the inner Ethernet frame.
    public static let vxlan = HNANextProtocol(rawValue: 1)
    /// An MPLS label stack (RFC 3032) and, at its bottom, an IPv4 or IPv6 packet.
    public static let mpls = HNANextProtocol(rawValue: 2)
    /// An Ethernet frame.
    public static let ethernet = HNANextProtocol(rawValue: 3)
    public static let ipv4 = HNANextProtocol(rawValue: 4)
    public static let ipv6 = HNANextProtocol(rawValue: 5)

    public var description: String {
        switch self {
        case .none: return "none"
        case .vxlan: return "vxlan"
        case .mpls: return "mpls"
        case .ethernet: return "ethernet"
        case .ipv4: return "ipv4"
        case .ipv6: return "ipv6"
        default: return "unknown(\(rawValue))"
        }
    }
}

/// One value per priority, for 1 to 8 priorities, stored inline (no allocation per packet).
public struct PriorityVector: Hashable, Sendable, RandomAccessCollection, MutableCollection, CustomStringConvertible {
    @usableFromInline var storage: SIMD8<UInt16>
    public let count: Int

    @inlinable
    public init(repeating value: UInt16 = 0, count: Int) {
        precondition((1 ... HNAHeader.maxPriorities).contains(count), "1 to 8 priorities")
        storage = SIMD8(repeating: 0)
        self.count = count
        for i in 0 ..< count { storage[i] = value }
    }

    public init(_ values: [UInt16]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { storage[i] = v }
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable
    public subscript(position: Int) -> UInt16 {
        get { storage[position] }
        set { precondition(position < count); storage[position] = newValue }
    }

    public var description: String { Array(self).description }
}

/// A request to resend `count` packets of one priority, starting at `first`.
public struct HNANack: Hashable, Sendable {
    public var priority: UInt8
    public var first: UInt16
    /// 1 to `HNANack.maxCount`.
    public var count: UInt16

    public static let maxCount: UInt16 = 0x1FFF

    public init(priority: UInt8, first: UInt16, count: UInt16) {
        self.priority = priority & 0x7
        self.first = first
        self.count = count & Self.maxCount
    }
}

/// A checked view of an HNA header.
public struct HNAHeaderView {
    /// Offsets of the fixed fields. The variable part follows at `Field.queueLengths` in the order
    /// queue lengths, rates, [sequence], [acks], [nack count, reserved, nack entries].
    public enum Field {
        /// 16 bits: version(2) D A N R(1 each) next(3) priority(3) priorityCount-1(3) reserved(1).
        public static let control = 0
        public static let timestamp = 2
        public static let queueLengths = 6
    }

    public enum Bits {
        public static let versionShift: UInt16 = 14
        public static let data: UInt16 = 1 << 13
        public static let ack: UInt16 = 1 << 12
        public static let nack: UInt16 = 1 << 11
        public static let retransmission: UInt16 = 1 << 10
        public static let nextShift: UInt16 = 7
        public static let priorityShift: UInt16 = 4
        public static let countShift: UInt16 = 1
        public static let reserved: UInt16 = 1
    }

    public static let header = "hna"
    public static let fixedLength = Field.queueLengths
    /// One NACK entry: priority(3) | count(13), first sequence number.
    public static let nackEntryLength = 4
    /// NACK count byte + reserved byte.
    public static let nackPreambleLength = 2

    public let bytes: UnsafeRawBufferPointer
    public let control: UInt16
    /// Total bytes of the header, including every optional part.
    public let headerLength: Int

    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.fixedLength, in: bytes, header: Self.header)
        let control = bytes.u16(at: Field.control)
        let version = UInt8(control >> Bits.versionShift)
        guard version == HNAHeader.version else {
            throw .unsupported(header: Self.header, reason: "version \(version)")
        }
        guard control & Bits.reserved == 0 else {
            throw .malformed(header: Self.header, reason: "reserved bit set")
        }
        let p = Int(control >> Bits.countShift & 0x7) + 1
        let prio = Int(control >> Bits.priorityShift & 0x7)
        guard prio < p else {
            throw .malformed(header: Self.header, reason: "priority \(prio) with \(p) priorities")
        }
        var length = Self.fixedLength + 4 * p
        if control & Bits.data != 0 { length += 2 }
        if control & Bits.ack != 0 { length += 2 * p }
        if control & Bits.nack != 0 {
            try WireError.require(length + Self.nackPreambleLength, in: bytes, header: Self.header)
            let n = Int(bytes.u8(at: length))
            guard n > 0 else { throw .malformed(header: Self.header, reason: "NACK flag with no entries") }
            length += Self.nackPreambleLength + n * Self.nackEntryLength
        }
        try WireError.require(length, in: bytes, header: Self.header)
        self.bytes = bytes
        self.control = control
        self.headerLength = length
    }

    @inlinable public var priorityCount: Int { Int(control >> Bits.countShift & 0x7) + 1 }
    @inlinable public var priority: UInt8 { UInt8(control >> Bits.priorityShift & 0x7) }
    @inlinable public var nextProtocol: HNANextProtocol { HNANextProtocol(rawValue: UInt8(control >> Bits.nextShift & 0x7)) }
    @inlinable public var hasData: Bool { control & Bits.data != 0 }
    @inlinable public var hasAcks: Bool { control & Bits.ack != 0 }
    @inlinable public var hasNacks: Bool { control & Bits.nack != 0 }
    @inlinable public var isRetransmission: Bool { control & Bits.retransmission != 0 }
    @inlinable public var timestamp: UInt32 { bytes.u32(at: Field.timestamp) }

    @inlinable public func queueLength(_ priority: Int) -> UInt16 { bytes.u16(at: Field.queueLengths + 2 * priority) }
    @inlinable public func grantedRate(_ priority: Int) -> UInt16 { bytes.u16(at: ratesOffset + 2 * priority) }

    @inlinable var ratesOffset: Int { Field.queueLengths + 2 * priorityCount }
    @inlinable public var sequenceOffset: Int { Self.sequenceOffset(priorities: priorityCount) }

    /// Where the sequence number sits in a data header for `priorities` priorities: a train's datagrams
    /// carry copies of one header that differ only there.
    @inlinable public static func sequenceOffset(priorities: Int) -> Int { Field.queueLengths + 4 * priorities }
    @inlinable var acksOffset: Int { sequenceOffset + (hasData ? 2 : 0) }
    @inlinable var nacksOffset: Int { acksOffset + (hasAcks ? 2 * priorityCount : 0) }

    /// The data packet's sequence number in its priority's space (nil when the D flag is clear).
    @inlinable public var sequence: UInt16? { hasData ? bytes.u16(at: sequenceOffset) : nil }

    /// Cumulative ack for `priority`: the next sequence number the sender of this header expects.
    @inlinable public func ack(_ priority: Int) -> UInt16? { hasAcks ? bytes.u16(at: acksOffset + 2 * priority) : nil }

    public var nackCount: Int { hasNacks ? Int(bytes.u8(at: nacksOffset)) : 0 }

    public func nack(_ index: Int) -> HNANack {
        precondition(index < nackCount)
        let o = nacksOffset + Self.nackPreambleLength + index * Self.nackEntryLength
        let word = bytes.u16(at: o)
        return HNANack(priority: UInt8(word >> 13), first: bytes.u16(at: o + 2), count: word & HNANack.maxCount)
    }

    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }
}

/// An HNA header as a value.
public struct HNAHeader: Hashable, Sendable, WireEmittable {
    public static let version: UInt8 = 1
    public static let maxPriorities = 8
    public static let defaultPriorities = 4

    public var nextProtocol: HNANextProtocol
    /// Priority of the data this packet carries (0 is the highest); 0 for heartbeats.
    public var priority: UInt8
    /// Sender's clock at transmission, in microseconds, wrapping at 2^32.
    public var timestamp: UInt32
    /// Scaled queue lengths q_ij of the sender towards the receiver, one per priority.
    public var queueLengths: PriorityVector
    /// Scaled rates r_ji the sender grants the receiver for its traffic towards the sender.
    public var grantedRates: PriorityVector
    /// This data packet's sequence number in its (pair, priority) space; nil for non-data packets.
    public var sequence: UInt16?
    /// Cumulative acks per priority for traffic from the receiver to the sender.
    public var acks: PriorityVector?
    /// Resend requests for traffic from the receiver to the sender (at most 255).
    public var nacks: [HNANack]
    public var isRetransmission: Bool

    /// Inlinable, like `length` and `encodedLength`: the communications controller builds a header for
    /// every packet it sends.
    @inlinable
    public init(
        nextProtocol: HNANextProtocol, priority: UInt8 = 0, timestamp: UInt32,
        queueLengths: PriorityVector, grantedRates: PriorityVector, sequence: UInt16? = nil,
        acks: PriorityVector? = nil, nacks: [HNANack] = [], isRetransmission: Bool = false
    ) {
        precondition(queueLengths.count == grantedRates.count && acks.map { $0.count == queueLengths.count } ?? true,
                     "every per-priority field has one value per priority")
        precondition(Int(priority) < queueLengths.count && nacks.count <= 255)
        self.nextProtocol = nextProtocol
        self.priority = priority
        self.timestamp = timestamp
        self.queueLengths = queueLengths
        self.grantedRates = grantedRates
        self.sequence = sequence
        self.acks = acks
        self.nacks = nacks
        self.isRetransmission = isRetransmission
    }

    public init(_ view: HNAHeaderView) {
        let p = view.priorityCount
        var q = PriorityVector(count: p), r = PriorityVector(count: p)
        for i in 0 ..< p {
            q[i] = view.queueLength(i)
            r[i] = view.grantedRate(i)
        }
        var acks: PriorityVector?
        if view.hasAcks {
            var a = PriorityVector(count: p)
            for i in 0 ..< p { a[i] = view.ack(i)! }
            acks = a
        }
        self.init(nextProtocol: view.nextProtocol, priority: view.priority, timestamp: view.timestamp,
                  queueLengths: q, grantedRates: r, sequence: view.sequence, acks: acks,
                  nacks: (0 ..< view.nackCount).map(view.nack), isRetransmission: view.isRetransmission)
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try HNAHeaderView(checking: bytes))
    }

    @inlinable
    public var priorityCount: Int { queueLengths.count }

    /// Length of a header for `priorities` priorities with the given optional parts.
    @inlinable
    public static func length(priorities: Int, data: Bool, acks: Bool, nacks: Int) -> Int {
        HNAHeaderView.fixedLength + 4 * priorities + (data ? 2 : 0) + (acks ? 2 * priorities : 0)
            + (nacks > 0 ? HNAHeaderView.nackPreambleLength + nacks * HNAHeaderView.nackEntryLength : 0)
    }

    @inlinable
    public var encodedLength: Int {
        Self.length(priorities: priorityCount, data: sequence != nil, acks: acks != nil, nacks: nacks.count)
    }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias B = HNAHeaderView.Bits
        let p = priorityCount
        var control = UInt16(Self.version) << B.versionShift
        if sequence != nil { control |= B.data }
        if acks != nil { control |= B.ack }
        if !nacks.isEmpty { control |= B.nack }
        if isRetransmission { control |= B.retransmission }
        control |= UInt16(nextProtocol.rawValue) << B.nextShift
        control |= UInt16(priority & 0x7) << B.priorityShift
        control |= UInt16(p - 1) << B.countShift
        buffer.setU16(control, at: HNAHeaderView.Field.control)
        buffer.setU32(timestamp, at: HNAHeaderView.Field.timestamp)
        var o = HNAHeaderView.Field.queueLengths
        for v in queueLengths { buffer.setU16(v, at: o); o += 2 }
        for v in grantedRates { buffer.setU16(v, at: o); o += 2 }
        if let sequence { buffer.setU16(sequence, at: o); o += 2 }
        if let acks { for v in acks { buffer.setU16(v, at: o); o += 2 } }
        if !nacks.isEmpty {
            buffer.setU8(UInt8(nacks.count), at: o)
            buffer.setU8(0, at: o + 1)
            o += HNAHeaderView.nackPreambleLength
            for n in nacks {
                buffer.setU16(UInt16(n.priority) << 13 | (n.count & HNANack.maxCount), at: o)
                buffer.setU16(n.first, at: o + 2)
                o += HNAHeaderView.nackEntryLength
            }
        }
    }
}
