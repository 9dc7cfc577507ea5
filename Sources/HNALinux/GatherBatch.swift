import CHNALinux

/// Datagrams to send straight from the memory they already sit in: each message is a run of pieces
/// (pointer, length) in one shared array, so a UDP GSO burst of 64 packets kept in 64 separate buffers
/// goes out in one sendmmsg slot without being copied together first. The pieces are borrowed: the
/// caller keeps their memory alive and unchanged until the send returns.
public final class GatherBatch {
    /// Messages one batch holds.
    public let capacity: Int
    /// Pieces all messages together may use.
    public let pieceCapacity: Int
    /// Messages filled so far.
    @usableFromInline var _count = 0
    /// Pieces used so far.
    @usableFromInline var _pieceCount = 0
    @inlinable public var count: Int { _count }
    @inlinable public var pieceCount: Int { _pieceCount }

    @usableFromInline let messages: UnsafeMutablePointer<hna_gather_msg>
    @usableFromInline let pieces: UnsafeMutablePointer<hna_iovec>

    public init(capacity: Int, pieceCapacity: Int) {
        precondition(capacity > 0 && pieceCapacity >= capacity, "a gather batch needs room")
        self.capacity = capacity
        self.pieceCapacity = pieceCapacity
        messages = .allocate(capacity: capacity)
        messages.initialize(repeating: hna_gather_msg(), count: capacity)
        pieces = .allocate(capacity: pieceCapacity)
        pieces.initialize(repeating: hna_iovec(), count: pieceCapacity)
    }

    deinit {
        messages.deallocate()
        pieces.deallocate()
    }

    /// Empties the batch (the memory it pointed at is no longer borrowed).
    public func removeAll() {
        _count = 0
        _pieceCount = 0
    }

    /// True when another message of `pieces` pieces fits.
    @inlinable public func canStart(pieces n: Int = 1) -> Bool { count < capacity && pieceCount + n <= pieceCapacity }

    /// True when the last message can take one more piece.
    @inlinable public var canExtend: Bool { count > 0 && pieceCount < pieceCapacity }

    /// Starts a message to `address` with its first piece.
    @inlinable
    public func start(to address: SocketAddress, _ bytes: UnsafeRawBufferPointer) {
        precondition(canStart(), "gather batch full")
        let m = messages + count
        m.pointee = hna_gather_msg()
        m.pointee.addr = address.raw
        m.pointee.first = UInt32(_pieceCount)
        m.pointee.count = 0
        _count += 1
        append(bytes)
    }

    /// Adds a piece to the last message.
    @inlinable
    public func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(canExtend, "no message to extend, or no room for a piece")
        pieces[_pieceCount] = hna_iovec(base: bytes.baseAddress, length: bytes.count)
        _pieceCount += 1
        messages[_count - 1].count += 1
    }

    /// Makes the last message a UDP GSO burst cut into `size`-byte datagrams (0: one datagram).
    @inlinable
    public func setSegmentSize(_ size: Int) {
        precondition(count > 0 && size >= 0 && size <= Int(UInt16.max), "bad segment size")
        messages[count - 1].segment_size = UInt16(size)
    }

    /// Bytes in message `i`.
    public func length(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "message out of range")
        let m = messages[i]
        var n = 0
        for p in Int(m.first) ..< Int(m.first + m.count) { n += pieces[p].length }
        return n
    }

    /// Pieces in message `i`.
    public func pieceCount(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "message out of range")
        return Int(messages[i].count)
    }
}

extension UDPSocket {
    /// Sends messages `range` (all by default) of a gather batch, in sendmmsg calls of up to
    /// `HNA_BATCH_MAX`; the same result rules as `send(_:range:)`.
    public func send(_ batch: GatherBatch, range: Range<Int>? = nil) throws(LinuxError) -> SendResult {
        let range = range ?? 0 ..< batch.count
        precondition(range.lowerBound >= 0 && range.upperBound <= batch.count, "range outside the batch")
        var result = SendResult(next: range.lowerBound)
        var i = range.lowerBound
        while i < range.upperBound {
            let want = UInt32(min(range.upperBound - i, Int(HNA_BATCH_MAX)))
            let r = hna_sendmmsg_gather(fd, batch.messages + i, want, batch.pieces, 0)
            if r > 0 {
                result.sent += Int(r)
                i += Int(r)
            } else if r == 0 {
                break
            } else if UDPSocket.socketFatal(-r) {
                throw .system(subject: subject, operation: "sendmmsg", errno: -r)
            } else {
                result.failed += 1
                result.lastErrno = -r
                i += 1
            }
        }
        result.next = i
        return result
    }
}
