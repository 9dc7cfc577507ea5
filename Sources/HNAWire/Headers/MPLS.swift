/// MPLS label stacks (RFC 3032): what HNA's MPLS-over-GRE and MPLS-over-UDP tunnels carry. The label
/// names the destination VRF or next hop; the bottom of the stack is followed by an IPv4 or IPv6 packet,
/// told apart by its version nibble since MPLS itself does not say (RFC 7510 section 3 relies on this).
///
/// Stacks deeper than `MPLSPacket.maxDepth` are refused rather than walked without bound: HNA pushes one
/// or two labels, and a fabric that stacks eight has gone wrong.

/// A 20-bit MPLS label. Open like the protocol numbers: any value is data; the special-purpose ones
/// (0-15, RFC 7274) get names.
public struct MPLSLabel: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue & Self.max }

    public static let max: UInt32 = 0xF_FFFF

    public static let ipv4ExplicitNull = MPLSLabel(rawValue: 0)
    public static let routerAlert = MPLSLabel(rawValue: 1)
    public static let ipv6ExplicitNull = MPLSLabel(rawValue: 2)
    /// Signalled only (penultimate-hop popping); never seen in a packet.
    public static let implicitNull = MPLSLabel(rawValue: 3)
    /// RFC 6790: the next entry is an entropy label.
    public static let entropyLabelIndicator = MPLSLabel(rawValue: 7)
    /// RFC 5586 generic associated channel label.
    public static let genericAssociatedChannel = MPLSLabel(rawValue: 13)
    /// RFC 3429.
    public static let oamAlert = MPLSLabel(rawValue: 14)
    /// RFC 7274 extension label.
    public static let `extension` = MPLSLabel(rawValue: 15)

    /// Labels 0-15 are special-purpose; VRF and next-hop labels are allocated above them.
    @inlinable public var isReserved: Bool { rawValue < 16 }

    public var description: String { String(rawValue) }
}

/// One label stack entry: label(20) TC(3) S(1) TTL(8).
public struct MPLSLabelStackEntry: Hashable, Sendable, WireEmittable {
    public var label: MPLSLabel
    /// Traffic class, 3 bits (RFC 5462).
    public var trafficClass: UInt8
    public var bottomOfStack: Bool
    public var ttl: UInt8

    public enum Bits {
        public static let labelShift: UInt32 = 12
        public static let trafficClassShift: UInt32 = 9
        public static let bottomOfStack: UInt32 = 0x100
    }

    public static let length = 4

    public init(label: MPLSLabel, trafficClass: UInt8 = 0, bottomOfStack: Bool, ttl: UInt8) {
        self.label = label
        self.trafficClass = trafficClass & 0x7
        self.bottomOfStack = bottomOfStack
        self.ttl = ttl
    }

    @inlinable
    public init(rawValue word: UInt32) {
        label = MPLSLabel(rawValue: word >> Bits.labelShift)
        trafficClass = UInt8(truncatingIfNeeded: word >> Bits.trafficClassShift) & 0x7
        bottomOfStack = word & Bits.bottomOfStack != 0
        ttl = UInt8(truncatingIfNeeded: word)
    }

    @inlinable
    public var rawValue: UInt32 {
        label.rawValue << Bits.labelShift | UInt32(trafficClass & 0x7) << Bits.trafficClassShift
            | (bottomOfStack ? Bits.bottomOfStack : 0) | UInt32(ttl)
    }

    public var encodedLength: Int { Self.length }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) { buffer.setU32(rawValue, at: 0) }
}

/// A checked view of an MPLS label stack and the packet under it.
public struct MPLSPacket {
    public enum Field {
        /// Entry `i` is at `firstEntry + i * MPLSLabelStackEntry.length`.
        public static let firstEntry = 0
    }

    public static let header = "mpls"
    /// A stack that has not ended (S = 1) after this many entries is `malformed`.
    public static let maxDepth = 8

    public let bytes: UnsafeRawBufferPointer
    /// Number of entries, 1 to `maxDepth`; the last one has S set.
    public let depth: Int

    /// Walks the stack to its bottom entry.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        var depth = 0
        while true {
            let offset = Field.firstEntry + depth * MPLSLabelStackEntry.length
            try WireError.require(offset + MPLSLabelStackEntry.length, in: bytes, header: Self.header)
            depth += 1
            if bytes.u32(at: offset) & MPLSLabelStackEntry.Bits.bottomOfStack != 0 { break }
            if depth == Self.maxDepth {
                throw .malformed(header: Self.header, reason: "no bottom of stack within \(Self.maxDepth) entries")
            }
        }
        self.bytes = bytes
        self.depth = depth
    }

    /// Entry `index`, outermost (top) first; `index` must be below `depth`.
    @inlinable
    public func entry(_ index: Int) -> MPLSLabelStackEntry {
        precondition(index < depth)
        return MPLSLabelStackEntry(rawValue: bytes.u32(at: Field.firstEntry + index * MPLSLabelStackEntry.length))
    }

    @inlinable public var top: MPLSLabelStackEntry { entry(0) }
    @inlinable public var headerLength: Int { depth * MPLSLabelStackEntry.length }
    /// The packet under the bottom entry.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }
    /// What the payload is, by its version nibble: `.ipv4`, `.ipv6`, or nil (empty, or anything else,
    /// such as a pseudowire control word).
    @inlinable public var payloadType: EtherType? { Self.payloadType(of: payload) }

    /// The version nibble rule on its own, for callers that popped the stack themselves.
    @inlinable
    public static func payloadType(of payload: UnsafeRawBufferPointer) -> EtherType? {
        guard payload.count > 0 else { return nil }
        switch payload.u8(at: 0) >> 4 {
        case 4: return .ipv4
        case 6: return .ipv6
        default: return nil
        }
    }
}

/// A label stack as a value, top entry first. On emit the S bit is set on the last entry and clear on
/// the others whatever the entries say, so an emitted stack always ends where the value does.
public struct MPLSLabelStack: Hashable, Sendable, WireEmittable {
    public var entries: [MPLSLabelStackEntry]

    /// `entries` holds 1 to `MPLSPacket.maxDepth` entries; their S bits are set from their position.
    public init(_ entries: [MPLSLabelStackEntry]) {
        precondition((1 ... MPLSPacket.maxDepth).contains(entries.count), "1 to 8 label stack entries")
        self.entries = entries
        for i in self.entries.indices { self.entries[i].bottomOfStack = i == entries.count - 1 }
    }

    public init(_ packet: MPLSPacket) {
        self.init((0 ..< packet.depth).map(packet.entry))
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try MPLSPacket(checking: bytes))
    }

    public var encodedLength: Int { entries.count * MPLSLabelStackEntry.length }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        var o = MPLSPacket.Field.firstEntry
        for (i, e) in entries.enumerated() {
            var entry = e
            entry.bottomOfStack = i == entries.count - 1
            buffer.setU32(entry.rawValue, at: o)
            o += MPLSLabelStackEntry.length
        }
    }
}
