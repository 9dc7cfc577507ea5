import CHNALinux
import Glibc
import HNAWire

/// A raw IP socket for one IP protocol on the underlay address: the daemon's MPLS-over-GRE transport
/// (RFC 4023), which needs no GRE kernel module — only the GRE header and what follows travel through
/// it, and the kernel routes, writes and strips the outer IP header as it does for UDP.
///
/// Receive asymmetry (the kernel's raw socket rules): an IPv4 socket hands over each packet from its
/// IPv4 header on (parse it with `IPv4Packet`), an IPv6 socket from the transport header on (the source
/// is the batch slot's address). Sends always start at the transport header. Addresses in the batch
/// carry port 0. Batches use the same recvmmsg/sendmmsg calls as `UDPSocket`.
public final class RawIPSocket {
    public let ipProtocol: IPProtocol
    /// The bound underlay address (port 0).
    public let localAddress: SocketAddress
    /// The descriptor; -1 once closed.
    public private(set) var fd: Int32

    var subject: String { "raw IP socket (protocol \(ipProtocol.rawValue)) \(localAddress)" }

    /// Opens the socket (CAP_NET_RAW needed), non-blocking unless told otherwise, with the given buffer
    /// sizes (nil keeps the kernel default).
    public init(bindingTo address: IPAddress, protocol ipProtocol: IPProtocol, nonBlocking: Bool = true,
                receiveBufferSize: Int? = nil, sendBufferSize: Int? = nil) throws(LinuxError) {
        self.ipProtocol = ipProtocol
        switch address {
        case let .v4(a): localAddress = .v4(a, port: 0)
        case let .v6(a): localAddress = .v6(a, port: 0)
        }
        var bind = localAddress.raw
        var stage: Int32 = 0
        let r = hna_raw_open(&bind, Int32(ipProtocol.rawValue), nonBlocking ? Int32(HNA_UDP_NONBLOCK) : 0, &stage)
        if r < 0 {
            throw .system(subject: "raw IP socket (protocol \(ipProtocol.rawValue)) \(localAddress)",
                          operation: stage == 0 ? "socket" : "bind", errno: -r)
        }
        fd = r
        if receiveBufferSize != nil || sendBufferSize != nil {
            let b = hna_socket_set_buffers(fd, Int32(clamping: receiveBufferSize ?? 0), Int32(clamping: sendBufferSize ?? 0))
            if b < 0 {
                closeDescriptor(fd)
                throw .system(subject: "raw IP socket \(localAddress)", operation: "SO_RCVBUF/SO_SNDBUF", errno: -b)
            }
        }
    }

    deinit { closeDescriptor(fd) }

    public func close() {
        closeDescriptor(fd)
        fd = -1
    }

    /// Receives up to `maxCount` (default: the batch's capacity) waiting packets into slots 0...; sets
    /// `batch.count` and returns it (0 when nothing is waiting).
    @discardableResult
    public func receive(into batch: PacketBatch, maxCount: Int? = nil) throws(LinuxError) -> Int {
        try UDPSocket.receive(fd: fd, subject: subject, into: batch, maxCount: maxCount)
    }

    /// Sends packets `range` (default: 0 ..< batch.count), each starting at its transport header, to
    /// their slot addresses. Per-packet failures are counted in the result, as for `UDPSocket`.
    @discardableResult
    public func send(_ batch: PacketBatch, range: Range<Int>? = nil) throws(LinuxError) -> UDPSocket.SendResult {
        try UDPSocket.send(fd: fd, subject: subject, batch, range: range)
    }
}
