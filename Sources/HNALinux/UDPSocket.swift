import CHNALinux
import Glibc
import HNAWire

/// The underlay socket: tunnel packets to and from peer HNAs, a burst per system call.
///
/// One bound, unconnected socket serves every peer: a send batch may name a different destination per
/// packet and still go out in one sendmmsg; a receive reports each sender. With GSO
/// (`PacketBatch.setSegmentSize`) one message carries many equal-sized datagrams and the kernel cuts
/// them late; with GRO (`Options.gro`) the kernel hands back runs of datagrams from one sender as one
/// message with their segment size.
public final class UDPSocket {
    public struct Options: Sendable {
        /// Return at once from receive/send instead of blocking (the event loop's mode).
        public var nonBlocking = true
        /// SO_REUSEPORT, for one socket per datapath thread on the same port.
        public var reusePort = false
        /// UDP_GRO: accept coalesced receives.
        public var gro = false
        /// SO_RCVBUF/SO_SNDBUF in bytes (nil keeps the kernel default). As root the FORCE variants lift
        /// the net.core.*mem_max cap: a burst of small datagrams needs more than the default.
        public var receiveBufferSize: Int?
        public var sendBufferSize: Int?

        public init(nonBlocking: Bool = true, reusePort: Bool = false, gro: Bool = false,
                    receiveBufferSize: Int? = nil, sendBufferSize: Int? = nil) {
            self.nonBlocking = nonBlocking
            self.reusePort = reusePort
            self.gro = gro
            self.receiveBufferSize = receiveBufferSize
            self.sendBufferSize = sendBufferSize
        }
    }

    /// What a batch send did. Per-packet failures (an unreachable destination, a datagram too large)
    /// skip that packet and are counted, so one bad destination never holds up the rest of a burst.
    public struct SendResult: Equatable, Sendable {
        /// Packets the kernel accepted.
        public var sent = 0
        /// Packets refused with an error (dropped).
        public var failed = 0
        /// The errno of the last refused packet (0 when none).
        public var lastErrno: Int32 = 0
        /// Index of the first packet not attempted because the socket would block (== range end when
        /// the whole range was handled).
        public var next = 0

        public init(sent: Int = 0, failed: Int = 0, lastErrno: Int32 = 0, next: Int = 0) {
            self.sent = sent
            self.failed = failed
            self.lastErrno = lastErrno
            self.next = next
        }
    }

    /// The bound address (with the kernel-chosen port when bound to port 0).
    public let localAddress: SocketAddress
    /// The descriptor; -1 once closed.
    public private(set) var fd: Int32

    var subject: String { "UDP socket \(localAddress)" }

    public init(bindingTo address: SocketAddress, options: Options = Options()) throws(LinuxError) {
        var bind = address.raw
        var bound = hna_sockaddr()
        var stage: Int32 = 0
        var flags: Int32 = 0
        if options.nonBlocking { flags |= Int32(HNA_UDP_NONBLOCK) }
        if options.reusePort { flags |= Int32(HNA_UDP_REUSEPORT) }
        let r = hna_udp_open(&bind, flags, &bound, &stage)
        if r < 0 {
            let op = ["socket", "SO_REUSEPORT", "bind", "getsockname"][Int(stage)]
            throw .system(subject: "UDP socket \(address)", operation: op, errno: -r)
        }
        fd = r
        localAddress = SocketAddress(bound)
        do {
            if options.gro {
                _ = try LinuxError.check(hna_udp_set_gro(fd, 1), "UDP socket \(address)", "UDP_GRO")
            }
            if options.receiveBufferSize != nil || options.sendBufferSize != nil {
                _ = try LinuxError.check(
                    hna_socket_set_buffers(fd, Int32(clamping: options.receiveBufferSize ?? 0),
                                           Int32(clamping: options.sendBufferSize ?? 0)),
                    "UDP socket \(address)", "SO_RCVBUF/SO_SNDBUF")
            }
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    deinit { closeDescriptor(fd) }

    public func close() {
        closeDescriptor(fd)
        fd = -1
    }

    /// Receives up to `maxCount` (default: the batch's capacity) waiting datagrams into slots 0...,
    /// with their senders; sets `batch.count` and returns it (0 when nothing is waiting).
    /// Blocking sockets wait for the first datagram only, then take whatever else is queued.
    @discardableResult
    public func receive(into batch: PacketBatch, maxCount: Int? = nil) throws(LinuxError) -> Int {
        let n = min(maxCount ?? batch.capacity, batch.capacity)
        batch.prepareReceive(n)
        var total = 0
        // The first call may block (blocking mode); later ones only drain what is already queued.
        while total < n {
            let want = UInt32(min(n - total, Int(HNA_BATCH_MAX)))
            let r = try LinuxError.check(
                hna_recvmmsg(fd, batch.messages + total, want, total == 0 ? 0 : 1), subject, "recvmmsg")
            total += Int(r)
            if r < want { break }
        }
        batch.count = total
        return total
    }

    /// Sends packets `range` (default: 0 ..< batch.count) to their addresses, HNA_BATCH_MAX per
    /// sendmmsg. Throws only when the socket itself is unusable (closed, not a socket); see `SendResult`.
    @discardableResult
    public func send(_ batch: PacketBatch, range: Range<Int>? = nil) throws(LinuxError) -> SendResult {
        let range = range ?? 0 ..< batch.count
        precondition(range.lowerBound >= 0 && range.upperBound <= batch.capacity, "range outside the batch")
        var result = SendResult(next: range.lowerBound)
        var i = range.lowerBound
        while i < range.upperBound {
            let want = UInt32(min(range.upperBound - i, Int(HNA_BATCH_MAX)))
            let r = hna_sendmmsg(fd, batch.messages + i, want, 0)
            if r > 0 {
                result.sent += Int(r)
                i += Int(r)
            } else if r == 0 {
                break  // would block: the caller waits for writability and resends from `next`
            } else if UDPSocket.socketFatal(-r) {
                throw .system(subject: subject, operation: "sendmmsg", errno: -r)
            } else {
                // The kernel reports an error only for the first message of a call: drop that one.
                result.failed += 1
                result.lastErrno = -r
                i += 1
            }
        }
        result.next = i
        return result
    }

    /// Errors about the socket, not one packet: retrying with the next packet cannot help.
    static func socketFatal(_ e: Int32) -> Bool {
        e == EBADF || e == ENOTSOCK || e == EFAULT
    }
}
