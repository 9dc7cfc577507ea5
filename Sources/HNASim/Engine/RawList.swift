/// A growable list of plain values (`BitwiseCopyable`: nothing to retain or destroy) in memory its
/// copies share, read and written in place: what the event loop appends to and clears on every event
/// (a host's sends and deliveries) without an array's uniqueness checks and element destruction.
public struct RawList<Element: BitwiseCopyable>: @unchecked Sendable {
    final class Storage: @unchecked Sendable {
        var base: UnsafeMutablePointer<Element>
        init(capacity: Int) { base = .allocate(capacity: capacity) }
        deinit { base.deallocate() }
    }

    let storage: Storage
    var base: UnsafeMutablePointer<Element>
    var capacity: Int
    public private(set) var count = 0

    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
        storage = Storage(capacity: self.capacity)
        base = storage.base
    }

    public var isEmpty: Bool { @inline(__always) get { count == 0 } }

    public subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return UnsafePointer(base + i)
        }
        @inline(__always) nonmutating unsafeMutableAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return base + i
        }
    }

    public var indices: Range<Int> { 0 ..< count }

    /// The values as an array.
    public var array: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always)
    public mutating func append(_ e: Element) {
        if count == capacity { grow() }
        base[count] = e
        count &+= 1
    }

    /// Removes and returns the last value, if any.
    @inline(__always)
    public mutating func popLast() -> Element? {
        if count == 0 { return nil }
        count &-= 1
        return base[count]
    }

    /// Empties the list (its memory is kept).
    @inline(__always)
    public mutating func removeAll() { count = 0 }

    @usableFromInline
    mutating func grow() {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: 2 * capacity)
        bigger.update(from: base, count: count)
        storage.base.deallocate()
        storage.base = bigger
        base = bigger
        capacity *= 2
    }
}

/// A fixed number of plain values in memory its copies share, read and written in place (per-host and
/// per-pair state of the event loop).
public struct RawArray<Element: BitwiseCopyable>: @unchecked Sendable {
    final class Storage: @unchecked Sendable {
        let base: UnsafeMutablePointer<Element>
        init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
        deinit { base.deallocate() }
    }

    let storage: Storage
    let base: UnsafeMutablePointer<Element>
    public let count: Int

    public init(repeating value: Element, count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: value, count: count)
        storage = Storage(base)
    }

    public var indices: Range<Int> { 0 ..< count }

    public subscript(i: Int) -> Element {
        @inline(__always) unsafeAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return UnsafePointer(base + i)
        }
        @inline(__always) nonmutating unsafeMutableAddress {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return base + i
        }
    }

    /// The values as an array.
    public var array: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
