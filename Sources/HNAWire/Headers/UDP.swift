/// UDP (RFC 768): the outer header of every HNA-over-UDP tunnel (VXLAN, MPLS-over-UDP, the HNA shim) and
/// of tenant traffic the flow table classifies.
///
/// The datagram's own length field, not the buffer, says where the payload ends: the buffer may carry
/// Ethernet padding after a short datagram. IPv6 jumbograms (RFC 2675, length field 0) are not accepted.

/// A checked view of a UDP datagram.
public struct UDPDatagram {
    public enum Field {
        public static let sourcePort = 0
        public static let destinationPort = 2
        /// Header plus payload, in bytes.
        public static let length = 4
        public static let checksum = 6
    }

    public static let header = "udp"
    public static let headerLength = 8

    /// Exactly the datagram: header and payload, `length` bytes (trailing bytes of the buffer excluded).
    public let bytes: UnsafeRawBufferPointer

    /// Checks the header and that the buffer holds the whole datagram its length field announces.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.headerLength, in: bytes, header: Self.header)
        let length = Int(bytes.u16(at: Field.length))
        guard length >= Self.headerLength else {
            throw .malformed(header: Self.header, reason: "length \(length) below the 8-byte header")
        }
        try WireError.require(length, in: bytes, header: Self.header)
        self.bytes = bytes.slice(0, length)
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(at: Field.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(at: Field.destinationPort) }
    @inlinable public var length: Int { bytes.count }
    @inlinable public var checksum: UInt16 { bytes.u16(at: Field.checksum) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: Self.headerLength) }

    /// Over IPv4 a zero checksum means the sender computed none (RFC 768), so there is nothing to check
    /// and the datagram is accepted.
    @inlinable
    public func checksumIsValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        if checksum == 0 { return true }
        return InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .udp,
                                             length: length).verifies(bytes)
    }

    /// Over IPv6 the checksum is mandatory (RFC 8200 section 8.1): zero is invalid. The zero-checksum
    /// tunnel mode of RFC 6935/6936 is not offered.
    @inlinable
    public func checksumIsValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        if checksum == 0 { return false }
        return InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .udp,
                                             length: length).verifies(bytes)
    }

    /// Computes and stores the checksum of a datagram laid out in `datagram` (header at offset 0, its
    /// length field already written, payload after it), as the datapath does after emitting the header
    /// in front of a payload. A computed zero is sent as 0xFFFF, since zero on the wire means "none".
    @inlinable
    public static func fillChecksum(in datagram: UnsafeMutableRawBufferPointer,
                                    source: IPv4Address, destination: IPv4Address) {
        let bytes = checkedForFill(datagram)
        fill(bytes, InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .udp,
                                                  length: bytes.count))
    }

    /// IPv6 version of `fillChecksum(in:source:destination:)`.
    @inlinable
    public static func fillChecksum(in datagram: UnsafeMutableRawBufferPointer,
                                    source: IPv6Address, destination: IPv6Address) {
        let bytes = checkedForFill(datagram)
        fill(bytes, InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .udp,
                                                  length: bytes.count))
    }

    /// The datagram's bytes by its own length field. The caller emitted this header, so a length that
    /// does not fit is a programming error, not bad input.
    @inlinable
    static func checkedForFill(_ datagram: UnsafeMutableRawBufferPointer) -> UnsafeMutableRawBufferPointer {
        precondition(datagram.count >= headerLength, "UDP header not in buffer")
        let length = Int(UnsafeRawBufferPointer(datagram).u16(at: Field.length))
        precondition(length >= headerLength && length <= datagram.count, "UDP length does not fit the buffer")
        return datagram.slice(0, length)
    }

    @inlinable
    static func fill(_ bytes: UnsafeMutableRawBufferPointer, _ start: InternetChecksum) {
        if start.fill(bytes, fieldOffset: Field.checksum) == 0 {
            bytes.setU16(0xFFFF, at: Field.checksum)
        }
    }
}

/// A UDP header as a value. `length` covers header and payload.
public struct UDPHeader: Hashable, Sendable, WireEmittable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var length: UInt16
    /// As on the wire; `UDPDatagram.fillChecksum` computes it once the payload is in place.
    public var checksum: UInt16

    public init(sourcePort: UInt16, destinationPort: UInt16, length: UInt16, checksum: UInt16 = 0) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        self.checksum = checksum
    }

    /// A header for `payloadLength` bytes of payload (at most 65527).
    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        precondition((0 ... Int(UInt16.max) - UDPDatagram.headerLength).contains(payloadLength))
        self.init(sourcePort: sourcePort, destinationPort: destinationPort,
                  length: UInt16(UDPDatagram.headerLength + payloadLength))
    }

    public init(_ datagram: UDPDatagram) {
        self.init(sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort,
                  length: UInt16(datagram.length), checksum: datagram.checksum)
    }

    /// Parses the header at the start of `bytes`, which must hold the whole datagram.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try UDPDatagram(checking: bytes))
    }

    public var encodedLength: Int { UDPDatagram.headerLength }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        buffer.setU16(sourcePort, at: UDPDatagram.Field.sourcePort)
        buffer.setU16(destinationPort, at: UDPDatagram.Field.destinationPort)
        buffer.setU16(length, at: UDPDatagram.Field.length)
        buffer.setU16(checksum, at: UDPDatagram.Field.checksum)
    }

    /// The outer source port for a flow with hash `flowHash`: one flow keeps one port (no reordering
    /// across ECMP paths), different flows spread over `WellKnownPort.entropyRange` (RFC 7348 section 5,
    /// RFC 7510 section 3). Multiply-shift scaling keeps the hash's high bits, so the hash is first
    /// multiplied by an odd constant (Fibonacci hashing: a bijection, so a uniform hash stays uniform,
    /// and a weak hash whose entropy sits in its low bits still spreads over the range).
    @inlinable
    public static func entropySourcePort(flowHash: UInt32) -> UInt16 {
        let range = WellKnownPort.entropyRange
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        let mixed = UInt64(flowHash &* 0x9E37_79B1)
        return range.lowerBound + UInt16(truncatingIfNeeded: (mixed &* span) >> 32)
    }
}
