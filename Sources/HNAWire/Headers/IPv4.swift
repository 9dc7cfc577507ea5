/// IPv4 (RFC 791) headers, with options carried as opaque bytes: the router forwards them untouched and
/// nothing in HNA acts on one.
///
/// The packet ends where the total length says, not where the buffer does: a short IPv4 packet in an
/// Ethernet frame is padded to 60 bytes, and that padding is not payload.

/// A checked view of an IPv4 packet: the header, its options and the payload up to the total length.
public struct IPv4Packet {
    public enum Field {
        /// Version (4 bits), IHL (4 bits, in 32-bit words).
        public static let versionIHL = 0
        /// DSCP (6 bits), ECN (2 bits).
        public static let dscpECN = 1
        public static let totalLength = 2
        public static let identification = 4
        /// Reserved, DF, MF (1 bit each), fragment offset (13 bits, in 8-byte units).
        public static let flagsFragmentOffset = 6
        public static let ttl = 8
        public static let `protocol` = 9
        public static let checksum = 10
        public static let source = 12
        public static let destination = 16
        public static let options = 20
    }

    public enum Bits {
        public static let reserved: UInt16 = 0x8000
        public static let dontFragment: UInt16 = 0x4000
        public static let moreFragments: UInt16 = 0x2000
        public static let fragmentOffset: UInt16 = 0x1FFF
    }

    public static let header = "ipv4"
    public static let version: UInt8 = 4
    public static let minimumHeaderLength = Field.options
    /// IHL is four bits of 32-bit words.
    public static let maximumHeaderLength = 15 * 4

    public let bytes: UnsafeRawBufferPointer
    /// The header length from IHL, in bytes (20 to 60).
    public let headerLength: Int
    /// The total length field: header and payload, in bytes.
    public let totalLength: Int

    /// Checks the version, that IHL covers at least the fixed header, and that
    /// IHL ≤ total length ≤ the bytes available.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.minimumHeaderLength, in: bytes, header: Self.header)
        let vihl = bytes.u8(at: Field.versionIHL)
        guard vihl >> 4 == Self.version else {
            throw .malformed(header: Self.header, reason: "version \(vihl >> 4)")
        }
        let hl = Int(vihl & 0xF) * 4
        guard hl >= Self.minimumHeaderLength else {
            throw .malformed(header: Self.header, reason: "header length \(hl) below \(Self.minimumHeaderLength)")
        }
        try WireError.require(hl, in: bytes, header: Self.header)
        let total = Int(bytes.u16(at: Field.totalLength))
        guard total >= hl else {
            throw .malformed(header: Self.header, reason: "total length \(total) below header length \(hl)")
        }
        try WireError.require(total, in: bytes, header: Self.header)
        // RFC 791: the first flag bit is reserved and must be zero. A value type that emits exact bytes
        // could not carry it, and no sender HNA should talk to sets it.
        guard bytes.u16(at: Field.flagsFragmentOffset) & Bits.reserved == 0 else {
            throw .malformed(header: Self.header, reason: "reserved flag set")
        }
        self.bytes = bytes
        self.headerLength = hl
        self.totalLength = total
    }

    @inlinable public var dscp: UInt8 { bytes.u8(at: Field.dscpECN) >> 2 }
    @inlinable public var ecn: UInt8 { bytes.u8(at: Field.dscpECN) & 0x3 }
    @inlinable public var identification: UInt16 { bytes.u16(at: Field.identification) }
    @inlinable public var dontFragment: Bool { bytes.u16(at: Field.flagsFragmentOffset) & Bits.dontFragment != 0 }
    @inlinable public var moreFragments: Bool { bytes.u16(at: Field.flagsFragmentOffset) & Bits.moreFragments != 0 }
    /// In 8-byte units, as on the wire.
    @inlinable public var fragmentOffset: UInt16 { bytes.u16(at: Field.flagsFragmentOffset) & Bits.fragmentOffset }
    /// Any fragment, first or not: only a whole packet can be looked into beyond the IP header.
    @inlinable public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    @inlinable public var ttl: UInt8 { bytes.u8(at: Field.ttl) }
    @inlinable public var `protocol`: IPProtocol { IPProtocol(rawValue: bytes.u8(at: Field.protocol)) }
    @inlinable public var checksum: UInt16 { bytes.u16(at: Field.checksum) }
    @inlinable public var source: IPv4Address { IPv4Address(reading: bytes, at: Field.source) }
    @inlinable public var destination: IPv4Address { IPv4Address(reading: bytes, at: Field.destination) }

    /// The header checksum holds: the one's-complement sum of the header, checksum included, is all ones.
    @inlinable public var checksumValid: Bool { InternetChecksum.of(bytes.slice(0, headerLength)) == 0 }

    @inlinable public var options: UnsafeRawBufferPointer {
        bytes.slice(Field.options, headerLength - Field.options)
    }

    /// From the end of the header to the total length; link-layer padding after it is excluded.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength, totalLength - headerLength) }

    /// Decrements the TTL of the IPv4 header at the start of `bytes` and patches the header checksum
    /// incrementally (RFC 1624 eqn. 3), so forwarding costs no full checksum pass.
    ///
    /// The header is expected to have passed `init(checking:)`. Returns the new TTL; returns nil and
    /// leaves the bytes untouched when the TTL is already 0 or `bytes` are shorter than a header (the
    /// caller decides whether a TTL of 1 means "time exceeded" before calling).
    @inlinable
    @discardableResult
    public static func decrementTTL(in bytes: UnsafeMutableRawBufferPointer) -> UInt8? {
        guard bytes.count >= minimumHeaderLength else { return nil }
        let ro = UnsafeRawBufferPointer(bytes)
        let ttl = ro.u8(at: Field.ttl)
        guard ttl > 0 else { return nil }
        // TTL is the high byte of the 16-bit word it shares with the protocol.
        let oldWord = ro.u16(at: Field.ttl)
        let newWord = oldWord &- 0x0100
        var c = InternetChecksum()
        c.add(~ro.u16(at: Field.checksum))
        c.add(~oldWord)
        c.add(newWord)
        bytes.setU8(ttl &- 1, at: Field.ttl)
        bytes.setU16(c.checksum, at: Field.checksum)
        return ttl &- 1
    }

    /// Computes and stores the checksum of the `headerLength`-byte header at the start of `bytes`.
    @inlinable
    public static func fillChecksum(in bytes: UnsafeMutableRawBufferPointer, headerLength: Int) {
        bytes.setU16(0, at: Field.checksum)
        bytes.setU16(InternetChecksum.of(UnsafeRawBufferPointer(bytes.slice(0, headerLength))), at: Field.checksum)
    }
}

/// An IPv4 header as a value. The checksum is not stored: `emit` computes it, and whether a received
/// header's checksum held is the view's `checksumValid` (the datapath counts failures; the value parser
/// does not refuse them, so tools can still show such a header).
public struct IPv4Header: Hashable, Sendable, WireEmittable {
    /// Differentiated services code point, 6 bits.
    public var dscp: UInt8
    /// Explicit congestion notification, 2 bits.
    public var ecn: UInt8
    /// Bytes after the header (the total length minus the header length).
    public var payloadLength: Int
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In 8-byte units, 13 bits.
    public var fragmentOffset: UInt16
    public var ttl: UInt8
    public var `protocol`: IPProtocol
    public var source: IPv4Address
    public var destination: IPv4Address
    /// Raw option bytes, a multiple of 4 and at most 40 (padding included, as on the wire).
    public var options: [UInt8]

    public static let defaultTTL: UInt8 = 64

    public init(
        source: IPv4Address, destination: IPv4Address, protocol proto: IPProtocol, payloadLength: Int,
        ttl: UInt8 = IPv4Header.defaultTTL, dscp: UInt8 = 0, ecn: UInt8 = 0, identification: UInt16 = 0,
        dontFragment: Bool = false, moreFragments: Bool = false, fragmentOffset: UInt16 = 0, options: [UInt8] = []
    ) {
        precondition(options.count % 4 == 0 && options.count <= IPv4Packet.maximumHeaderLength - IPv4Packet.minimumHeaderLength,
                     "IPv4 options are whole 32-bit words, at most 40 bytes")
        self.dscp = dscp & 0x3F
        self.ecn = ecn & 0x3
        self.payloadLength = payloadLength
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset & IPv4Packet.Bits.fragmentOffset
        self.ttl = ttl
        self.protocol = proto
        self.source = source
        self.destination = destination
        self.options = options
    }

    public init(_ packet: IPv4Packet) {
        self.init(source: packet.source, destination: packet.destination, protocol: packet.protocol,
                  payloadLength: packet.totalLength - packet.headerLength, ttl: packet.ttl, dscp: packet.dscp,
                  ecn: packet.ecn, identification: packet.identification, dontFragment: packet.dontFragment,
                  moreFragments: packet.moreFragments, fragmentOffset: packet.fragmentOffset,
                  options: packet.options.isEmpty ? [] : Array(packet.options))
    }

    /// Parses the header at the start of `bytes` (the checksum is not verified; see the type's comment).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try IPv4Packet(checking: bytes))
    }

    public var encodedLength: Int { IPv4Packet.minimumHeaderLength + options.count }
    /// The total length field this header emits.
    public var totalLength: Int { encodedLength + payloadLength }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias F = IPv4Packet.Field
        typealias B = IPv4Packet.Bits
        precondition(totalLength <= Int(UInt16.max), "IPv4 total length above 65535")
        let hl = encodedLength
        buffer.setU8(IPv4Packet.version << 4 | UInt8(hl / 4), at: F.versionIHL)
        buffer.setU8((dscp & 0x3F) << 2 | (ecn & 0x3), at: F.dscpECN)
        buffer.setU16(UInt16(totalLength), at: F.totalLength)
        buffer.setU16(identification, at: F.identification)
        var flags = fragmentOffset & B.fragmentOffset
        if dontFragment { flags |= B.dontFragment }
        if moreFragments { flags |= B.moreFragments }
        buffer.setU16(flags, at: F.flagsFragmentOffset)
        buffer.setU8(ttl, at: F.ttl)
        buffer.setU8(`protocol`.rawValue, at: F.protocol)
        source.write(to: buffer, at: F.source)
        destination.write(to: buffer, at: F.destination)
        if !options.isEmpty {
            options.withUnsafeBytes { buffer.slice(F.options, options.count).copyMemory(from: $0) }
        }
        IPv4Packet.fillChecksum(in: buffer, headerLength: hl)
    }
}
