/// Segmentation and checksum offloads done in software, so a driver can trade many small packets for
/// one large one at its system-call boundary (a TAP with virtio-net headers, UDP GSO/GRO) while the
/// datapath in between still sees ordinary MTU-sized packets (docs/daemon.md, "Offloads").
///
/// Everything here works on Ethernet frames carrying IPv4 (options allowed, no fragments) or IPv6 (no
/// extension headers) and TCP: the only protocol a VM hands over as a TSO super-frame, and the only one
/// worth coalescing for it.
public enum TCPOffload {
    /// The headers of an Ethernet/IP/TCP frame, located and checked once.
    public struct Layout: Equatable, Sendable {
        /// Offset of the IP header.
        public var l3: Int
        /// Offset of the TCP header.
        public var l4: Int
        /// Bytes of headers (Ethernet + IP + TCP with options): where the TCP payload starts.
        public var headerLength: Int
        /// TCP payload bytes (up to the IP length: link padding excluded).
        public var payloadLength: Int
        public var isIPv6: Bool

        /// Locates the headers. Throws for anything that is not plain (untagged) Ethernet, IPv4 that is
        /// no fragment or IPv6 without extension headers, and a complete TCP header.
        @inlinable
        public init(frame: UnsafeRawBufferPointer) throws(WireError) {
            let eth = try EthernetFrame(checking: frame)
            guard eth.headerLength == EthernetFrame.minimumHeaderLength else {
                throw .unsupported(header: "tcp-offload", reason: "VLAN-tagged frame")
            }
            guard eth.etherType == .ipv4 || eth.etherType == .ipv6 else {
                throw .unsupported(header: "tcp-offload", reason: "not IP")
            }
            try self.init(packet: frame, l3: eth.headerLength)
        }

        /// Locates the headers of the IP packet at `l3`, the bytes before it being headers that every
        /// segment repeats as they are (Ethernet; a tunnel header and the inner Ethernet header; an MPLS
        /// label). The IP version comes from the packet's first nibble.
        @inlinable
        public init(packet frame: UnsafeRawBufferPointer, l3: Int) throws(WireError) {
            guard l3 >= 0, l3 < frame.count else { throw .truncated(header: "tcp-offload", needed: l3 + 1, available: frame.count) }
            self.l3 = l3
            let ipBytes = frame.tail(from: l3)
            let ipEnd: Int
            let version = ipBytes.u8(at: 0) >> 4
            if version == IPv4Packet.version {
                let ip = try IPv4Packet(checking: ipBytes)
                guard !ip.isFragment else { throw .unsupported(header: "tcp-offload", reason: "IPv4 fragment") }
                guard ip.protocol == .tcp else { throw .unsupported(header: "tcp-offload", reason: "not TCP") }
                l4 = l3 + ip.headerLength
                ipEnd = l3 + ip.totalLength
                isIPv6 = false
            } else if version == IPv6Packet.version {
                let ip = try IPv6Packet(checking: ipBytes)
                guard ip.nextHeader == .tcp else {
                    throw .unsupported(header: "tcp-offload", reason: "IPv6 extension headers or not TCP")
                }
                l4 = l3 + IPv6Packet.headerLength
                ipEnd = l4 + ip.payloadLength
                isIPv6 = true
            } else {
                throw .unsupported(header: "tcp-offload", reason: "not IP")
            }
            let tcp = try TCPSegment(checking: frame.slice(l4, ipEnd - l4))
            headerLength = l4 + tcp.headerLength
            payloadLength = ipEnd - headerLength
        }
    }

    // MARK: Checksum completion

    /// Finishes a checksum the sender left partial (virtio-net NEEDS_CSUM, Linux CHECKSUM_PARTIAL): the
    /// field at `start + offset` holds the folded pseudo-header sum, and the one's-complement sum of
    /// everything from `start` to the end of `frame` (that field included) is stored there inverted.
    /// Throws when the field lies outside the frame.
    @inlinable
    public static func completeChecksum(_ frame: UnsafeMutableRawBufferPointer, start: Int, offset: Int) throws(WireError) {
        guard start >= 0, offset >= 0, start + offset + 2 <= frame.count else {
            throw .malformed(header: "checksum-offload", reason: "checksum field \(start)+\(offset) outside \(frame.count) bytes")
        }
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(frame).tail(from: start))
        var value = c.checksum
        // UDP's zero means "no checksum": a computed zero is sent as all ones (RFC 768); for TCP the two
        // are the same value in one's complement, so this is harmless there.
        if value == 0 { value = 0xFFFF }
        frame.setU16(value, at: start + offset)
    }

    // MARK: Segmentation (TSO in software)

    /// A TCP super-frame (one header, up to 64 KiB of payload) and the MSS-sized frames it stands for.
    /// Segment `i` carries payload bytes `i·segmentSize ..< min((i+1)·segmentSize, payloadLength)` with
    /// the same headers, except: IPv4 total length, identification (+i) and header checksum; IPv6
    /// payload length; TCP sequence number (+i·segmentSize), FIN and PSH only on the last segment, CWR
    /// only on the first, and a full TCP checksum — what the kernel's own GSO produces.
    public struct Segmenter {
        public let layout: Layout
        public let segmentSize: Int
        public let segmentCount: Int
        @usableFromInline let frame: UnsafeRawBufferPointer
        @usableFromInline let sequence: UInt32
        @usableFromInline let identification: UInt16
        @usableFromInline let flags: UInt16
        /// The IPv4 header's one's-complement sum without the three fields a segment changes (total
        /// length, identification, checksum): a segment's header checksum is then two additions, not a
        /// pass over the header it has just written (whose fresh 16-bit stores a wide load would stall on).
        @usableFromInline let ipv4PartialSum: UInt32
        /// The TCP pseudo-header's sum without its length.
        @usableFromInline let pseudoHeaderSum: InternetChecksum

        /// Checks the frame's headers. `segmentSize` is the MSS the sender asked for (virtio gso_size).
        @inlinable
        public init(frame: UnsafeRawBufferPointer, segmentSize: Int) throws(WireError) {
            try self.init(frame: frame, layout: Layout(frame: frame), segmentSize: segmentSize)
        }

        /// A super-frame whose headers `layout` located (one that starts with something other than
        /// Ethernet: `Layout(packet:l3:)`).
        @inlinable
        public init(frame: UnsafeRawBufferPointer, layout: Layout, segmentSize: Int) throws(WireError) {
            guard segmentSize > 0 else { throw .malformed(header: "tcp-offload", reason: "segment size 0") }
            self.layout = layout
            self.frame = frame
            self.segmentSize = segmentSize
            segmentCount = max(1, (layout.payloadLength + segmentSize - 1) / segmentSize)
            sequence = frame.u32(at: layout.l4 + TCPSegment.Field.sequence)
            identification = layout.isIPv6 ? 0 : frame.u16(at: layout.l3 + IPv4Packet.Field.identification)
            flags = frame.u16(at: layout.l4 + TCPSegment.Field.dataOffsetAndFlags)
            var partial: UInt32 = 0
            if !layout.isIPv6 {
                var at = 0
                while at + 1 < layout.l4 - layout.l3 {
                    if at != IPv4Packet.Field.totalLength, at != IPv4Packet.Field.identification, at != IPv4Packet.Field.checksum {
                        partial &+= UInt32(frame.u16(at: layout.l3 + at))
                    }
                    at += 2
                }
            }
            ipv4PartialSum = partial
            let ip = frame.tail(from: layout.l3)
            if layout.isIPv6 {
                pseudoHeaderSum = .pseudoHeader(source: IPv6Address(reading: ip, at: IPv6Packet.Field.source),
                                                destination: IPv6Address(reading: ip, at: IPv6Packet.Field.destination),
                                                protocol: .tcp, length: 0)
            } else {
                pseudoHeaderSum = .pseudoHeader(source: IPv4Address(reading: ip, at: IPv4Packet.Field.source),
                                                destination: IPv4Address(reading: ip, at: IPv4Packet.Field.destination),
                                                protocol: .tcp, length: 0)
            }
        }

        /// The length of segment `i` (headers included).
        @inlinable
        public func length(of i: Int) -> Int {
            layout.headerLength + Swift.min(segmentSize, layout.payloadLength - i * segmentSize)
        }

        /// Writes segment `i` (0 ..< segmentCount) at the start of `out` and returns its length, or nil
        /// when `out` is too small.
        @inlinable
        public func write(_ i: Int, into out: UnsafeMutableRawBufferPointer) -> Int? {
            precondition(i >= 0 && i < segmentCount, "segment out of range")
            let n = length(of: i)
            guard out.count >= n, let dst = out.baseAddress, let src = frame.baseAddress else { return nil }
            let h = layout.headerLength
            dst.copyMemory(from: src, byteCount: h)
            (dst + h).copyMemory(from: src + h + i * segmentSize, byteCount: n - h)
            finishHeaders(i, UnsafeMutableRawBufferPointer(start: dst, count: h), payload: UnsafeRawBufferPointer(start: dst + h, count: n - h))
            return n
        }

        /// Segment `i`'s payload, where it lies in the super-frame.
        @inlinable
        public func payload(of i: Int) -> UnsafeRawBufferPointer {
            precondition(i >= 0 && i < segmentCount, "segment out of range")
            return frame.slice(layout.headerLength + i * segmentSize, length(of: i) - layout.headerLength)
        }

        /// Writes only the headers of segment `i` (`layout.headerLength` bytes, checksums included) at the
        /// start of `out`: with `payload(of:)` right behind them they make the segment, so a driver can
        /// send both from where they lie (a gather list) instead of copying the payload. Nil when `out`
        /// is too small.
        @inlinable
        public func writeHeaders(_ i: Int, into out: UnsafeMutableRawBufferPointer) -> Int? {
            precondition(i >= 0 && i < segmentCount, "segment out of range")
            let h = layout.headerLength
            guard out.count >= h, let dst = out.baseAddress, let src = frame.baseAddress else { return nil }
            dst.copyMemory(from: src, byteCount: h)
            finishHeaders(i, UnsafeMutableRawBufferPointer(start: dst, count: h), payload: payload(of: i))
            return h
        }

        /// Turns the super-frame's headers copied to `headers` into segment `i`'s, whose payload is
        /// `payload`: lengths, IPv4 identification and checksum, TCP sequence, flags and checksum.
        @inlinable
        func finishHeaders(_ i: Int, _ seg: UnsafeMutableRawBufferPointer, payload: UnsafeRawBufferPointer) {
            let n = seg.count + payload.count
            let ip = UnsafeMutableRawBufferPointer(rebasing: seg[layout.l3...])
            let tcpLength = n - layout.l4
            if layout.isIPv6 {
                ip.setU16(UInt16(tcpLength), at: IPv6Packet.Field.payloadLength)
            } else {
                let totalLength = UInt16(n - layout.l3), id = identification &+ UInt16(truncatingIfNeeded: i)
                ip.setU16(totalLength, at: IPv4Packet.Field.totalLength)
                ip.setU16(id, at: IPv4Packet.Field.identification)
                var sum = ipv4PartialSum &+ UInt32(totalLength) &+ UInt32(id)
                while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
                ip.setU16(~UInt16(sum), at: IPv4Packet.Field.checksum)
            }
            let tcp = UnsafeMutableRawBufferPointer(rebasing: seg[layout.l4...])
            tcp.setU32(sequence &+ UInt32(truncatingIfNeeded: i * segmentSize), at: TCPSegment.Field.sequence)
            var f = flags
            if i != segmentCount - 1 { f &= ~(TCPFlags.fin.rawValue | TCPFlags.psh.rawValue) }
            if i != 0 { f &= ~TCPFlags.cwr.rawValue }
            tcp.setU16(f, at: TCPSegment.Field.dataOffsetAndFlags)
            var sum = pseudoHeaderSum
            sum.add(UInt16(truncatingIfNeeded: tcpLength))
            tcp.setU16(0, at: TCPSegment.Field.checksum)
            sum.add(UnsafeRawBufferPointer(tcp))
            sum.add(payload)
            tcp.setU16(sum.checksum, at: TCPSegment.Field.checksum)
        }
    }

    /// The pseudo-header sum for a TCP segment of `tcpLength` bytes in `frame`.
    @inlinable
    static func pseudoHeader(_ frame: UnsafeMutableRawBufferPointer, _ layout: Layout, tcpLength: Int) -> InternetChecksum {
        let ip = UnsafeRawBufferPointer(frame).tail(from: layout.l3)
        if layout.isIPv6 {
            return .pseudoHeader(source: IPv6Address(reading: ip, at: IPv6Packet.Field.source),
                                 destination: IPv6Address(reading: ip, at: IPv6Packet.Field.destination),
                                 protocol: .tcp, length: tcpLength)
        }
        return .pseudoHeader(source: IPv4Address(reading: ip, at: IPv4Packet.Field.source),
                             destination: IPv4Address(reading: ip, at: IPv4Packet.Field.destination),
                             protocol: .tcp, length: tcpLength)
    }

    // MARK: Coalescing (GRO in software)

    /// Builds one TCP super-frame out of consecutive segments of one connection, the inverse of
    /// `Segmenter`: the receiving stack then handles one frame instead of dozens. A segment joins when
    /// it continues the byte stream exactly (same addresses, ports, header bytes apart from sequence,
    /// lengths, IPv4 id and checksums; its sequence number follows the last byte so far) and every
    /// segment but the last has the first one's payload size. Only ACK (and PSH on the final segment)
    /// may be set; a PSH closes the super-frame.
    ///
    /// The result's TCP checksum is left partial (the pseudo-header sum, for virtio-net NEEDS_CSUM with
    /// `checksumStart`/`checksumOffset`): the segments were covered by the underlay's UDP checksum.
    public struct Coalescer {
        /// The frame being built, with room up to `limit` bytes.
        var out: UnsafeMutableRawBufferPointer
        public private(set) var layout: Layout
        /// Bytes of the frame written so far.
        public private(set) var length: Int
        /// Payload size of the first segment: the MSS the receiver's stack will be told.
        public private(set) var segmentSize: Int
        public private(set) var segments = 1
        var nextSequence: UInt32
        var closed = false

        /// The largest super-frame: an IPv4 total length must fit 16 bits.
        public static let maximumLength = 65535

        /// Starts a super-frame with `first` copied to the start of `out`. Nil when `first` cannot be
        /// coalesced (not TCP, flags other than ACK/PSH, no payload) or does not fit. With `l3`, the IP
        /// packet starts there (after a tunnel header, say) instead of after an Ethernet header.
        /// `limit` caps the super-frame's length (from its first byte).
        public init?(first: UnsafeRawBufferPointer, l3: Int? = nil, into out: UnsafeMutableRawBufferPointer,
                     limit: Int = Coalescer.maximumLength) {
            let parsed: Layout?
            if let l3 { parsed = try? Layout(packet: first, l3: l3) } else { parsed = try? Layout(frame: first) }
            guard let layout = parsed, layout.payloadLength > 0 else { return nil }
            let f = first.u16(at: layout.l4 + TCPSegment.Field.dataOffsetAndFlags) & TCPFlags.mask
            guard f & ~(TCPFlags.ack.rawValue | TCPFlags.psh.rawValue) == 0, f & TCPFlags.ack.rawValue != 0 else { return nil }
            let n = layout.headerLength + layout.payloadLength
            guard n <= Swift.min(out.count, limit), let dst = out.baseAddress, let src = first.baseAddress else { return nil }
            dst.copyMemory(from: src, byteCount: n)
            self.out = UnsafeMutableRawBufferPointer(rebasing: out[0 ..< Swift.min(out.count, limit)])
            self.layout = layout
            length = n
            segmentSize = layout.payloadLength
            nextSequence = first.u32(at: layout.l4 + TCPSegment.Field.sequence) &+ UInt32(layout.payloadLength)
            closed = f & TCPFlags.psh.rawValue != 0
        }

        /// Appends `segment`'s payload when it continues this super-frame; false (nothing changed)
        /// otherwise, and the caller finishes this one and starts the next with `segment`.
        public mutating func append(_ segment: UnsafeRawBufferPointer) -> Bool {
            guard !closed, let l = try? Layout(packet: segment, l3: layout.l3), l.l4 == layout.l4,
                  l.headerLength == layout.headerLength, l.payloadLength > 0, l.payloadLength <= segmentSize,
                  length + l.payloadLength <= Swift.min(out.count, Self.maximumLength) else { return false }
            let head = UnsafeRawBufferPointer(out)
            let f = segment.u16(at: l.l4 + TCPSegment.Field.dataOffsetAndFlags) & TCPFlags.mask
            guard f & ~(TCPFlags.ack.rawValue | TCPFlags.psh.rawValue) == 0, f & TCPFlags.ack.rawValue != 0,
                  segment.u32(at: l.l4 + TCPSegment.Field.sequence) == nextSequence,
                  Self.sameHeaders(head, segment, layout) else { return false }
            (out.baseAddress! + length).copyMemory(from: segment.baseAddress! + l.headerLength, byteCount: l.payloadLength)
            length += l.payloadLength
            layout.payloadLength += l.payloadLength
            nextSequence &+= UInt32(l.payloadLength)
            segments += 1
            // A short segment or a PSH ends the stream of equal segments: nothing may follow it.
            if l.payloadLength < segmentSize || f & TCPFlags.psh.rawValue != 0 {
                closed = true
                if f & TCPFlags.psh.rawValue != 0 {
                    out.setU16(head.u16(at: layout.l4 + TCPSegment.Field.dataOffsetAndFlags) | TCPFlags.psh.rawValue,
                               at: layout.l4 + TCPSegment.Field.dataOffsetAndFlags)
                }
            }
            return true
        }

        /// Headers equal apart from the fields that differ between segments of one stream.
        static func sameHeaders(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ layout: Layout) -> Bool {
            // Ethernet header whole.
            if !equal(a, b, 0, layout.l3) { return false }
            if layout.isIPv6 {
                // Version/class/flow, next header, hop limit, addresses (everything but payload length).
                if a.u32(at: layout.l3) != b.u32(at: layout.l3) { return false }
                let from = layout.l3 + IPv6Packet.Field.nextHeader
                if !equal(a, b, from, layout.l4 - from) { return false }
            } else {
                // Version/IHL/DSCP, flags, TTL, protocol, addresses and options (not length, id, checksum).
                if a.u16(at: layout.l3) != b.u16(at: layout.l3) { return false }
                let from = IPv4Packet.Field.flagsFragmentOffset
                if a.u16(at: layout.l3 + from) != b.u16(at: layout.l3 + from) { return false }
                if a.u16(at: layout.l3 + IPv4Packet.Field.ttl) != b.u16(at: layout.l3 + IPv4Packet.Field.ttl) { return false }
                let addr = layout.l3 + IPv4Packet.Field.source
                if !equal(a, b, addr, layout.l4 - addr) { return false }
            }
            // TCP: ports, ack number, window, urgent pointer and options; data offset checked by the layout.
            let t = layout.l4
            if a.u32(at: t) != b.u32(at: t) { return false }
            if a.u32(at: t + TCPSegment.Field.acknowledgment) != b.u32(at: t + TCPSegment.Field.acknowledgment) { return false }
            if a.u16(at: t + TCPSegment.Field.window) != b.u16(at: t + TCPSegment.Field.window) { return false }
            let opt = TCPSegment.Field.options
            return equal(a, b, t + opt, layout.headerLength - t - opt)
        }

        /// `count` bytes at `offset` are the same in both (ranges checked by the callers' layouts).
        public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> Bool {
            var i = offset
            let end = offset + count
            while i + 8 <= end {
                if a.u64(at: i) != b.u64(at: i) { return false }
                i += 8
            }
            while i < end {
                if a.u8(at: i) != b.u8(at: i) { return false }
                i += 1
            }
            return true
        }

        /// Fixes the IP lengths (and IPv4 checksum) and leaves the TCP checksum partial; returns the
        /// frame. With one segment the frame is returned as it came (checksums complete).
        public func finish() -> UnsafeMutableRawBufferPointer {
            let frame = UnsafeMutableRawBufferPointer(rebasing: out[0 ..< length])
            guard segments > 1 else { return frame }
            let ip = UnsafeMutableRawBufferPointer(rebasing: frame[layout.l3...])
            let tcpLength = length - layout.l4
            if layout.isIPv6 {
                ip.setU16(UInt16(tcpLength), at: IPv6Packet.Field.payloadLength)
            } else {
                ip.setU16(UInt16(length - layout.l3), at: IPv4Packet.Field.totalLength)
                IPv4Packet.fillChecksum(in: ip, headerLength: layout.l4 - layout.l3)
            }
            let partial = TCPOffload.pseudoHeader(frame, layout, tcpLength: tcpLength).folded
            frame.setU16(partial, at: layout.l4 + TCPSegment.Field.checksum)
            return frame
        }

        /// Where the receiver finishes the checksum: the TCP header, and the field within it.
        public var checksumStart: Int { layout.l4 }
        public var checksumOffset: Int { TCPSegment.Field.checksum }
    }
}
