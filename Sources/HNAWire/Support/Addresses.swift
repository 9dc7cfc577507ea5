/// Link- and network-layer addresses as plain integers, so they hash, compare and index FIB tables
/// without allocation. Text forms follow the usual conventions: lower-case colon MACs, dotted IPv4,
/// RFC 5952 IPv6.

/// An IEEE 802 MAC address in the low 48 bits.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        self.init(rawValue: [b0, b1, b2, b3, b4, b5].reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (or `-` separated); nil on anything else.
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            guard p.count <= 2, let b = UInt8(p, radix: 16) else { return nil }
            v = v << 8 | UInt64(b)
        }
        self.init(rawValue: v)
    }

    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(rawValue: 0)

    /// The I/G bit: multicast and broadcast destinations.
    @inlinable public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }

    public static let encodedLength = 6

    @inlinable
    public init(reading buffer: UnsafeRawBufferPointer, at offset: Int) {
        rawValue = UInt64(buffer.u16(at: offset)) << 32 | UInt64(buffer.u32(at: offset + 2))
    }

    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.setU16(UInt16(truncatingIfNeeded: rawValue >> 32), at: offset)
        buffer.setU32(UInt32(truncatingIfNeeded: rawValue), at: offset + 2)
    }

    public var description: String {
        (0 ..< 6).map { i in
            let b = UInt8(truncatingIfNeeded: rawValue >> UInt64(40 - 8 * i))
            return hex2(b)
        }.joined(separator: ":")
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.rawValue < b.rawValue }
}

/// An IPv4 address in host byte order.
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text; nil on anything else (no shorthand forms, no leading zeros beyond "0").
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let b = UInt8(p),
                  !(p.count > 1 && p.first == "0") else { return nil }
            v = v << 8 | UInt32(b)
        }
        rawValue = v
    }

    public static let any = IPv4Address(rawValue: 0)
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)
    public static let encodedLength = 4

    @inlinable public var isMulticast: Bool { rawValue >> 28 == 0xE }

    @inlinable
    public init(reading buffer: UnsafeRawBufferPointer, at offset: Int) {
        rawValue = buffer.u32(at: offset)
    }

    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.setU32(rawValue, at: offset)
    }

    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.rawValue < b.rawValue }
}

/// An IPv6 address as two 64-bit halves in host byte order (`high` holds the first 8 bytes).
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an address from eight 16-bit groups.
    public init(groups g: [UInt16]) {
        precondition(g.count == 8)
        high = g[0 ..< 4].reduce(0) { $0 << 16 | UInt64($1) }
        low = g[4 ..< 8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    /// Parses RFC 4291 text (with `::` and an embedded dotted IPv4 tail); nil on anything else.
    public init?(_ text: String) {
        guard !text.isEmpty, text.allSatisfy(\.isASCII) else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() {
                if i == parts.count - 1, p.contains(".") {
                    guard let v4 = IPv4Address(String(p)) else { return nil }
                    out.append(UInt16(v4.rawValue >> 16))
                    out.append(UInt16(v4.rawValue & 0xFFFF))
                } else {
                    guard (1 ... 4).contains(p.count), let v = UInt16(p, radix: 16) else { return nil }
                    out.append(v)
                }
            }
            return out
        }
        guard let h = groups(halves[0]) else { return nil }
        head = h
        if halves.count == 2 {
            guard let t = groups(halves[1]) else { return nil }
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
            head += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
        }
        self.init(groups: head)
    }

    public static let any = IPv6Address(high: 0, low: 0)
    public static let encodedLength = 16

    @inlinable public var isMulticast: Bool { high >> 56 == 0xFF }
    @inlinable public var isLinkLocal: Bool { high >> 54 == 0x3FA }

    public var groups: [UInt16] {
        (0 ..< 4).map { UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * $0)) }
            + (0 ..< 4).map { UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * $0)) }
    }

    @inlinable
    public init(reading buffer: UnsafeRawBufferPointer, at offset: Int) {
        high = buffer.u64(at: offset)
        low = buffer.u64(at: offset + 8)
    }

    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.setU64(high, at: offset)
        buffer.setU64(low, at: offset + 8)
    }

    /// RFC 5952: lower case, no leading zeros, the longest run (first on a tie) of two or more zero
    /// groups shortened to `::`, and IPv4-mapped addresses with a dotted tail.
    public var description: String {
        let g = groups
        if high == 0, low >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)).description
        }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8, g[j] == 0 { j += 1 }
                if j - i > bestLen, j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ v: UInt16) -> String { String(v, radix: 16) }
        if bestStart < 0 { return g.map(hex).joined(separator: ":") }
        let left = g[0 ..< bestStart].map(hex).joined(separator: ":")
        let right = g[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return left + "::" + right
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}

/// Either family, for configuration, flow keys and tools that handle both.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: String) {
        if let a = IPv4Address(text) { self = .v4(a) } else if let a = IPv6Address(text) { self = .v6(a) } else { return nil }
    }

    public var description: String {
        switch self {
        case let .v4(a): return a.description
        case let .v6(a): return a.description
        }
    }
}

@usableFromInline
func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
}
