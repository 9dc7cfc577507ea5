/// ICMPv6 (RFC 4443) and the Neighbor Discovery messages the router takes part in (RFC 4861): router
/// solicitation and advertisement, neighbor solicitation and advertisement with their link-layer
/// address options. HNA's links are Ethernet, so a link-layer address is a MAC.
///
/// The checksum covers the IPv6 pseudo-header, so checking and emitting it needs the packet's source
/// and destination addresses.

/// The ICMPv6 message type. Any value on the wire is representable; the ones the router sends or
/// answers get names.
public struct ICMPv6Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let destinationUnreachable = ICMPv6Type(rawValue: 1)
    public static let packetTooBig = ICMPv6Type(rawValue: 2)
    public static let timeExceeded = ICMPv6Type(rawValue: 3)
    public static let parameterProblem = ICMPv6Type(rawValue: 4)
    public static let echoRequest = ICMPv6Type(rawValue: 128)
    public static let echoReply = ICMPv6Type(rawValue: 129)
    public static let routerSolicitation = ICMPv6Type(rawValue: 133)
    public static let routerAdvertisement = ICMPv6Type(rawValue: 134)
    public static let neighborSolicitation = ICMPv6Type(rawValue: 135)
    public static let neighborAdvertisement = ICMPv6Type(rawValue: 136)
    public static let redirect = ICMPv6Type(rawValue: 137)

    /// RFC 4443 section 2.1: types 0-127 are errors, which are never sent in reply to another error.
    @inlinable public var isError: Bool { rawValue < 128 }

    /// The four NDP messages whose fixed part and options this implementation reads.
    @inlinable public var isNeighborDiscovery: Bool { (133 ... 136).contains(rawValue) }

    public var description: String {
        switch self {
        case .destinationUnreachable: return "destination-unreachable"
        case .packetTooBig: return "packet-too-big"
        case .timeExceeded: return "time-exceeded"
        case .parameterProblem: return "parameter-problem"
        case .echoRequest: return "echo-request"
        case .echoReply: return "echo-reply"
        case .routerSolicitation: return "router-solicitation"
        case .routerAdvertisement: return "router-advertisement"
        case .neighborSolicitation: return "neighbor-solicitation"
        case .neighborAdvertisement: return "neighbor-advertisement"
        case .redirect: return "redirect"
        default: return "type(\(rawValue))"
        }
    }
}

/// The ICMPv6 code. Its meaning depends on the type; the names say which type they belong to.
public struct ICMPv6Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The only code of echo, packet too big and the NDP messages.
    public static let zero = ICMPv6Code(rawValue: 0)

    // Destination unreachable.
    public static let noRoute = ICMPv6Code(rawValue: 0)
    public static let administrativelyProhibited = ICMPv6Code(rawValue: 1)
    public static let beyondScope = ICMPv6Code(rawValue: 2)
    public static let addressUnreachable = ICMPv6Code(rawValue: 3)
    public static let portUnreachable = ICMPv6Code(rawValue: 4)

    // Time exceeded.
    public static let hopLimitExceeded = ICMPv6Code(rawValue: 0)
    public static let reassemblyTimeExceeded = ICMPv6Code(rawValue: 1)

    public var description: String { String(rawValue) }
}

/// The type of an NDP option (RFC 4861 section 4.6).
public struct NDPOptionType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let sourceLinkLayerAddress = NDPOptionType(rawValue: 1)
    public static let targetLinkLayerAddress = NDPOptionType(rawValue: 2)
    public static let prefixInformation = NDPOptionType(rawValue: 3)
    public static let redirectedHeader = NDPOptionType(rawValue: 4)
    public static let mtu = NDPOptionType(rawValue: 5)
}

/// The two timers of a router advertisement, in milliseconds (0: unspecified by this router).
public struct RouterAdvertisementTimers: Hashable, Sendable {
    public var reachableTime: UInt32
    public var retransTimer: UInt32

    public init(reachableTime: UInt32 = 0, retransTimer: UInt32 = 0) {
        self.reachableTime = reachableTime
        self.retransTimer = retransTimer
    }
}

/// A checked view of an ICMPv6 message. For the NDP types (133-136) the check also covers the fixed
/// part and walks every option, so the link-layer address accessors cannot read out of bounds.
public struct ICMPv6Packet {
    public enum Field {
        public static let type = 0
        public static let code = 1
        public static let checksum = 2
        /// Four type-specific bytes: identifier and sequence (echo), MTU (packet too big), pointer
        /// (parameter problem), R/S/O flags (NA), hop limit, M/O flags and router lifetime (RA).
        public static let rest = 4
        public static let identifier = 4
        public static let sequence = 6
        public static let mtu = 4
        public static let raCurHopLimit = 4
        public static let raFlags = 5
        public static let raRouterLifetime = 6
        public static let raReachableTime = 8
        public static let raRetransTimer = 12
        /// NS and NA.
        public static let target = 8
        /// Everything after the first 8 bytes for non-NDP messages.
        public static let body = 8
    }

    /// Offsets inside an NDP option.
    public enum OptionField {
        public static let type = 0
        /// In 8-byte units, type and length included; 0 is invalid.
        public static let length = 1
        public static let linkLayerAddress = 2
    }

    public enum Bits {
        /// NA flags, in the 32-bit `rest` word.
        public static let router: UInt32 = 0x8000_0000
        public static let solicited: UInt32 = 0x4000_0000
        public static let override: UInt32 = 0x2000_0000
        /// RA flags, in the byte at `Field.raFlags`.
        public static let managed: UInt8 = 0x80
        public static let otherConfiguration: UInt8 = 0x40
    }

    public static let header = "icmpv6"
    public static let headerLength = 8
    public static let optionUnit = 8
    /// An Ethernet link-layer address option: type, length 1, MAC.
    public static let linkLayerOptionLength = 8

    /// The length of the part before the options, for each NDP type (8 for every other type).
    @inlinable
    public static func fixedLength(of type: ICMPv6Type) -> Int {
        switch type {
        case .routerAdvertisement: return Field.raRetransTimer + MemoryLayout<UInt32>.size
        case .neighborSolicitation, .neighborAdvertisement: return Field.target + IPv6Address.encodedLength
        default: return headerLength
        }
    }

    /// The whole ICMPv6 message.
    public let bytes: UnsafeRawBufferPointer
    /// Offsets of the first source and target link-layer address options (NDP types only).
    public let sourceLinkLayerOffset: Int?
    public let targetLinkLayerOffset: Int?

    /// `bytes` must be exactly the message (the upper-layer payload): the checksum and the NDP options
    /// run to its end.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.headerLength, in: bytes, header: Self.header)
        let type = ICMPv6Type(rawValue: bytes.u8(at: Field.type))
        var source: Int?
        var target: Int?
        if type.isNeighborDiscovery {
            var offset = Self.fixedLength(of: type)
            try WireError.require(offset, in: bytes, header: Self.header)
            // Every option is at least 8 bytes, so this ends within count/8 steps.
            while offset < bytes.count {
                try WireError.require(offset + 2, in: bytes, header: Self.header)
                let optionType = NDPOptionType(rawValue: bytes.u8(at: offset + OptionField.type))
                let length = Int(bytes.u8(at: offset + OptionField.length)) * Self.optionUnit
                guard length > 0 else {
                    throw .malformed(header: Self.header, reason: "NDP option \(optionType.rawValue) with length 0")
                }
                try WireError.require(offset + length, in: bytes, header: Self.header)
                if optionType == .sourceLinkLayerAddress || optionType == .targetLinkLayerAddress {
                    guard length == Self.linkLayerOptionLength else {
                        throw .unsupported(header: Self.header, reason: "link-layer address option of \(length) bytes (not Ethernet)")
                    }
                    if optionType == .sourceLinkLayerAddress {
                        if source == nil { source = offset }
                    } else if target == nil {
                        target = offset
                    }
                }
                offset += length
            }
        }
        self.bytes = bytes
        self.sourceLinkLayerOffset = source
        self.targetLinkLayerOffset = target
    }

    @inlinable public var type: ICMPv6Type { ICMPv6Type(rawValue: bytes.u8(at: Field.type)) }
    @inlinable public var code: ICMPv6Code { ICMPv6Code(rawValue: bytes.u8(at: Field.code)) }
    @inlinable public var checksum: UInt16 { bytes.u16(at: Field.checksum) }
    @inlinable public var rest: UInt32 { bytes.u32(at: Field.rest) }
    @inlinable public var identifier: UInt16 { bytes.u16(at: Field.identifier) }
    @inlinable public var sequence: UInt16 { bytes.u16(at: Field.sequence) }
    @inlinable public var mtu: UInt32 { bytes.u32(at: Field.mtu) }

    /// The target of an NS or NA; nil for every other type.
    @inlinable public var target: IPv6Address? {
        let t = type
        guard t == .neighborSolicitation || t == .neighborAdvertisement else { return nil }
        return IPv6Address(reading: bytes, at: Field.target)
    }

    /// NA flags.
    @inlinable public var isRouter: Bool { rest & Bits.router != 0 }
    @inlinable public var isSolicited: Bool { rest & Bits.solicited != 0 }
    @inlinable public var isOverride: Bool { rest & Bits.override != 0 }

    /// The RA timers; nil for every other type.
    @inlinable public var routerTimers: RouterAdvertisementTimers? {
        guard type == .routerAdvertisement else { return nil }
        return RouterAdvertisementTimers(reachableTime: bytes.u32(at: Field.raReachableTime),
                                         retransTimer: bytes.u32(at: Field.raRetransTimer))
    }

    @inlinable public var sourceLinkLayerAddress: MACAddress? {
        sourceLinkLayerOffset.map { MACAddress(reading: bytes, at: $0 + OptionField.linkLayerAddress) }
    }

    @inlinable public var targetLinkLayerAddress: MACAddress? {
        targetLinkLayerOffset.map { MACAddress(reading: bytes, at: $0 + OptionField.linkLayerAddress) }
    }

    /// The NDP options (all of them, walked and length-checked); empty for other types.
    @inlinable public var options: UnsafeRawBufferPointer {
        type.isNeighborDiscovery ? bytes.tail(from: Self.fixedLength(of: type)) : bytes.tail(from: bytes.count)
    }

    /// After the first 8 bytes: echo data, or the invoking packet of an error.
    @inlinable public var body: UnsafeRawBufferPointer { bytes.tail(from: Field.body) }

    /// The checksum over the pseudo-header of the carrying IPv6 packet and the whole message holds.
    @inlinable
    public func checksumValid(source: IPv6Address, destination: IPv6Address) -> Bool {
        var c = InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .icmpv6,
                                              length: bytes.count)
        c.add(bytes)
        return c.checksum == 0
    }

    /// Computes and stores the checksum of the ICMPv6 message that is all of `message`.
    @inlinable
    public static func fillChecksum(in message: UnsafeMutableRawBufferPointer, source: IPv6Address,
                                    destination: IPv6Address) {
        message.setU16(0, at: Field.checksum)
        var c = InternetChecksum.pseudoHeader(source: source, destination: destination, protocol: .icmpv6,
                                              length: message.count)
        c.add(UnsafeRawBufferPointer(message))
        message.setU16(c.checksum, at: Field.checksum)
    }
}

/// An ICMPv6 header as a value: the first 8 bytes, and for the NDP types their fixed part and
/// link-layer address option. Echo data, the invoking packet of an error and NDP options other than the
/// link-layer address are the body, not part of the value.
///
/// Parsing gives `target` only for NS and NA, `routerTimers` only for RA and `linkLayerAddress` only for
/// RS, RA, NS (the source link-layer option) and NA (the target link-layer option); `emit` reads them
/// under the same rule and ignores them for other types. The static constructors build values that
/// follow it.
public struct ICMPv6Header: Hashable, Sendable, WireEmittable {
    public var type: ICMPv6Type
    public var code: ICMPv6Code
    /// The four type-specific bytes (see `ICMPv6Packet.Field.rest`).
    public var rest: UInt32
    public var target: IPv6Address?
    public var routerTimers: RouterAdvertisementTimers?
    public var linkLayerAddress: MACAddress?

    public init(type: ICMPv6Type, code: ICMPv6Code = .zero, rest: UInt32 = 0, target: IPv6Address? = nil,
                routerTimers: RouterAdvertisementTimers? = nil, linkLayerAddress: MACAddress? = nil) {
        self.type = type
        self.code = code
        self.rest = rest
        self.target = target
        self.routerTimers = routerTimers
        self.linkLayerAddress = linkLayerAddress
    }

    public static func echoRequest(identifier: UInt16, sequence: UInt16) -> ICMPv6Header {
        ICMPv6Header(type: .echoRequest, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    public static func echoReply(identifier: UInt16, sequence: UInt16) -> ICMPv6Header {
        ICMPv6Header(type: .echoReply, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    public static func destinationUnreachable(_ code: ICMPv6Code) -> ICMPv6Header {
        ICMPv6Header(type: .destinationUnreachable, code: code)
    }

    public static func packetTooBig(mtu: UInt32) -> ICMPv6Header {
        ICMPv6Header(type: .packetTooBig, rest: mtu)
    }

    public static func timeExceeded(_ code: ICMPv6Code = .hopLimitExceeded) -> ICMPv6Header {
        ICMPv6Header(type: .timeExceeded, code: code)
    }

    public static func routerSolicitation(sourceLinkLayer: MACAddress? = nil) -> ICMPv6Header {
        ICMPv6Header(type: .routerSolicitation, linkLayerAddress: sourceLinkLayer)
    }

    public static func routerAdvertisement(
        curHopLimit: UInt8, managed: Bool = false, otherConfiguration: Bool = false, routerLifetime: UInt16,
        timers: RouterAdvertisementTimers = RouterAdvertisementTimers(), sourceLinkLayer: MACAddress? = nil
    ) -> ICMPv6Header {
        var flags: UInt8 = 0
        if managed { flags |= ICMPv6Packet.Bits.managed }
        if otherConfiguration { flags |= ICMPv6Packet.Bits.otherConfiguration }
        return ICMPv6Header(type: .routerAdvertisement,
                            rest: UInt32(curHopLimit) << 24 | UInt32(flags) << 16 | UInt32(routerLifetime),
                            routerTimers: timers, linkLayerAddress: sourceLinkLayer)
    }

    public static func neighborSolicitation(target: IPv6Address, sourceLinkLayer: MACAddress? = nil) -> ICMPv6Header {
        ICMPv6Header(type: .neighborSolicitation, target: target, linkLayerAddress: sourceLinkLayer)
    }

    /// RFC 4861 section 7.2.4: a solicited reply sets S; a router sets R; O tells the receiver to
    /// replace a cached link-layer address.
    public static func neighborAdvertisement(target: IPv6Address, targetLinkLayer: MACAddress?, router: Bool,
                                             solicited: Bool, override: Bool) -> ICMPv6Header {
        typealias B = ICMPv6Packet.Bits
        var rest: UInt32 = 0
        if router { rest |= B.router }
        if solicited { rest |= B.solicited }
        if override { rest |= B.override }
        return ICMPv6Header(type: .neighborAdvertisement, rest: rest, target: target,
                            linkLayerAddress: targetLinkLayer)
    }

    public init(_ packet: ICMPv6Packet) {
        let type = packet.type
        var link: MACAddress?
        switch type {
        case .routerSolicitation, .routerAdvertisement, .neighborSolicitation: link = packet.sourceLinkLayerAddress
        case .neighborAdvertisement: link = packet.targetLinkLayerAddress
        default: link = nil
        }
        self.init(type: type, code: packet.code, rest: packet.rest, target: packet.target,
                  routerTimers: packet.routerTimers, linkLayerAddress: link)
    }

    /// Parses the message that is all of `bytes` (the checksum is not verified: it needs the IPv6
    /// addresses; see the view's `checksumValid(source:destination:)`).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try ICMPv6Packet(checking: bytes))
    }

    @inlinable public var identifier: UInt16 { UInt16(truncatingIfNeeded: rest >> 16) }
    @inlinable public var sequence: UInt16 { UInt16(truncatingIfNeeded: rest) }
    @inlinable public var mtu: UInt32 { rest }
    @inlinable public var isRouter: Bool { rest & ICMPv6Packet.Bits.router != 0 }
    @inlinable public var isSolicited: Bool { rest & ICMPv6Packet.Bits.solicited != 0 }
    @inlinable public var isOverride: Bool { rest & ICMPv6Packet.Bits.override != 0 }
    @inlinable public var curHopLimit: UInt8 { UInt8(truncatingIfNeeded: rest >> 24) }
    @inlinable public var isManaged: Bool { UInt8(truncatingIfNeeded: rest >> 16) & ICMPv6Packet.Bits.managed != 0 }
    @inlinable public var isOtherConfiguration: Bool {
        UInt8(truncatingIfNeeded: rest >> 16) & ICMPv6Packet.Bits.otherConfiguration != 0
    }
    @inlinable public var routerLifetime: UInt16 { UInt16(truncatingIfNeeded: rest) }

    /// The link-layer option this message type carries, if any.
    @inlinable var linkLayerOptionType: NDPOptionType? {
        switch type {
        case .routerSolicitation, .routerAdvertisement, .neighborSolicitation: return .sourceLinkLayerAddress
        case .neighborAdvertisement: return .targetLinkLayerAddress
        default: return nil
        }
    }

    public var encodedLength: Int {
        ICMPv6Packet.fixedLength(of: type)
            + (linkLayerOptionType != nil && linkLayerAddress != nil ? ICMPv6Packet.linkLayerOptionLength : 0)
    }

    /// Writes the header with a zero checksum: the checksum needs the IPv6 addresses, so finish with
    /// `ICMPv6Packet.fillChecksum(in:source:destination:)` over the whole message, or use
    /// `emit(into:source:destination:)`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias F = ICMPv6Packet.Field
        buffer.setU8(type.rawValue, at: F.type)
        buffer.setU8(code.rawValue, at: F.code)
        buffer.setU16(0, at: F.checksum)
        buffer.setU32(rest, at: F.rest)
        switch type {
        case .neighborSolicitation, .neighborAdvertisement:
            (target ?? .any).write(to: buffer, at: F.target)
        case .routerAdvertisement:
            let timers = routerTimers ?? RouterAdvertisementTimers()
            buffer.setU32(timers.reachableTime, at: F.raReachableTime)
            buffer.setU32(timers.retransTimer, at: F.raRetransTimer)
        default:
            break
        }
        if let option = linkLayerOptionType, let linkLayerAddress {
            typealias O = ICMPv6Packet.OptionField
            let o = ICMPv6Packet.fixedLength(of: type)
            buffer.setU8(option.rawValue, at: o + O.type)
            buffer.setU8(UInt8(ICMPv6Packet.linkLayerOptionLength / ICMPv6Packet.optionUnit), at: o + O.length)
            linkLayerAddress.write(to: buffer, at: o + O.linkLayerAddress)
        }
    }

    /// Writes the header at the start of `buffer` and the checksum over the pseudo-header and all of
    /// `buffer`: the body must already be in place, and `buffer` must end where the message does.
    public func emit(into buffer: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address) {
        emit(into: buffer)
        ICMPv6Packet.fillChecksum(in: buffer, source: source, destination: destination)
    }

    /// The whole message: this header, then `body`, with the checksum for the given addresses.
    public func emitted(source: IPv6Address, destination: IPv6Address, body: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: encodedLength + body.count)
        bytes.withUnsafeMutableBytes { buffer in
            if !body.isEmpty {
                body.withUnsafeBytes { buffer.slice(encodedLength, body.count).copyMemory(from: $0) }
            }
            emit(into: buffer, source: source, destination: destination)
        }
        return bytes
    }
}
