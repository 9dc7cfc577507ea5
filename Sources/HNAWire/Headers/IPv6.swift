/// IPv6 (RFC 8200): the fixed header, and a bounded walk over the extension headers to the upper layer.
///
/// The value type is the 40-byte fixed header only; extension headers stay in the payload, where the
/// router forwards them untouched. Jumbograms (RFC 2675: payload length 0 with a hop-by-hop jumbo
/// option) cannot occur on the links HNA serves and are refused as `unsupported`.

/// What a fragment header says (RFC 8200 section 4.5).
public struct IPv6FragmentInfo: Hashable, Sendable {
    /// In 8-byte units, 13 bits.
    public var offset: UInt16
    public var moreFragments: Bool
    public var identification: UInt32

    public init(offset: UInt16, moreFragments: Bool, identification: UInt32) {
        self.offset = offset & 0x1FFF
        self.moreFragments = moreFragments
        self.identification = identification
    }

    /// Only the first fragment carries the upper-layer header.
    @inlinable public var isFirst: Bool { offset == 0 }
}

/// Where the extension-header chain of an IPv6 packet ends.
public struct IPv6UpperLayer: Hashable, Sendable {
    /// The first next-header value that is not an extension header HNA walks: TCP, UDP, ICMPv6, GRE...,
    /// or ESP (its contents are encrypted) or No Next Header.
    public var `protocol`: IPProtocol
    /// From the start of the IPv6 header to the upper-layer header.
    public var offset: Int
    /// Present when the packet carries a fragment header.
    public var fragment: IPv6FragmentInfo?
    /// Number of extension headers walked.
    public var extensionHeaderCount: Int

    public init(protocol proto: IPProtocol, offset: Int, fragment: IPv6FragmentInfo?, extensionHeaderCount: Int) {
        self.protocol = proto
        self.offset = offset
        self.fragment = fragment
        self.extensionHeaderCount = extensionHeaderCount
    }

    /// False for a non-first fragment: the bytes at `offset` continue an upper-layer payload and there is
    /// no header there to parse.
    @inlinable public var hasUpperLayerHeader: Bool { fragment?.isFirst ?? true }
}

/// A checked view of an IPv6 packet: the fixed header and the payload up to the payload length.
public struct IPv6Packet {
    public enum Field {
        /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
        public static let versionClassFlow = 0
        public static let payloadLength = 4
        public static let nextHeader = 6
        public static let hopLimit = 7
        public static let source = 8
        public static let destination = 24
    }

    /// Offsets inside an extension header.
    public enum ExtensionField {
        public static let nextHeader = 0
        /// Header extension length; its unit depends on the header (see `upperLayer()`).
        public static let length = 1
        /// Fragment header: offset (13 bits), reserved (2 bits), M (1 bit).
        public static let fragmentOffsetFlags = 2
        public static let fragmentIdentification = 4
    }

    public static let header = "ipv6"
    public static let version: UInt8 = 6
    public static let headerLength = 40
    public static let fragmentHeaderLength = 8
    /// A chain longer than this is refused as malformed rather than walked without bound. Real packets
    /// carry at most a handful (RFC 8200 section 4.1 recommends each type appear at most once or twice).
    public static let maxExtensionHeaders = 8

    public let bytes: UnsafeRawBufferPointer

    /// Checks the version and that the payload length fits in `bytes`.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.headerLength, in: bytes, header: Self.header)
        let version = bytes.u8(at: Field.versionClassFlow) >> 4
        guard version == Self.version else {
            throw .malformed(header: Self.header, reason: "version \(version)")
        }
        let length = Int(bytes.u16(at: Field.payloadLength))
        if length == 0, bytes.u8(at: Field.nextHeader) == IPProtocol.hopByHop.rawValue {
            throw .unsupported(header: Self.header, reason: "jumbogram (payload length 0 with hop-by-hop)")
        }
        try WireError.require(Self.headerLength + length, in: bytes, header: Self.header)
        self.bytes = bytes
    }

    @inlinable public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.u32(at: Field.versionClassFlow) >> 20) }
    @inlinable public var flowLabel: UInt32 { bytes.u32(at: Field.versionClassFlow) & 0xF_FFFF }
    @inlinable public var payloadLength: Int { Int(bytes.u16(at: Field.payloadLength)) }
    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(at: Field.nextHeader)) }
    @inlinable public var hopLimit: UInt8 { bytes.u8(at: Field.hopLimit) }
    @inlinable public var source: IPv6Address { IPv6Address(reading: bytes, at: Field.source) }
    @inlinable public var destination: IPv6Address { IPv6Address(reading: bytes, at: Field.destination) }

    /// Extension headers and upper layer, up to the payload length; link-layer padding is excluded.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(Self.headerLength, payloadLength) }

    /// Walks the extension headers to the upper-layer protocol.
    ///
    /// Walked: hop-by-hop (first only), routing, destination options, mobility, HIP and shim6 (all
    /// 8·(length+1) bytes), AH (4·(length+2) bytes) and fragment (8 bytes). The walk stops at the first
    /// other next header (ESP and No Next Header included) and right after a fragment header of a
    /// non-first fragment. Throws `malformed` for a misplaced hop-by-hop header, a second fragment header
    /// or more than `maxExtensionHeaders` headers, and `truncated` when a header runs past the payload.
    @inlinable
    public func upperLayer() throws(WireError) -> IPv6UpperLayer {
        typealias E = ExtensionField
        let end = Self.headerLength + payloadLength
        var next = nextHeader
        var offset = Self.headerLength
        var count = 0
        var fragment: IPv6FragmentInfo?
        while true {
            let length: Int
            switch next {
            case .hopByHop, .ipv6Route, .ipv6Options, .mobility, .hip, .shim6, .ah:
                if next == .hopByHop, count > 0 {
                    throw .malformed(header: Self.header, reason: "hop-by-hop header after another extension header")
                }
                try Self.requireInPayload(offset + 2, end: end)
                let units = Int(bytes.u8(at: offset + E.length))
                length = next == .ah ? 4 * (units + 2) : 8 * (units + 1)
            case .ipv6Fragment:
                if fragment != nil {
                    throw .malformed(header: Self.header, reason: "second fragment header")
                }
                length = Self.fragmentHeaderLength
                try Self.requireInPayload(offset + length, end: end)
                let word = bytes.u16(at: offset + E.fragmentOffsetFlags)
                fragment = IPv6FragmentInfo(offset: word >> 3, moreFragments: word & 1 != 0,
                                            identification: bytes.u32(at: offset + E.fragmentIdentification))
            default:
                return IPv6UpperLayer(protocol: next, offset: offset, fragment: fragment, extensionHeaderCount: count)
            }
            count += 1
            if count > Self.maxExtensionHeaders {
                throw .malformed(header: Self.header, reason: "more than \(Self.maxExtensionHeaders) extension headers")
            }
            try Self.requireInPayload(offset + length, end: end)
            next = IPProtocol(rawValue: bytes.u8(at: offset + E.nextHeader))
            offset += length
            if let fragment, !fragment.isFirst {
                return IPv6UpperLayer(protocol: next, offset: offset, fragment: fragment, extensionHeaderCount: count)
            }
        }
    }

    @inlinable @inline(__always)
    static func requireInPayload(_ needed: Int, end: Int) throws(WireError) {
        if _slowPath(needed > end) {
            throw .truncated(header: header, needed: needed, available: end)
        }
    }

    /// Decrements the hop limit of the IPv6 header at the start of `bytes` (IPv6 has no header checksum).
    /// Returns the new hop limit; nil, with the bytes untouched, when it is already 0 or `bytes` are
    /// shorter than a header.
    @inlinable
    @discardableResult
    public static func decrementHopLimit(in bytes: UnsafeMutableRawBufferPointer) -> UInt8? {
        guard bytes.count >= headerLength else { return nil }
        let hop = UnsafeRawBufferPointer(bytes).u8(at: Field.hopLimit)
        guard hop > 0 else { return nil }
        bytes.setU8(hop &- 1, at: Field.hopLimit)
        return hop &- 1
    }
}

/// The fixed IPv6 header as a value.
public struct IPv6Header: Hashable, Sendable, WireEmittable {
    public var trafficClass: UInt8
    /// 20 bits.
    public var flowLabel: UInt32
    /// Bytes after the fixed header, extension headers included.
    public var payloadLength: UInt16
    public var nextHeader: IPProtocol
    public var hopLimit: UInt8
    public var source: IPv6Address
    public var destination: IPv6Address

    public static let defaultHopLimit: UInt8 = 64

    public init(source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol, payloadLength: UInt16,
                hopLimit: UInt8 = IPv6Header.defaultHopLimit, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0) {
        self.trafficClass = trafficClass
        self.flowLabel = flowLabel & 0xF_FFFF
        self.payloadLength = payloadLength
        self.nextHeader = nextHeader
        self.hopLimit = hopLimit
        self.source = source
        self.destination = destination
    }

    public init(_ packet: IPv6Packet) {
        self.init(source: packet.source, destination: packet.destination, nextHeader: packet.nextHeader,
                  payloadLength: UInt16(truncatingIfNeeded: packet.payloadLength), hopLimit: packet.hopLimit,
                  trafficClass: packet.trafficClass, flowLabel: packet.flowLabel)
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try IPv6Packet(checking: bytes))
    }

    public var encodedLength: Int { IPv6Packet.headerLength }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias F = IPv6Packet.Field
        let word = UInt32(IPv6Packet.version) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xF_FFFF)
        buffer.setU32(word, at: F.versionClassFlow)
        buffer.setU16(payloadLength, at: F.payloadLength)
        buffer.setU8(nextHeader.rawValue, at: F.nextHeader)
        buffer.setU8(hopLimit, at: F.hopLimit)
        source.write(to: buffer, at: F.source)
        destination.write(to: buffer, at: F.destination)
    }
}
