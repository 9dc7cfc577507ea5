/// Ethernet II frames with any number (up to `EthernetFrame.maxTags`) of 802.1Q / 802.1ad tags.
///
/// The FCS is not part of the bytes HNA sees (TAP devices, sockets and pcap all strip it).

/// One VLAN tag: its TPID (0x8100 for 802.1Q, 0x88a8 for an 802.1ad service tag) and its TCI.
public struct VLANTag: Hashable, Sendable {
    public var tpid: EtherType
    /// Priority code point (802.1p), 3 bits.
    public var pcp: UInt8
    /// Drop-eligible indicator.
    public var dei: Bool
    /// VLAN identifier, 12 bits.
    public var vid: UInt16

    public init(tpid: EtherType = .vlan, pcp: UInt8 = 0, dei: Bool = false, vid: UInt16) {
        self.tpid = tpid
        self.pcp = pcp & 0x7
        self.dei = dei
        self.vid = vid & 0x0FFF
    }

    @inlinable var tci: UInt16 { UInt16(pcp & 7) << 13 | (dei ? 0x1000 : 0) | (vid & 0x0FFF) }

    init(tpid: EtherType, tci: UInt16) {
        self.init(tpid: tpid, pcp: UInt8(tci >> 13), dei: tci & 0x1000 != 0, vid: tci & 0x0FFF)
    }
}

/// A checked view of an Ethernet frame: destination, source, tags, EtherType, payload.
public struct EthernetFrame {
    /// Byte offsets of the untagged header's fields.
    public enum Field {
        public static let destination = 0
        public static let source = 6
        /// The first TPID or EtherType.
        public static let etherType = 12
    }

    public static let header = "ethernet"
    /// Destination + source + EtherType.
    public static let minimumHeaderLength = 14
    /// TPID + TCI.
    public static let tagLength = 4
    /// More tags than this is treated as malformed rather than walked without bound.
    public static let maxTags = 4

    public let bytes: UnsafeRawBufferPointer
    /// Number of VLAN tags between the source MAC and the EtherType.
    public let tagCount: Int

    /// Checks that `bytes` hold a full header, including every tag it announces.
    @inlinable
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(Self.minimumHeaderLength, in: bytes, header: Self.header)
        var tags = 0
        var offset = Field.etherType
        while EtherType(rawValue: bytes.u16(at: offset)).isVLANTag {
            tags += 1
            if tags > Self.maxTags {
                throw .malformed(header: Self.header, reason: "more than \(Self.maxTags) VLAN tags")
            }
            offset += Self.tagLength
            try WireError.require(offset + 2, in: bytes, header: Self.header)
        }
        self.bytes = bytes
        self.tagCount = tags
    }

    @inlinable public var headerLength: Int { Self.minimumHeaderLength + tagCount * Self.tagLength }
    @inlinable public var destination: MACAddress { MACAddress(reading: bytes, at: Field.destination) }
    @inlinable public var source: MACAddress { MACAddress(reading: bytes, at: Field.source) }
    /// The EtherType after all tags.
    @inlinable public var etherType: EtherType {
        EtherType(rawValue: bytes.u16(at: Field.etherType + tagCount * Self.tagLength))
    }

    /// Tag `index`, outermost first; `index` must be below `tagCount`.
    public func tag(_ index: Int) -> VLANTag {
        precondition(index < tagCount)
        let o = Field.etherType + index * Self.tagLength
        return VLANTag(tpid: EtherType(rawValue: bytes.u16(at: o)), tci: bytes.u16(at: o + 2))
    }

    @inlinable public var payload: UnsafeRawBufferPointer { bytes.tail(from: headerLength) }
}

/// An Ethernet header as a value.
public struct EthernetHeader: Hashable, Sendable, WireEmittable {
    public var destination: MACAddress
    public var source: MACAddress
    /// Outermost first.
    public var vlans: [VLANTag]
    /// The EtherType after the tags.
    public var etherType: EtherType

    public init(destination: MACAddress, source: MACAddress, vlans: [VLANTag] = [], etherType: EtherType) {
        self.destination = destination
        self.source = source
        self.vlans = vlans
        self.etherType = etherType
    }

    public init(_ frame: EthernetFrame) {
        destination = frame.destination
        source = frame.source
        vlans = (0 ..< frame.tagCount).map(frame.tag)
        etherType = frame.etherType
    }

    /// Parses the header at the start of `bytes`.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.init(try EthernetFrame(checking: bytes))
    }

    public var encodedLength: Int { EthernetFrame.minimumHeaderLength + vlans.count * EthernetFrame.tagLength }

    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        destination.write(to: buffer, at: EthernetFrame.Field.destination)
        source.write(to: buffer, at: EthernetFrame.Field.source)
        var o = EthernetFrame.Field.etherType
        for tag in vlans {
            buffer.setU16(tag.tpid.rawValue, at: o)
            buffer.setU16(tag.tci, at: o + 2)
            o += EthernetFrame.tagLength
        }
        buffer.setU16(etherType.rawValue, at: o)
    }
}
