/// ICMP for IPv4 (RFC 792): the 8-byte header of every message. What follows it (echo data, or the
/// invoking packet's header and first 8 bytes in an error) is the body, covered by the checksum and
/// left to the caller.

/// The ICMPv4 message type. Any value on the wire is representable; the ones the router sends or
/// answers get names.
public struct ICMPv4Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let echoReply = ICMPv4Type(rawValue: 0)
    public static let destinationUnreachable = ICMPv4Type(rawValue: 3)
    public static let redirect = ICMPv4Type(rawValue: 5)
    public static let echoRequest = ICMPv4Type(rawValue: 8)
    public static let timeExceeded = ICMPv4Type(rawValue: 11)
    public static let parameterProblem = ICMPv4Type(rawValue: 12)

    /// Error messages quote the packet that caused them, and are never sent in reply to another error
    /// (RFC 1122 section 3.2.2).
    @inlinable public var isError: Bool {
        self == .destinationUnreachable || self == .redirect || self == .timeExceeded || self == .parameterProblem
    }

    public var description: String {
        switch self {
        case .echoReply: return "echo-reply"
        case .destinationUnreachable: return "destination-unreachable"
        case .redirect: return "redirect"
        case .echoRequest: return "echo-request"
        case .timeExceeded: return "time-exceeded"
        case .parameterProblem: return "parameter-problem"
        default: return "type(\(rawValue))"
        }
    }
}

/// The ICMPv4 code. Its meaning depends on the type; the names say which type they belong to.
public struct ICMPv4Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The only code of echo request and reply.
    public static let zero = ICMPv4Code(rawValue: 0)

    // Destination unreachable.
    public static let networkUnreachable = ICMPv4Code(rawValue: 0)
    public static let hostUnreachable = ICMPv4Code(rawValue: 1)
    public static let protocolUnreachable = ICMPv4Code(rawValue: 2)
    public static let portUnreachable = ICMPv4Code(rawValue: 3)
    /// Fragmentation needed and DF set; the header carries the next-hop MTU (RFC 1191).
    public static let fragmentationNeeded = ICMPv4Code(rawValue: 4)
    /// Communication administratively prohibited (RFC 1812): a policy drop.
    public static let administrativelyProhibited = ICMPv4Code(rawValue: 13)

    // Time exceeded.
    public static let ttlExceeded = ICMPv4Code(rawValue: 0)
    public static let reassemblyTimeExceeded = ICMPv4Code(rawValue: 1)

    public var description: String { String(rawValue) }
}

/// A checked view of an ICMPv4 message: the header and the body after it.
public struct ICMPv4Packet {
    public enum Field {
        public static let type = 0
        public static let code = 1
        public static let checksum = 2
        /// Four type-specific bytes: identifier and sequence number (echo), unused and next-hop MTU
        /// (fragmentation needed), pointer (parameter problem), gateway (redirect), zero otherwise.
        public static let rest = 4
        /// Echo.
        public static let identifier = 4
        public static let sequence = 6
        /// Destination unreachable, fragmentation needed (RFC 1191).
        public static let nextHopMTU = 6
        public static let body = 8
    }

    public static let header = "icmpv4"
    public static let headerLength = Field.body

    /// The whole ICMP message: the checksum covers all of it.
    public let bytes: UnsafeRawBufferPointer

    /// `bytes` must be exactly the message (the IPv4 payload): the checksum covers every byte of it.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.headerLength, in: bytes, header: Self.header)
        self.bytes = bytes
    }

    @inlinable public var type: ICMPv4Type { ICMPv4Type(rawValue: bytes.u8(at: Field.type)) }
    @inlinable public var code: ICMPv4Code { ICMPv4Code(rawValue: bytes.u8(at: Field.code)) }
    @inlinable public var checksum: UInt16 { bytes.u16(at: Field.checksum) }
    @inlinable public var rest: UInt32 { bytes.u32(at: Field.rest) }
    @inlinable public var identifier: UInt16 { bytes.u16(at: Field.identifier) }
    @inlinable public var sequence: UInt16 { bytes.u16(at: Field.sequence) }
    @inlinable public var nextHopMTU: UInt16 { bytes.u16(at: Field.nextHopMTU) }
    @inlinable public var body: UnsafeRawBufferPointer { bytes.tail(from: Field.body) }

    @inlinable public var checksumValid: Bool { InternetChecksum.of(bytes) == 0 }

    /// Computes and stores the checksum of the ICMP message that is all of `message`.
    @inlinable
    public static func fillChecksum(in message: UnsafeMutableRawBufferPointer) {
        message.setU16(0, at: Field.checksum)
        message.setU16(InternetChecksum.of(UnsafeRawBufferPointer(message)), at: Field.checksum)
    }
}

/// An ICMPv4 header as a value; the body is not part of it.
public struct ICMPv4Header: Hashable, Sendable, WireEmittable {
    public var type: ICMPv4Type
    public var code: ICMPv4Code
    /// The four type-specific bytes (see `ICMPv4Packet.Field.rest`).
    public var rest: UInt32

    public init(type: ICMPv4Type, code: ICMPv4Code, rest: UInt32 = 0) {
        self.type = type
        self.code = code
        self.rest = rest
    }

    public static func echoRequest(identifier: UInt16, sequence: UInt16) -> ICMPv4Header {
        ICMPv4Header(type: .echoRequest, code: .zero, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    public static func echoReply(identifier: UInt16, sequence: UInt16) -> ICMPv4Header {
        ICMPv4Header(type: .echoReply, code: .zero, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    public static func destinationUnreachable(_ code: ICMPv4Code) -> ICMPv4Header {
        ICMPv4Header(type: .destinationUnreachable, code: code)
    }

    /// "Fragmentation needed and DF set" with the MTU of the next hop (RFC 1191 section 4).
    public static func fragmentationNeeded(nextHopMTU: UInt16) -> ICMPv4Header {
        ICMPv4Header(type: .destinationUnreachable, code: .fragmentationNeeded, rest: UInt32(nextHopMTU))
    }

    public static func timeExceeded(_ code: ICMPv4Code = .ttlExceeded) -> ICMPv4Header {
        ICMPv4Header(type: .timeExceeded, code: code)
    }

    public init(_ packet: ICMPv4Packet) {
        self.init(type: packet.type, code: packet.code, rest: packet.rest)
    }

    /// Parses the header of the message that is all of `bytes` (the checksum is not verified: that is
    /// the view's `checksumValid`, so the datapath can count failures and tools can still show them).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try ICMPv4Packet(checking: bytes))
    }

    @inlinable public var identifier: UInt16 { UInt16(truncatingIfNeeded: rest >> 16) }
    @inlinable public var sequence: UInt16 { UInt16(truncatingIfNeeded: rest) }
    @inlinable public var nextHopMTU: UInt16 { UInt16(truncatingIfNeeded: rest) }

    public var encodedLength: Int { ICMPv4Packet.headerLength }

    /// Writes the header at the start of `buffer` and the checksum over all of `buffer`: the body must
    /// already be in place after the header, and `buffer` must end where the message does.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        buffer.setU8(type.rawValue, at: ICMPv4Packet.Field.type)
        buffer.setU8(code.rawValue, at: ICMPv4Packet.Field.code)
        buffer.setU32(rest, at: ICMPv4Packet.Field.rest)
        ICMPv4Packet.fillChecksum(in: buffer)
    }

    /// The whole message: this header, then `body`, with the checksum over both.
    public func emitted(body: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: encodedLength + body.count)
        bytes.withUnsafeMutableBytes { buffer in
            if !body.isEmpty {
                body.withUnsafeBytes { buffer.slice(encodedLength, body.count).copyMemory(from: $0) }
            }
            emit(into: buffer)
        }
        return bytes
    }
}
