/// The Internet checksum (RFC 1071) as a running one's-complement sum, so a header checksum, a
/// pseudo-header and a payload can be added up piecewise without copying them together.
public struct InternetChecksum: Sendable, Equatable {
    @usableFromInline var sum: UInt64 = 0
    /// True when an odd number of bytes has been added: the next byte is the low half of a 16-bit word.
    @usableFromInline var odd = false

    @inlinable public init() {}

    /// Bytes summed per chunk of the fast loop: 2^30 bytes of 32-bit words keep each 64-bit sum below
    /// 2^60.
    @usableFromInline static let chunkBytes = 1 << 30

    @inlinable
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        if n == 0 { return }
        if odd {
            sum &+= UInt64(bytes.u8(at: 0))
            i = 1
            odd = false
        }
        // Long runs: 32-bit words in the machine's byte order into four independent 64-bit sums (no
        // carries to chase, so the adds overlap), folded to 16 bits and byte-swapped into network order
        // at the end — one's-complement sums commute with byte swapping (RFC 1071 section 2(B)). A
        // chunk is bounded so the sums cannot overflow whatever the input's length.
        if n - i >= 64, let base = bytes.baseAddress {
            while n - i >= 64 {
                let end = i + min((n - i) & ~15, Self.chunkBytes)
                var a0: UInt64 = 0, a1: UInt64 = 0, a2: UInt64 = 0, a3: UInt64 = 0
                while i < end {
                    a0 &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                    a1 &+= UInt64(base.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                    a2 &+= UInt64(base.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self))
                    a3 &+= UInt64(base.loadUnaligned(fromByteOffset: i + 12, as: UInt32.self))
                    i += 16
                }
                var t = (a0 & 0xFFFF_FFFF) &+ (a0 >> 32) &+ (a1 & 0xFFFF_FFFF) &+ (a1 >> 32)
                    &+ (a2 & 0xFFFF_FFFF) &+ (a2 >> 32) &+ (a3 & 0xFFFF_FFFF) &+ (a3 >> 32)
                while t >> 16 != 0 { t = (t & 0xFFFF) &+ (t >> 16) }
                let (s, o) = sum.addingReportingOverflow(UInt64(UInt16(bigEndian: UInt16(t))))
                sum = s &+ (o ? 1 : 0)
            }
        }
        // Eight bytes at a time: the carries of the 64-bit adds are folded back in (end-around carry).
        while i + 8 <= n {
            let w = bytes.u64(at: i)
            let (s, o) = sum.addingReportingOverflow(w)
            sum = s &+ (o ? 1 : 0)
            i += 8
        }
        while i + 2 <= n {
            let (s, o) = sum.addingReportingOverflow(UInt64(bytes.u16(at: i)))
            sum = s &+ (o ? 1 : 0)
            i += 2
        }
        if i < n {
            sum &+= UInt64(bytes.u8(at: i)) << 8
            odd = true
        }
    }

    @inlinable
    public mutating func add(_ word: UInt16) {
        precondition(!odd, "16-bit words are added on even offsets only")
        let (s, o) = sum.addingReportingOverflow(UInt64(word))
        sum = s &+ (o ? 1 : 0)
    }

    @inlinable
    public mutating func add(_ word: UInt32) {
        add(UInt16(truncatingIfNeeded: word >> 16))
        add(UInt16(truncatingIfNeeded: word))
    }

    /// The folded 16-bit one's-complement sum (not yet inverted).
    @inlinable
    public var folded: UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xFFFF) &+ (s >> 16) }
        return UInt16(s)
    }

    /// The value to store in a checksum field.
    @inlinable
    public var checksum: UInt16 { ~folded }

    /// Computes the checksum of one contiguous range.
    @inlinable
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = InternetChecksum()
        c.add(bytes)
        return c.checksum
    }
}

extension InternetChecksum {
    /// Starts a transport checksum with the IPv4 pseudo-header (RFC 768 / RFC 793).
    @inlinable
    public static func pseudoHeader(source: IPv4Address, destination: IPv4Address, protocol proto: IPProtocol,
                                    length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        c.add(source.rawValue)
        c.add(destination.rawValue)
        c.add(UInt16(proto.rawValue))
        c.add(UInt16(truncatingIfNeeded: length))
        return c
    }

    /// Starts a transport checksum with the IPv6 pseudo-header (RFC 8200 section 8.1).
    @inlinable
    public static func pseudoHeader(source: IPv6Address, destination: IPv6Address, protocol proto: IPProtocol,
                                    length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        for half in [source.high, source.low, destination.high, destination.low] {
            c.add(UInt32(truncatingIfNeeded: half >> 32))
            c.add(UInt32(truncatingIfNeeded: half))
        }
        c.add(UInt32(truncatingIfNeeded: length))
        c.add(UInt32(proto.rawValue))
        return c
    }
}
