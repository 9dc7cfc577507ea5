/// The Internet checksum (RFC 1071) as a running one's-complement sum, so a header checksum, a
/// pseudo-header and a payload can be added up piecewise without copying them together.
public struct InternetChecksum: Sendable, Equatable {
    @usableFromInline var sum: UInt64 = 0
    /// True when an odd number of bytes has been added: the next byte is the low half of a 16-bit word.
    @usableFromInline var odd = false

    @inlinable public init() {}

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
