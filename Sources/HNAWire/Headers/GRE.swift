/// GRE (RFC 2784, with the key and sequence number extensions of RFC 2890): the outer header of
/// MPLS-over-GRE tunnels (protocol `EtherType.mplsUnicast`) and of HNA-over-GRE (`EtherType.hna`).
///
/// Only version 0 is read; version 1 (the PPTP variant of RFC 2637) and the RFC 1701 routing and
/// strict-source-route bits are `unsupported`. The optional fields come in a fixed order: checksum and
/// reserved1 (C), key (K), sequence number (S), 4 bytes each.

/// A checked view of a GRE packet: header and payload.
public struct GREPacket {
    public enum Field {
        /// 16 bits: C R K S s Recur(3) Flags(5) Ver(3).
        public static let flagsAndVersion = 0
        public static let protocolType = 2
        /// The first optional field, when present.
        public static let optional = 4
    }

    public enum Bits {
        public static let checksum: UInt16 = 0x8000
        /// RFC 1701 routing present.
        public static let routing: UInt16 = 0x4000
        public static let key: UInt16 = 0x2000
        public static let sequence: UInt16 = 0x1000
        /// RFC 1701 strict source route.
        public static let strictSourceRoute: UInt16 = 0x0800
        /// The top bit of RFC 1701's recursion control: with R and s, the bits RFC 2784 tells a receiver
        /// that does not implement RFC 1701 to refuse.
        public static let recursionHigh: UInt16 = 0x0400
        public static let version: UInt16 = 0x0007
    }

    public static let header = "gre"
    public static let minimumHeaderLength = 4
    /// Checksum + reserved1, key and sequence number are 4 bytes each.
    public static let optionalFieldLength = 4

    public let bytes: UnsafeRawBufferPointer
    public let flagsAndVersion: UInt16
    public let headerLength: Int

    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.minimumHeaderLength, in: bytes, header: Self.header)
        let word = bytes.u16(at: Field.flagsAndVersion)
        let version = word & Bits.version
        guard version == 0 else {
            throw .unsupported(header: Self.header, reason: "version \(version)")
        }
        guard word & (Bits.routing | Bits.strictSourceRoute | Bits.recursionHigh) == 0 else {
            throw .unsupported(header: Self.header, reason: "RFC 1701 routing or recursion bits set")
        }
        var length = Self.minimumHeaderLength
        if word & Bits.checksum != 0 { length += Self.optionalFieldLength }
        if word & Bits.key != 0 { length += Self.optionalFieldLength }
        if word & Bits.sequence != 0 { length += Self.optionalFieldLength }
        try WireError.require(length, in: bytes, header: Self.header)
        self.bytes = bytes
        self.flagsAndVersion = word
        self.headerLength = length
    }

    @inlinable public var checksumPresent: Bool { flagsAndVersion & Bits.checksum != 0 }
    @inlinable public var keyPresent: Bool { flagsAndVersion & Bits.key != 0 }
    @inlinable public var sequencePresent: Bool { flagsAndVersion & Bits.sequence != 0 }
    @inlinable public var protocolType: EtherType { EtherType(rawValue: bytes.u16(at: Field.protocolType)) }

    /// The checksum field (nil when C is clear); the reserved1 field after it is ignored.
    @inlinable public var checksum: UInt16? { checksumPresent ? bytes.u16(at: Field.optional) : nil }

    @inlinable var keyOffset: Int { Field.optional + (checksumPresent ? Self.optionalFieldLength : 0) }
    @inlinable var sequenceOffset: Int { keyOffset + (keyPresent ? Self.optionalFieldLength : 0) }

    @inlinable public var key: UInt32? { keyPresent ? bytes.u32(at: keyOffset) : nil }
    @inlinable public var sequence: UInt32? { sequencePresent ? bytes.u32(at: sequenceOffset) : nil }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }

    /// The checksum covers the GRE header and payload, no pseudo-header. A packet without one (C clear)
    /// has nothing to check and is accepted.
    @inlinable
    public var checksumIsValid: Bool {
        checksumPresent ? InternetChecksum().verifies(bytes) : true
    }

    /// Computes and stores the checksum of the GRE packet filling `packet` (header at offset 0, with C
    /// set, payload to the end of the buffer). The caller emitted the header, so C clear is a
    /// programming error.
    @inlinable
    public static func fillChecksum(in packet: UnsafeMutableRawBufferPointer) {
        precondition(packet.count >= minimumHeaderLength + optionalFieldLength, "GRE header not in buffer")
        precondition(UnsafeRawBufferPointer(packet).u16(at: Field.flagsAndVersion) & Bits.checksum != 0,
                     "GRE checksum bit clear")
        InternetChecksum().fill(packet, fieldOffset: Field.optional)
    }
}

/// A GRE header as a value.
public struct GREHeader: Hashable, Sendable, WireEmittable {
    public var checksumPresent: Bool
    /// The stored checksum when `checksumPresent` (fill it with `GREPacket.fillChecksum` once the payload
    /// is in place); ignored otherwise.
    public var checksum: UInt16
    public var key: UInt32?
    public var sequence: UInt32?
    public var protocolType: EtherType

    public init(protocolType: EtherType, checksumPresent: Bool = false, checksum: UInt16 = 0,
                key: UInt32? = nil, sequence: UInt32? = nil) {
        self.protocolType = protocolType
        self.checksumPresent = checksumPresent
        self.checksum = checksumPresent ? checksum : 0
        self.key = key
        self.sequence = sequence
    }

    public init(_ packet: GREPacket) {
        self.init(protocolType: packet.protocolType, checksumPresent: packet.checksumPresent,
                  checksum: packet.checksum ?? 0, key: packet.key, sequence: packet.sequence)
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try GREPacket(checking: bytes))
    }

    public var encodedLength: Int {
        GREPacket.minimumHeaderLength
            + GREPacket.optionalFieldLength * ((checksumPresent ? 1 : 0) + (key != nil ? 1 : 0) + (sequence != nil ? 1 : 0))
    }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias B = GREPacket.Bits
        var word: UInt16 = 0
        if checksumPresent { word |= B.checksum }
        if key != nil { word |= B.key }
        if sequence != nil { word |= B.sequence }
        buffer.setU16(word, at: GREPacket.Field.flagsAndVersion)
        buffer.setU16(protocolType.rawValue, at: GREPacket.Field.protocolType)
        var o = GREPacket.Field.optional
        if checksumPresent {
            buffer.setU16(checksum, at: o)
            buffer.setU16(0, at: o + 2)
            o += GREPacket.optionalFieldLength
        }
        if let key { buffer.setU32(key, at: o); o += GREPacket.optionalFieldLength }
        if let sequence { buffer.setU32(sequence, at: o) }
    }
}
