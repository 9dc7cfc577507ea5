import CHNALinux
import HNAWire

/// A TAP device: the daemon's side of a VM port. Ethernet frames the VM (a namespace in tests and the
/// lab) sends on the interface are read here; frames written here arrive on the interface.
///
/// One read(2)/write(2) per frame is what the TUN driver offers without vhost-net; the batch calls loop
/// in C so a burst costs one Swift→C transition. With `.multiQueue`, opening the same name again adds a
/// queue (one per datapath thread); with `.vnetHeader` every frame carries a `VirtioNetHeader` first,
/// which is what lets the kernel hand over checksum-pending and TSO/USO super-frames after
/// `setOffloads`.
public final class TapDevice {
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// IFF_VNET_HDR: frames are preceded by a virtio_net_hdr (`vnetHeaderSize` bytes).
        public static let vnetHeader = Options(rawValue: Int32(HNA_TAP_VNET_HDR))
        /// IFF_MULTI_QUEUE: each open of the name attaches one more queue.
        public static let multiQueue = Options(rawValue: Int32(HNA_TAP_MULTI_QUEUE))
    }

    /// TUN_F_* bits: which partially-done work (checksums, segmentation) the reader accepts.
    /// Needs `.vnetHeader`, since the header is where the kernel says what is left to do.
    public struct Offloads: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let checksum = Offloads(rawValue: UInt32(HNA_TUN_F_CSUM))
        public static let tso4 = Offloads(rawValue: UInt32(HNA_TUN_F_TSO4))
        public static let tso6 = Offloads(rawValue: UInt32(HNA_TUN_F_TSO6))
        public static let tsoECN = Offloads(rawValue: UInt32(HNA_TUN_F_TSO_ECN))
        public static let uso4 = Offloads(rawValue: UInt32(HNA_TUN_F_USO4))
        public static let uso6 = Offloads(rawValue: UInt32(HNA_TUN_F_USO6))
    }

    /// The interface name the kernel gave the device.
    public let name: String
    public let options: Options
    /// The descriptor; -1 once closed.
    public private(set) var fd: Int32
    /// Bytes of virtio_net_hdr in front of every frame (0 without `.vnetHeader`).
    public private(set) var vnetHeaderSize: Int

    var subject: String { "TAP device \(name)" }

    /// Opens (creating if needed) TAP device `name`. The interface appears down in the caller's network
    /// namespace; bring it up and move it with `LinkSetup`. The fd stays valid when the interface moves.
    public init(name: String, options: Options = [], nonBlocking: Bool = true) throws(LinuxError) {
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(" ") else {
            throw .invalidArgument(subject: "TAP device \(name)", reason: "interface names are 1 to 15 characters without '/' or spaces")
        }
        var out = [CChar](repeating: 0, count: 16)
        var stage: Int32 = 0
        let r = hna_tap_open(name, options.rawValue, &out, &stage)
        if r < 0 {
            throw .system(subject: "TAP device \(name)", operation: stage == 0 ? "/dev/net/tun" : "TUNSETIFF", errno: -r)
        }
        fd = r
        self.name = String(decoding: out.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.options = options
        vnetHeaderSize = options.contains(.vnetHeader) ? VirtioNetHeader.size : 0
        if nonBlocking {
            let n = hna_set_nonblocking(r, 1)
            if n < 0 {
                closeDescriptor(r)
                throw .system(subject: "TAP device \(name)", operation: "O_NONBLOCK", errno: -n)
            }
        }
    }

    deinit { closeDescriptor(fd) }

    public func close() {
        closeDescriptor(fd)
        fd = -1
    }

    /// TUNSETOFFLOAD. An empty set makes the kernel finish every checksum and segment before handing a
    /// frame over (the default).
    public func setOffloads(_ offloads: Offloads) throws(LinuxError) {
        _ = try LinuxError.check(hna_tap_set_offload(fd, offloads.rawValue), subject, "TUNSETOFFLOAD")
    }

    /// TUNSETVNETHDRSZ: 10 (plain virtio_net_hdr) or 12 (with num_buffers, the mergeable-buffers layout).
    public func setVnetHeaderSize(_ size: Int) throws(LinuxError) {
        guard options.contains(.vnetHeader) else {
            throw .invalidArgument(subject: subject, reason: "a vnet header size needs the vnetHeader option")
        }
        _ = try LinuxError.check(hna_tap_set_vnet_hdr_size(fd, Int32(size)), subject, "TUNSETVNETHDRSZ")
        vnetHeaderSize = size
    }

    /// Reads up to `maxCount` (default: the batch's capacity) waiting frames into slots 0..., stopping
    /// early once they add up to `maxBytes`; sets `batch.count` and returns it; 0 when nothing is waiting.
    /// With `lentSlots`, the slots keep the memory they were lent (`PacketBatch.lend`): frames land in
    /// the caller's buffers directly.
    @discardableResult
    public func read(into batch: PacketBatch, maxCount: Int? = nil, maxBytes: Int? = nil,
                     lentSlots: Bool = false) throws(LinuxError) -> Int {
        let n = min(maxCount ?? batch.capacity, batch.capacity)
        if !lentSlots { batch.prepareReceive(n) }
        let cap = maxBytes.map { UInt64(max(1, $0)) } ?? .max
        let r = try LinuxError.check(hna_fd_read_batch(fd, batch.messages, UInt32(n), cap), subject, "read")
        batch.count = Int(r)
        return Int(r)
    }

    /// Writes packets `range` (default: 0 ..< batch.count) as frames; returns how many the kernel took.
    /// Fewer than asked means the device would block (or refused a frame after the first): the caller
    /// retries from there or counts the rest as dropped.
    @discardableResult
    public func write(_ batch: PacketBatch, range: Range<Int>? = nil) throws(LinuxError) -> Int {
        let range = range ?? 0 ..< batch.count
        precondition(range.lowerBound >= 0 && range.upperBound <= batch.capacity, "range outside the batch")
        if range.isEmpty { return 0 }
        let r = try LinuxError.check(
            hna_fd_write_batch(fd, batch.messages + range.lowerBound, UInt32(range.count)), subject, "write")
        return Int(r)
    }
}

/// The virtio_net_hdr the TUN driver puts in front of frames with IFF_VNET_HDR (little-endian fields,
/// as TAP uses on little-endian hosts): what checksum and segmentation work is still to be done.
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 10
    public static let mergeableSize = 12

    public enum Field {
        public static let flags = 0
        public static let gsoType = 1
        public static let headerLength = 2
        public static let gsoSize = 4
        public static let checksumStart = 6
        public static let checksumOffset = 8
        public static let bufferCount = 10
    }

    /// `flags` bits.
    public static let needsChecksum: UInt8 = 1
    public static let dataValid: UInt8 = 2

    /// `gsoType` values.
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoUDP: UInt8 = 3
    public static let gsoTCPv6: UInt8 = 4
    public static let gsoUDPL4: UInt8 = 5
    public static let gsoECN: UInt8 = 0x80

    public var flags: UInt8 = 0
    public var gsoType: UInt8 = VirtioNetHeader.gsoNone
    public var headerLength: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var checksumStart: UInt16 = 0
    public var checksumOffset: UInt16 = 0

    public init() {}

    public init(parsing buffer: UnsafeRawBufferPointer) throws(WireError) {
        try WireError.require(VirtioNetHeader.size, in: buffer, header: "virtio_net_hdr")
        flags = buffer.u8(at: Field.flags)
        gsoType = buffer.u8(at: Field.gsoType)
        headerLength = buffer.u16(at: Field.headerLength).byteSwapped
        gsoSize = buffer.u16(at: Field.gsoSize).byteSwapped
        checksumStart = buffer.u16(at: Field.checksumStart).byteSwapped
        checksumOffset = buffer.u16(at: Field.checksumOffset).byteSwapped
    }

    /// Writes the header into the first `size` bytes (`size` 12 also zeroes num_buffers).
    public func write(to buffer: UnsafeMutableRawBufferPointer, size: Int = VirtioNetHeader.size) {
        precondition(buffer.count >= size && (size == VirtioNetHeader.size || size == VirtioNetHeader.mergeableSize))
        buffer.setU8(flags, at: Field.flags)
        buffer.setU8(gsoType, at: Field.gsoType)
        buffer.setU16(headerLength.byteSwapped, at: Field.headerLength)
        buffer.setU16(gsoSize.byteSwapped, at: Field.gsoSize)
        buffer.setU16(checksumStart.byteSwapped, at: Field.checksumStart)
        buffer.setU16(checksumOffset.byteSwapped, at: Field.checksumOffset)
        if size == VirtioNetHeader.mergeableSize { buffer.setU16(0, at: Field.bufferCount) }
    }
}
