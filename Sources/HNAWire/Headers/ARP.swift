/// ARP (RFC 826) for Ethernet and IPv4 only: the one combination the virtual router answers (proxy ARP)
/// and the only one a VM on an Ethernet port sends. Any other hardware or protocol type is refused as
/// `unsupported` rather than half-read.

/// The ARP operation. Any value on the wire is representable; request and reply get names.
public struct ARPOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = ARPOperation(rawValue: 1)
    public static let reply = ARPOperation(rawValue: 2)

    public var description: String {
        switch self {
        case .request: return "request"
        case .reply: return "reply"
        default: return "op(\(rawValue))"
        }
    }
}

/// A checked view of an Ethernet/IPv4 ARP packet.
public struct ARPPacket {
    public enum Field {
        public static let hardwareType = 0
        public static let protocolType = 2
        public static let hardwareLength = 4
        public static let protocolLength = 5
        public static let operation = 6
        public static let senderMAC = 8
        public static let senderIP = 14
        public static let targetMAC = 18
        public static let targetIP = 24
    }

    public static let header = "arp"
    /// The hardware type of Ethernet (and of every IEEE 802 MAC).
    public static let hardwareTypeEthernet: UInt16 = 1
    /// The fixed part every ARP packet has, whatever its address types: types, lengths, operation.
    public static let fixedLength = Field.senderMAC
    /// The whole packet for Ethernet/IPv4. Frames on the wire are padded to 60 bytes; the padding is not
    /// part of the packet and is ignored.
    public static let length = Field.targetIP + IPv4Address.encodedLength

    public let bytes: UnsafeRawBufferPointer

    /// Checks that `bytes` start with an Ethernet/IPv4 ARP packet. The types are checked before the
    /// lengths, so an ARP for another network layer is `unsupported`, not `malformed`.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.fixedLength, in: bytes, header: Self.header)
        let htype = bytes.u16(at: Field.hardwareType)
        guard htype == Self.hardwareTypeEthernet else {
            throw .unsupported(header: Self.header, reason: "hardware type \(htype)")
        }
        let ptype = EtherType(rawValue: bytes.u16(at: Field.protocolType))
        guard ptype == .ipv4 else {
            throw .unsupported(header: Self.header, reason: "protocol type \(ptype)")
        }
        // A different length for these types is a lie about the addresses, not another format.
        guard Int(bytes.u8(at: Field.hardwareLength)) == MACAddress.encodedLength,
              Int(bytes.u8(at: Field.protocolLength)) == IPv4Address.encodedLength else {
            throw .malformed(header: Self.header, reason: "address lengths \(bytes.u8(at: Field.hardwareLength))/"
                + "\(bytes.u8(at: Field.protocolLength)) for Ethernet/IPv4")
        }
        try WireError.require(Self.length, in: bytes, header: Self.header)
        self.bytes = bytes
    }

    @inlinable public var operation: ARPOperation { ARPOperation(rawValue: bytes.u16(at: Field.operation)) }
    @inlinable public var senderMAC: MACAddress { MACAddress(reading: bytes, at: Field.senderMAC) }
    @inlinable public var senderIP: IPv4Address { IPv4Address(reading: bytes, at: Field.senderIP) }
    @inlinable public var targetMAC: MACAddress { MACAddress(reading: bytes, at: Field.targetMAC) }
    @inlinable public var targetIP: IPv4Address { IPv4Address(reading: bytes, at: Field.targetIP) }
}

/// An Ethernet/IPv4 ARP packet as a value.
public struct ARPHeader: Hashable, Sendable, WireEmittable {
    public var operation: ARPOperation
    public var senderMAC: MACAddress
    public var senderIP: IPv4Address
    /// Zero in a request: the address being asked for is unknown.
    public var targetMAC: MACAddress
    public var targetIP: IPv4Address

    public init(operation: ARPOperation, senderMAC: MACAddress, senderIP: IPv4Address,
                targetMAC: MACAddress = .zero, targetIP: IPv4Address) {
        self.operation = operation
        self.senderMAC = senderMAC
        self.senderIP = senderIP
        self.targetMAC = targetMAC
        self.targetIP = targetIP
    }

    public init(_ packet: ARPPacket) {
        self.init(operation: packet.operation, senderMAC: packet.senderMAC, senderIP: packet.senderIP,
                  targetMAC: packet.targetMAC, targetIP: packet.targetIP)
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try ARPPacket(checking: bytes))
    }

    /// The reply to this request that says `targetIP` is at `mac` (what proxy ARP sends back).
    public func reply(with mac: MACAddress) -> ARPHeader {
        ARPHeader(operation: .reply, senderMAC: mac, senderIP: targetIP, targetMAC: senderMAC, targetIP: senderIP)
    }

    public var encodedLength: Int { ARPPacket.length }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        typealias F = ARPPacket.Field
        buffer.setU16(ARPPacket.hardwareTypeEthernet, at: F.hardwareType)
        buffer.setU16(EtherType.ipv4.rawValue, at: F.protocolType)
        buffer.setU8(UInt8(MACAddress.encodedLength), at: F.hardwareLength)
        buffer.setU8(UInt8(IPv4Address.encodedLength), at: F.protocolLength)
        buffer.setU16(operation.rawValue, at: F.operation)
        senderMAC.write(to: buffer, at: F.senderMAC)
        senderIP.write(to: buffer, at: F.senderIP)
        targetMAC.write(to: buffer, at: F.targetMAC)
        targetIP.write(to: buffer, at: F.targetIP)
    }
}
