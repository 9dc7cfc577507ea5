/// pcap (libpcap's classic format) and pcapng reading, and pcap writing.
///
/// Sans-I/O like the rest of HNAWire: the reader walks bytes the caller loaded, the writer appends to a
/// byte array the caller flushes. `hna decode` reads files with it; the daemon's `hna capture` writes
/// VM-port and fabric traffic with it.

/// The link type of captured frames (the pcap LINKTYPE_ registry).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let null = LinkType(rawValue: 0)
    public static let ethernet = LinkType(rawValue: 1)
    public static let raw = LinkType(rawValue: 101)
    public static let linuxSLL = LinkType(rawValue: 113)
    public static let ipv4 = LinkType(rawValue: 228)
    public static let ipv6 = LinkType(rawValue: 229)

    public var description: String { String(rawValue) }
}

/// One captured frame.
public struct CapturedPacket: Sendable, Equatable {
    /// Capture time in nanoseconds since the Unix epoch.
    public var timestamp: UInt64
    public var linkType: LinkType
    /// Length on the wire (may exceed `data.count` when the capture was truncated by a snap length).
    public var originalLength: Int
    public var data: [UInt8]

    public init(timestamp: UInt64, linkType: LinkType = .ethernet, originalLength: Int? = nil, data: [UInt8]) {
        self.timestamp = timestamp
        self.linkType = linkType
        self.originalLength = originalLength ?? data.count
        self.data = data
    }
}

public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    case notACapture
    case truncated(offset: Int)
    case malformed(offset: Int, reason: String)

    public var description: String {
        switch self {
        case .notACapture: return "not a pcap or pcapng file"
        case let .truncated(offset): return "capture truncated at byte \(offset)"
        case let .malformed(offset, reason): return "capture malformed at byte \(offset): \(reason)"
        }
    }
}

/// Reads every packet of a pcap or pcapng capture.
public enum CaptureReader {
    enum PcapMagic {
        static let micro: UInt32 = 0xA1B2_C3D4
        static let nano: UInt32 = 0xA1B2_3C4D
    }

    enum PcapField {
        static let globalHeaderLength = 24
        static let linkType = 20
        static let recordHeaderLength = 16
    }

    enum PcapngBlock {
        static let sectionHeader: UInt32 = 0x0A0D_0D0A
        static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
        static let interfaceDescription: UInt32 = 1
        static let simplePacket: UInt32 = 3
        static let enhancedPacket: UInt32 = 6
        static let minimumLength = 12
        /// A single block larger than this is treated as corrupt rather than allocated.
        static let maximumLength = 256 << 20
        static let optionTimestampResolution: UInt16 = 9
    }

    /// Parses a whole capture. Packets before a corrupt record are returned with the error, so a
    /// damaged file still shows what it holds.
    public static func read(_ bytes: [UInt8]) -> (packets: [CapturedPacket], error: CaptureError?) {
        bytes.withUnsafeBytes { raw in
            guard raw.count >= 4 else { return ([], .notACapture) }
            let first = raw.u32(at: 0)
            if first == PcapngBlock.sectionHeader { return readPcapng(raw) }
            if [PcapMagic.micro, PcapMagic.nano].contains(first) || [PcapMagic.micro, PcapMagic.nano].contains(first.byteSwapped) {
                return readPcap(raw)
            }
            return ([], .notACapture)
        }
    }

    /// Reads a 32-bit integer in the file's byte order.
    static func u32(_ raw: UnsafeRawBufferPointer, _ offset: Int, little: Bool) -> UInt32 {
        let v = raw.u32(at: offset)
        return little ? v.byteSwapped : v
    }

    static func u16(_ raw: UnsafeRawBufferPointer, _ offset: Int, little: Bool) -> UInt16 {
        let v = raw.u16(at: offset)
        return little ? v.byteSwapped : v
    }

    static func readPcap(_ raw: UnsafeRawBufferPointer) -> ([CapturedPacket], CaptureError?) {
        guard raw.count >= PcapField.globalHeaderLength else { return ([], .truncated(offset: raw.count)) }
        let magicBE = raw.u32(at: 0)
        let little = !(magicBE == PcapMagic.micro || magicBE == PcapMagic.nano)
        let magic = little ? magicBE.byteSwapped : magicBE
        let nanos = magic == PcapMagic.nano
        // The top bits of the link-type word carry FCS information in newer files; the type is 16 bits.
        let link = LinkType(rawValue: u32(raw, PcapField.linkType, little: little) & 0xFFFF)
        var packets: [CapturedPacket] = []
        var o = PcapField.globalHeaderLength
        while o < raw.count {
            guard o + PcapField.recordHeaderLength <= raw.count else { return (packets, .truncated(offset: o)) }
            let sec = UInt64(u32(raw, o, little: little))
            let frac = UInt64(u32(raw, o + 4, little: little))
            let incl = Int(u32(raw, o + 8, little: little))
            let orig = Int(u32(raw, o + 12, little: little))
            o += PcapField.recordHeaderLength
            guard incl <= raw.count - o else { return (packets, .truncated(offset: o)) }
            let ts = sec * 1_000_000_000 + (nanos ? frac : frac * 1000)
            packets.append(CapturedPacket(timestamp: ts, linkType: link, originalLength: orig,
                                          data: Array(raw.slice(o, incl))))
            o += incl
        }
        return (packets, nil)
    }

    static func readPcapng(_ raw: UnsafeRawBufferPointer) -> ([CapturedPacket], CaptureError?) {
        var packets: [CapturedPacket] = []
        var little = true
        // Per interface of the current section: link type and timestamp units per second.
        var interfaces: [(LinkType, UInt64)] = []
        var o = 0
        while o < raw.count {
            guard o + PcapngBlock.minimumLength <= raw.count else { return (packets, .truncated(offset: o)) }
            var type = raw.u32(at: o)
            if type == PcapngBlock.sectionHeader {
                guard o + 12 <= raw.count else { return (packets, .truncated(offset: o)) }
                let bom = raw.u32(at: o + 8)
                if bom == PcapngBlock.byteOrderMagic { little = false } else if bom.byteSwapped == PcapngBlock.byteOrderMagic { little = true } else {
                    return (packets, .malformed(offset: o, reason: "bad byte-order magic"))
                }
                interfaces = []
            } else if little {
                type = type.byteSwapped
            }
            let length = Int(u32(raw, o + 4, little: little))
            guard length >= PcapngBlock.minimumLength, length % 4 == 0, length <= PcapngBlock.maximumLength else {
                return (packets, .malformed(offset: o, reason: "block length \(length)"))
            }
            guard length <= raw.count - o else { return (packets, .truncated(offset: o)) }
            let body = raw.slice(o + 8, length - PcapngBlock.minimumLength)
            switch type {
            case PcapngBlock.interfaceDescription:
                guard body.count >= 8 else { return (packets, .malformed(offset: o, reason: "short interface block")) }
                let link = LinkType(rawValue: UInt32(u16(body, 0, little: little)))
                var unitsPerSecond: UInt64 = 1_000_000
                // Options: code(2) length(2) value padded to 4.
                var p = 8
                while p + 4 <= body.count {
                    let code = u16(body, p, little: little)
                    let len = Int(u16(body, p + 2, little: little))
                    if code == 0 { break }
                    guard p + 4 + len <= body.count else { break }
                    if code == PcapngBlock.optionTimestampResolution, len >= 1 {
                        let r = body.u8(at: p + 4)
                        let exp = UInt64(r & 0x7F)
                        if r & 0x80 == 0, exp <= 18 {
                            unitsPerSecond = (0 ..< exp).reduce(1) { acc, _ in acc * 10 }
                        } else if r & 0x80 != 0, exp <= 63 {
                            unitsPerSecond = 1 << exp
                        }
                    }
                    p += 4 + (len + 3) / 4 * 4
                }
                interfaces.append((link, unitsPerSecond))
            case PcapngBlock.enhancedPacket:
                guard body.count >= 20 else { return (packets, .malformed(offset: o, reason: "short packet block")) }
                let ifIndex = Int(u32(body, 0, little: little))
                guard ifIndex < interfaces.count else { return (packets, .malformed(offset: o, reason: "unknown interface \(ifIndex)")) }
                let ts = UInt64(u32(body, 4, little: little)) << 32 | UInt64(u32(body, 8, little: little))
                let incl = Int(u32(body, 12, little: little))
                let orig = Int(u32(body, 16, little: little))
                guard incl <= body.count - 20 else { return (packets, .malformed(offset: o, reason: "captured length \(incl)")) }
                let (link, units) = interfaces[ifIndex]
                let nanos = units == 1_000_000_000 ? ts : ts / units * 1_000_000_000 + (ts % units) * 1_000_000_000 / units
                packets.append(CapturedPacket(timestamp: nanos, linkType: link, originalLength: orig,
                                              data: Array(body.slice(20, incl))))
            case PcapngBlock.simplePacket:
                guard body.count >= 4, let first = interfaces.first else { return (packets, .malformed(offset: o, reason: "simple packet block")) }
                let orig = Int(u32(body, 0, little: little))
                let incl = min(orig, body.count - 4)
                packets.append(CapturedPacket(timestamp: 0, linkType: first.0, originalLength: orig,
                                              data: Array(body.slice(4, incl))))
            default:
                break
            }
            o += length
        }
        return (packets, nil)
    }
}

/// Writes a classic pcap stream with nanosecond timestamps, appending to `bytes`.
public struct PcapWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public let linkType: LinkType
    public let snapLength: Int

    public init(linkType: LinkType = .ethernet, snapLength: Int = 65535) {
        self.linkType = linkType
        self.snapLength = snapLength
        append32(CaptureReader.PcapMagic.nano)
        append16(2)
        append16(4)
        append32(0) // thiszone
        append32(0) // sigfigs
        append32(UInt32(snapLength))
        append32(linkType.rawValue)
    }

    /// Appends one frame; frames longer than the snap length are cut, keeping the original length.
    public mutating func write(_ frame: UnsafeRawBufferPointer, timestamp: UInt64) {
        let incl = min(frame.count, snapLength)
        append32(UInt32(truncatingIfNeeded: timestamp / 1_000_000_000))
        append32(UInt32(timestamp % 1_000_000_000))
        append32(UInt32(incl))
        append32(UInt32(truncatingIfNeeded: frame.count))
        bytes.append(contentsOf: frame.prefix(incl))
    }

    public mutating func write(_ frame: [UInt8], timestamp: UInt64) {
        frame.withUnsafeBytes { write($0, timestamp: timestamp) }
    }

    /// Hands over what has been written so far (for a driver that flushes to a file) and keeps going.
    public mutating func drain() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    // Native little-endian, as libpcap writes on x86; readers detect the order from the magic.
    private mutating func append32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    private mutating func append16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
}
