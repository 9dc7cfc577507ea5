/// Big-endian field access over raw bytes.
///
/// Every view in HNAWire checks its lengths once, in its `init(checking:)`; after that its accessors use
/// these unchecked loads. Offsets come from each header's `Field` enum, never from literals at call sites.
extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    public func u8(at offset: Int) -> UInt8 {
        loadUnaligned(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func u16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    public func u32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    public func u64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The bytes from `offset` to the end (empty when `offset` is past the end).
    @inlinable @inline(__always)
    public func tail(from offset: Int) -> UnsafeRawBufferPointer {
        guard offset < count else { return UnsafeRawBufferPointer(start: baseAddress, count: 0) }
        return UnsafeRawBufferPointer(rebasing: self[offset...])
    }

    /// `count` bytes from `offset`; the caller has checked the range.
    @inlinable @inline(__always)
    public func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset ..< offset + length])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    public func setU8(_ value: UInt8, at offset: Int) {
        storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func setU16(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    public func setU32(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inlinable @inline(__always)
    public func setU64(_ value: UInt64, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }

    @inlinable @inline(__always)
    public func slice(_ offset: Int, _ length: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self[offset ..< offset + length])
    }
}

/// A header value type: parses from a checked view and emits its exact bytes.
///
/// `emit(into:)` writes `encodedLength` bytes at the start of `buffer`; callers size the buffer from
/// `encodedLength` first (emitting into a short buffer is a programming error, not bad input).
public protocol WireEmittable {
    var encodedLength: Int { get }
    func emit(into buffer: UnsafeMutableRawBufferPointer)
}

extension WireEmittable {
    /// The header's bytes in a fresh array (tests, tools and the slow path; the datapath emits in place).
    public func emitted() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: encodedLength)
        bytes.withUnsafeMutableBytes { emit(into: $0) }
        return bytes
    }
}
