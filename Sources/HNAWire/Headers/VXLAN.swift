/// VXLAN (RFC 7348): the L2 overlay. An 8-byte header after UDP (`WellKnownPort.vxlan`, or after the HNA
/// shim with next protocol `.vxlan`) and then the inner Ethernet frame.
///
/// MPLS-over-UDP (RFC 7510), HNA's L3 overlay, has no header of its own: UDP to
/// `WellKnownPort.mplsOverUDP` is followed directly by an MPLS label stack (`MPLSPacket`).

/// A checked view of a VXLAN packet: header and inner frame.
public struct VXLANPacket {
    public enum Field {
        /// 8 bits: R R R R I R R R.
        public static let flags = 0
        /// 24 reserved bits, then the VNI.
        public static let reserved1 = 1
        /// 24-bit VNI in the high bytes of this 32-bit word; the low byte is reserved.
        public static let vni = 4
        public static let reserved2 = 7
    }

    public enum Bits {
        /// The "VNI valid" flag.
        public static let instance: UInt8 = 0x08
    }

    public static let header = "vxlan"
    public static let headerLength = 8

    public let bytes: UnsafeRawBufferPointer

    /// Checks the length and the I flag. The reserved flag bits and fields are ignored, as RFC 7348 asks
    /// of receivers.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.headerLength, in: bytes, header: Self.header)
        guard bytes.u8(at: Field.flags) & Bits.instance != 0 else {
            throw .malformed(header: Self.header, reason: "I flag clear: no valid VNI")
        }
        self.bytes = bytes
    }

    @inlinable public var vni: UInt32 { bytes.u32(at: Field.vni) >> 8 }
    /// The inner Ethernet frame.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: Self.headerLength) }
}

/// A VXLAN header as a value: the VNI is all it carries.
public struct VXLANHeader: Hashable, Sendable, WireEmittable {
    public static let maxVNI: UInt32 = 0xFF_FFFF

    /// 24 bits.
    public var vni: UInt32

    public init(vni: UInt32) { self.vni = vni & Self.maxVNI }

    public init(_ packet: VXLANPacket) { self.init(vni: packet.vni) }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try VXLANPacket(checking: bytes))
    }

    public var encodedLength: Int { VXLANPacket.headerLength }

    /// Writes the I flag, the VNI and zero reserved fields.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        buffer.setU32(UInt32(VXLANPacket.Bits.instance) << 24, at: VXLANPacket.Field.flags)
        buffer.setU32((vni & Self.maxVNI) << 8, at: VXLANPacket.Field.vni)
    }
}
