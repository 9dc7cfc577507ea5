/// UDP coalescing in software (what Linux's UDP GRO does), for a driver that writes datagrams to a TAP
/// offered USO: consecutive datagrams of one flow become one frame with a virtio-net header of type
/// UDP_L4, and the receiving stack cuts them apart again (`__udp_gso_segment`) after one write instead
/// of one write per datagram (docs/daemon.md, "Offloads and trains").
///
/// Ethernet frames carrying IPv4 (options allowed, no fragments) or IPv6 (no extension headers) and UDP,
/// as `TCPOffload` takes them.
public enum UDPOffload {
    /// The headers of an Ethernet/IP/UDP frame, located and checked once.
    public struct Layout: Equatable, Sendable {
        public var l3: Int
        public var l4: Int
        /// UDP payload bytes (up to the IP length: link padding excluded).
        public var payloadLength: Int
        public var isIPv6: Bool
        /// Where the UDP payload starts.
        @inlinable public var headerLength: Int { l4 + UDPDatagram.headerLength }

        /// With `lengthFromIP`, the UDP length field is not checked (a super-frame's need not hold the
        /// total); the IP header's length decides.
        @inlinable
        public init(frame: UnsafeRawBufferPointer, lengthFromIP: Bool = false) throws(WireError) {
            let eth = try EthernetFrame(checking: frame)
            guard eth.headerLength == EthernetFrame.minimumHeaderLength else {
                throw .unsupported(header: "udp-offload", reason: "VLAN-tagged frame")
            }
            l3 = eth.headerLength
            let ip = frame.tail(from: l3)
            let ipEnd: Int
            if eth.etherType == .ipv4 {
                let v4 = try IPv4Packet(checking: ip)
                guard !v4.isFragment, v4.protocol == .udp else {
                    throw .unsupported(header: "udp-offload", reason: "fragment or not UDP")
                }
                l4 = l3 + v4.headerLength
                ipEnd = l3 + v4.totalLength
                isIPv6 = false
            } else if eth.etherType == .ipv6 {
                let v6 = try IPv6Packet(checking: ip)
                guard v6.nextHeader == .udp else {
                    throw .unsupported(header: "udp-offload", reason: "IPv6 extension headers or not UDP")
                }
                l4 = l3 + IPv6Packet.headerLength
                ipEnd = l4 + v6.payloadLength
                isIPv6 = true
            } else {
                throw .unsupported(header: "udp-offload", reason: "not IP")
            }
            guard ipEnd <= frame.count, ipEnd - l4 >= UDPDatagram.headerLength else {
                throw .truncated(header: "udp-offload", needed: Swift.max(ipEnd, l4 + UDPDatagram.headerLength), available: frame.count)
            }
            if !lengthFromIP {
                let udp = try UDPDatagram(checking: frame.slice(l4, ipEnd - l4))
                guard Int(udp.length) == ipEnd - l4 else {
                    throw .malformed(header: "udp-offload", reason: "UDP length \(udp.length) is not the IP payload's")
                }
            }
            payloadLength = ipEnd - l4 - UDPDatagram.headerLength
        }
    }

    /// A UDP super-frame a VM handed over with USO (one header, the payload of many datagrams) and the
    /// datagrams it stands for: datagram `i` carries payload bytes `i·segmentSize ..< (i+1)·segmentSize`
    /// (the last may be shorter) with the same headers, except the IPv4 total length, identification
    /// (+i) and header checksum or the IPv6 payload length, and the UDP length and a full checksum.
    public struct Segmenter {
        public let layout: Layout
        public let segmentSize: Int
        public let segmentCount: Int
        @usableFromInline let frame: UnsafeRawBufferPointer

        /// `frame`'s UDP length field may be the whole payload's or anything (the kernel leaves it as
        /// the application's): the IP length says where the payload ends.
        public init(frame: UnsafeRawBufferPointer, segmentSize: Int) throws(WireError) {
            guard segmentSize > 0 else { throw .malformed(header: "udp-offload", reason: "segment size 0") }
            layout = try Layout(frame: frame, lengthFromIP: true)
            self.frame = frame
            self.segmentSize = segmentSize
            segmentCount = max(1, (layout.payloadLength + segmentSize - 1) / segmentSize)
        }

        public func length(of i: Int) -> Int {
            layout.headerLength + Swift.min(segmentSize, layout.payloadLength - i * segmentSize)
        }

        /// Writes datagram `i` at the start of `out`; its length, or nil when `out` is too small.
        public func write(_ i: Int, into out: UnsafeMutableRawBufferPointer) -> Int? {
            precondition(i >= 0 && i < segmentCount, "segment out of range")
            let n = length(of: i)
            guard out.count >= n, let dst = out.baseAddress, let src = frame.baseAddress else { return nil }
            let h = layout.headerLength
            dst.copyMemory(from: src, byteCount: h)
            (dst + h).copyMemory(from: src + h + i * segmentSize, byteCount: n - h)
            let seg = UnsafeMutableRawBufferPointer(start: dst, count: n)
            let ip = UnsafeMutableRawBufferPointer(rebasing: seg[layout.l3 ..< layout.l4])
            let udpLength = n - layout.l4
            if layout.isIPv6 {
                ip.setU16(UInt16(udpLength), at: IPv6Packet.Field.payloadLength)
            } else {
                ip.setU16(UInt16(n - layout.l3), at: IPv4Packet.Field.totalLength)
                let id = UnsafeRawBufferPointer(ip).u16(at: IPv4Packet.Field.identification) &+ UInt16(truncatingIfNeeded: i)
                ip.setU16(id, at: IPv4Packet.Field.identification)
                IPv4Packet.fillChecksum(in: ip, headerLength: layout.l4 - layout.l3)
            }
            let udp = UnsafeMutableRawBufferPointer(rebasing: seg[layout.l4...])
            udp.setU16(UInt16(udpLength), at: UDPDatagram.Field.length)
            let addresses = UnsafeRawBufferPointer(ip)
            var sum: InternetChecksum
            if layout.isIPv6 {
                sum = .pseudoHeader(source: IPv6Address(reading: addresses, at: IPv6Packet.Field.source),
                                    destination: IPv6Address(reading: addresses, at: IPv6Packet.Field.destination),
                                    protocol: .udp, length: udpLength)
            } else {
                sum = .pseudoHeader(source: IPv4Address(reading: addresses, at: IPv4Packet.Field.source),
                                    destination: IPv4Address(reading: addresses, at: IPv4Packet.Field.destination),
                                    protocol: .udp, length: udpLength)
            }
            udp.setU16(0, at: UDPDatagram.Field.checksum)
            sum.add(UnsafeRawBufferPointer(udp))
            let value = sum.checksum
            // A computed zero goes as all ones: zero means "no checksum" (RFC 768).
            udp.setU16(value == 0 ? 0xFFFF : value, at: UDPDatagram.Field.checksum)
            return n
        }
    }

    /// One frame standing for consecutive datagrams of one flow: identical headers apart from the IP
    /// length, identification and checksum and the UDP length and checksum; every datagram but the last
    /// of the first one's payload size (the last may be shorter and ends the frame). The result holds
    /// the total in its IP and UDP lengths and the pseudo-header sum in its UDP checksum, for a
    /// virtio-net header with NEEDS_CSUM and gso_type UDP_L4.
    public struct Coalescer {
        var out: UnsafeMutableRawBufferPointer
        public private(set) var layout: Layout
        public private(set) var length: Int
        /// Payload bytes of each datagram (the virtio-net gso_size).
        public private(set) var segmentSize: Int
        public private(set) var segments = 1
        var closed = false

        /// At most this many datagrams in one frame (the kernel's UDP_MAX_SEGMENTS).
        public static let maximumSegments = 64

        /// Starts a frame with `first` copied to the start of `out`; nil when `first` is no UDP
        /// datagram with a payload, or does not fit.
        public init?(first: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                     limit: Int = TCPOffload.Coalescer.maximumLength) {
            guard let layout = try? Layout(frame: first), layout.payloadLength > 0 else { return nil }
            let n = layout.headerLength + layout.payloadLength
            self.out = UnsafeMutableRawBufferPointer(rebasing: out[0 ..< Swift.min(out.count, limit)])
            guard n <= self.out.count, let dst = out.baseAddress, let src = first.baseAddress else { return nil }
            dst.copyMemory(from: src, byteCount: n)
            self.layout = layout
            length = n
            segmentSize = layout.payloadLength
        }

        /// Appends `datagram`'s payload when it continues this frame; false (nothing changed) otherwise.
        public mutating func append(_ datagram: UnsafeRawBufferPointer) -> Bool {
            guard !closed, segments < Self.maximumSegments, let l = try? Layout(frame: datagram), l.l4 == layout.l4,
                  l.payloadLength > 0, l.payloadLength <= segmentSize, length + l.payloadLength <= out.count,
                  Self.sameHeaders(UnsafeRawBufferPointer(out), datagram, layout) else { return false }
            (out.baseAddress! + length).copyMemory(from: datagram.baseAddress! + l.headerLength, byteCount: l.payloadLength)
            length += l.payloadLength
            layout.payloadLength += l.payloadLength
            segments += 1
            if l.payloadLength < segmentSize { closed = true }
            return true
        }

        static func sameHeaders(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ layout: Layout) -> Bool {
            let equal = TCPOffload.Coalescer.equal
            if !equal(a, b, 0, layout.l3) { return false }
            if layout.isIPv6 {
                if a.u32(at: layout.l3) != b.u32(at: layout.l3) { return false }
                let from = layout.l3 + IPv6Packet.Field.nextHeader
                if !equal(a, b, from, layout.l4 - from) { return false }
            } else {
                if a.u16(at: layout.l3) != b.u16(at: layout.l3) { return false }
                let flags = layout.l3 + IPv4Packet.Field.flagsFragmentOffset
                if a.u16(at: flags) != b.u16(at: flags) { return false }
                let ttl = layout.l3 + IPv4Packet.Field.ttl
                if a.u16(at: ttl) != b.u16(at: ttl) { return false }
                let addr = layout.l3 + IPv4Packet.Field.source
                if !equal(a, b, addr, layout.l4 - addr) { return false }
            }
            // The ports; length and checksum differ.
            return a.u32(at: layout.l4) == b.u32(at: layout.l4)
        }

        /// Fixes the lengths (and the IPv4 checksum) and leaves the UDP checksum partial; returns the
        /// frame. With one datagram the frame is returned as it came.
        public func finish() -> UnsafeMutableRawBufferPointer {
            let frame = UnsafeMutableRawBufferPointer(rebasing: out[0 ..< length])
            guard segments > 1 else { return frame }
            let ip = UnsafeMutableRawBufferPointer(rebasing: frame[layout.l3...])
            let udpLength = length - layout.l4
            if layout.isIPv6 {
                ip.setU16(UInt16(udpLength), at: IPv6Packet.Field.payloadLength)
            } else {
                ip.setU16(UInt16(length - layout.l3), at: IPv4Packet.Field.totalLength)
                IPv4Packet.fillChecksum(in: ip, headerLength: layout.l4 - layout.l3)
            }
            frame.setU16(UInt16(udpLength), at: layout.l4 + UDPDatagram.Field.length)
            let addresses = UnsafeRawBufferPointer(frame).tail(from: layout.l3)
            let sum: InternetChecksum
            if layout.isIPv6 {
                sum = .pseudoHeader(source: IPv6Address(reading: addresses, at: IPv6Packet.Field.source),
                                    destination: IPv6Address(reading: addresses, at: IPv6Packet.Field.destination),
                                    protocol: .udp, length: udpLength)
            } else {
                sum = .pseudoHeader(source: IPv4Address(reading: addresses, at: IPv4Packet.Field.source),
                                    destination: IPv4Address(reading: addresses, at: IPv4Packet.Field.destination),
                                    protocol: .udp, length: udpLength)
            }
            frame.setU16(sum.folded, at: layout.l4 + UDPDatagram.Field.checksum)
            return frame
        }

        public var checksumStart: Int { layout.l4 }
        public var checksumOffset: Int { UDPDatagram.Field.checksum }
    }
}
