/// TCP (RFC 9293) headers: HNA reads them to build flow keys and to honour the flags its policy matches
/// on (SYN for new flows, FIN/RST for teardown); it never terminates TCP itself.
///
/// TCP has no length field of its own: the view takes the segment exactly as the IP layer bounded it
/// (header, options and payload), and the checksum's pseudo-header length is that byte count.

/// The nine flag bits (the ECN nonce NS is historic since RFC 8311, but still readable).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue & Self.mask }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    public static let ns = TCPFlags(rawValue: 0x100)

    /// The bits of the data-offset/flags word that hold flags.
    public static let mask: UInt16 = 0x1FF
}

/// A checked view of a TCP segment.
public struct TCPSegment {
    public enum Field {
        public static let sourcePort = 0
        public static let destinationPort = 2
        public static let sequence = 4
        public static let acknowledgment = 8
        /// 16 bits: data offset(4) reserved(3) NS CWR ECE URG ACK PSH RST SYN FIN.
        public static let dataOffsetAndFlags = 12
        public static let window = 14
        public static let checksum = 16
        public static let urgentPointer = 18
        public static let options = 20
    }

    public static let header = "tcp"
    /// The header without options (data offset 5).
    public static let minimumHeaderLength = 20
    /// Data offset 15: 40 bytes of options.
    public static let maximumHeaderLength = 60
    public static let dataOffsetShift: UInt16 = 12

    /// The whole segment: header, options, payload.
    public let bytes: UnsafeRawBufferPointer
    public let headerLength: Int

    /// Checks the data offset (at least 5 words) and that the buffer holds every option it announces.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.minimumHeaderLength, in: bytes, header: Self.header)
        let words = Int(bytes.u16(at: Field.dataOffsetAndFlags) >> Self.dataOffsetShift)
        guard words * 4 >= Self.minimumHeaderLength else {
            throw .malformed(header: Self.header, reason: "data offset \(words) below 5")
        }
        try WireError.require(words * 4, in: bytes, header: Self.header)
        self.bytes = bytes
        self.headerLength = words * 4
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(at: Field.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(at: Field.destinationPort) }
    @inlinable public var sequenceNumber: UInt32 { bytes.u32(at: Field.sequence) }
    @inlinable public var acknowledgmentNumber: UInt32 { bytes.u32(at: Field.acknowledgment) }
    /// In 32-bit words, 5 to 15.
    @inlinable public var dataOffset: Int { headerLength / 4 }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.u16(at: Field.dataOffsetAndFlags)) }
    @inlinable public var window: UInt16 { bytes.u16(at: Field.window) }
    @inlinable public var checksum: UInt16 { bytes.u16(at: Field.checksum) }
    @inlinable public var urgentPointer: UInt16 { bytes.u16(at: Field.urgentPointer) }
    /// The option bytes, padding included (0 to 40 bytes).
    @inlinable public var optionBytes: UnsafeRawBufferPointer {
        bytes.slice(Field.options, headerLength - Field.options)
    }
    @inlinable public var options: TCPOptionIterator { TCPOptionIterator(optionBytes) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }

    /// TCP's checksum is mandatory over both IP versions; zero is just a value.
    @inlinable
    public func checksumIsValid(source: IPv4Address, destination: IPv4Address) -> Bool {
        InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .tcp,
                                      length: bytes.count).verifies(bytes)
    }

    @inlinable
    public func checksumIsValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .tcp,
                                      length: bytes.count).verifies(bytes)
    }

    /// Computes and stores the checksum of the segment filling `segment` (header at offset 0, payload to
    /// the end of the buffer), after the header was emitted in front of the payload.
    @inlinable
    public static func fillChecksum(in segment: UnsafeMutableRawBufferPointer,
                                    source: IPv4Address, destination: IPv4Address) {
        precondition(segment.count >= minimumHeaderLength, "TCP header not in buffer")
        InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .tcp,
                                      length: segment.count).fill(segment, fieldOffset: Field.checksum)
    }

    @inlinable
    public static func fillChecksum(in segment: UnsafeMutableRawBufferPointer,
                                    source: IPv6Address, destination: IPv6Address) {
        precondition(segment.count >= minimumHeaderLength, "TCP header not in buffer")
        InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .tcp,
                                      length: segment.count).fill(segment, fieldOffset: Field.checksum)
    }
}

/// One TCP option. Kinds HNA has no use for (SACK blocks, MD5, TCP-AO, ...) come out as `.other` with
/// their data bytes, valid only while the buffer they were read from is.
public enum TCPOption: Equatable {
    /// Kind 0: the options end here; what follows is padding.
    case endOfList
    /// Kind 1: padding between options.
    case noOperation
    /// Kind 2 (length 4).
    case maximumSegmentSize(UInt16)
    /// Kind 3 (length 3): the shift count, RFC 7323.
    case windowScale(UInt8)
    /// Kind 4 (length 2).
    case sackPermitted
    /// Kind 8 (length 10), RFC 7323.
    case timestamps(value: UInt32, echoReply: UInt32)
    case other(kind: UInt8, data: UnsafeRawBufferPointer)

    public enum Kind {
        public static let endOfList: UInt8 = 0
        public static let noOperation: UInt8 = 1
        public static let maximumSegmentSize: UInt8 = 2
        public static let windowScale: UInt8 = 3
        public static let sackPermitted: UInt8 = 4
        public static let timestamps: UInt8 = 8
    }

    public static func == (a: TCPOption, b: TCPOption) -> Bool {
        switch (a, b) {
        case (.endOfList, .endOfList), (.noOperation, .noOperation), (.sackPermitted, .sackPermitted): return true
        case let (.maximumSegmentSize(x), .maximumSegmentSize(y)): return x == y
        case let (.windowScale(x), .windowScale(y)): return x == y
        case let (.timestamps(v1, e1), .timestamps(v2, e2)): return v1 == v2 && e1 == e2
        case let (.other(k1, d1), .other(k2, d2)): return k1 == k2 && d1.elementsEqual(d2)
        default: return false
        }
    }
}

/// Walks TCP option bytes. Each step consumes at least one byte, so a walk ends within 40 steps; after
/// `.endOfList` or an error it returns nil. An option whose length is below 2, runs past the option
/// bytes, or does not match its kind's fixed length is `malformed` (the header length is fixed, so the
/// option is wrong rather than the buffer short).
public struct TCPOptionIterator {
    public let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset = 0

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    @inlinable
    public mutating func next() throws(WireError) -> TCPOption? {
        guard offset < bytes.count else { return nil }
        let kind = bytes.u8(at: offset)
        switch kind {
        case TCPOption.Kind.endOfList:
            offset = bytes.count
            return .endOfList
        case TCPOption.Kind.noOperation:
            offset += 1
            return .noOperation
        default:
            break
        }
        let start = offset
        offset = bytes.count
        guard start + 2 <= bytes.count else {
            throw .malformed(header: TCPSegment.header, reason: "option \(kind) has no length byte")
        }
        let length = Int(bytes.u8(at: start + 1))
        guard length >= 2, start + length <= bytes.count else {
            throw .malformed(header: TCPSegment.header, reason: "option \(kind) length \(length)")
        }
        func expect(_ fixed: Int) throws(WireError) {
            guard length == fixed else {
                throw .malformed(header: TCPSegment.header, reason: "option \(kind) length \(length), expected \(fixed)")
            }
        }
        let option: TCPOption
        switch kind {
        case TCPOption.Kind.maximumSegmentSize:
            try expect(4)
            option = .maximumSegmentSize(bytes.u16(at: start + 2))
        case TCPOption.Kind.windowScale:
            try expect(3)
            option = .windowScale(bytes.u8(at: start + 2))
        case TCPOption.Kind.sackPermitted:
            try expect(2)
            option = .sackPermitted
        case TCPOption.Kind.timestamps:
            try expect(10)
            option = .timestamps(value: bytes.u32(at: start + 2), echoReply: bytes.u32(at: start + 6))
        default:
            option = .other(kind: kind, data: bytes.slice(start + 2, length - 2))
        }
        offset = start + length
        return option
    }

    /// Walks every option once, so a caller can reject a segment with malformed options up front.
    public static func validate(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        var it = TCPOptionIterator(bytes)
        while try it.next() != nil {}
    }
}

/// A TCP header as a value; options stay raw bytes (read them with `TCPOptionIterator`).
public struct TCPHeader: Hashable, Sendable, WireEmittable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: UInt32
    public var acknowledgmentNumber: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    public var checksum: UInt16
    public var urgentPointer: UInt16
    /// At most 40 bytes; emitted zero-padded (with end-of-list bytes) to a multiple of 4.
    public var options: [UInt8]

    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32, acknowledgmentNumber: UInt32,
                flags: TCPFlags, window: UInt16, checksum: UInt16 = 0, urgentPointer: UInt16 = 0, options: [UInt8] = []) {
        precondition(options.count <= TCPSegment.maximumHeaderLength - TCPSegment.minimumHeaderLength,
                     "at most 40 bytes of options")
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.checksum = checksum
        self.urgentPointer = urgentPointer
        self.options = options
    }

    public init(_ segment: TCPSegment) {
        self.init(sourcePort: segment.sourcePort, destinationPort: segment.destinationPort,
                  sequenceNumber: segment.sequenceNumber, acknowledgmentNumber: segment.acknowledgmentNumber,
                  flags: segment.flags, window: segment.window, checksum: segment.checksum,
                  urgentPointer: segment.urgentPointer, options: Array(segment.optionBytes))
    }

    /// Parses the header at the start of `bytes`. Options are kept, not walked: a malformed option is
    /// found by `TCPOptionIterator` when someone reads them.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try TCPSegment(checking: bytes))
    }

    public var encodedLength: Int { TCPSegment.minimumHeaderLength + ((options.count + 3) & ~3) }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias F = TCPSegment.Field
        let length = encodedLength
        precondition(length <= TCPSegment.maximumHeaderLength, "at most 40 bytes of options")
        buffer.setU16(sourcePort, at: F.sourcePort)
        buffer.setU16(destinationPort, at: F.destinationPort)
        buffer.setU32(sequenceNumber, at: F.sequence)
        buffer.setU32(acknowledgmentNumber, at: F.acknowledgment)
        buffer.setU16(UInt16(length / 4) << TCPSegment.dataOffsetShift | flags.rawValue, at: F.dataOffsetAndFlags)
        buffer.setU16(window, at: F.window)
        buffer.setU16(checksum, at: F.checksum)
        buffer.setU16(urgentPointer, at: F.urgentPointer)
        var o = F.options
        for b in options { buffer.setU8(b, at: o); o += 1 }
        while o < length { buffer.setU8(TCPOption.Kind.endOfList, at: o); o += 1 }
    }
}
