import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The two listening sockets the daemon serves off the datapath (control: Unix stream; metrics: TCP),
/// non-blocking, on the daemon's one event loop.
enum StreamSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func failure(_ what: String) -> Failure { Failure(description: "\(what): \(String(cString: strerror(errno)))") }

    /// The address of a Unix socket at `path` (the path must fit `sun_path`, NUL included).
    static func unixAddress(_ path: String) throws(Failure) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw Failure(description: "control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }

    static func listenUnix(path: String) throws(Failure) -> Int32 {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket(AF_UNIX)") }
        var addr: sockaddr_un
        do { addr = try unixAddress(path) } catch {
            close(fd)
            throw error
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0, listen(fd, 16) == 0 else {
            let e = failure("bind/listen \(path)")
            close(fd)
            throw e
        }
        return fd
    }

    static func listenTCP(address: UInt32, port: UInt16) throws(Failure) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket(AF_INET)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = address.bigEndian
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0, listen(fd, 16) == 0 else {
            let e = failure("bind/listen tcp port \(port)")
            close(fd)
            throw e
        }
        return fd
    }

    /// A connected, non-blocking socket; nil when nothing is waiting.
    static func accept(_ fd: Int32) -> Int32? {
        // accept4 is hidden behind _GNU_SOURCE in Glibc's Swift module: accept, then set the flags.
        let c = Glibc.accept(fd, nil, nil)
        guard c >= 0 else { return nil }
        _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
        _ = fcntl(c, F_SETFD, FD_CLOEXEC)
        return c
    }

    /// Reads what is waiting. nil: the peer closed or failed; empty: nothing more for now.
    static func readAvailable(_ fd: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                out.append(contentsOf: chunk[0 ..< n])
                if out.count > 1 << 20 { return out }
                continue
            }
            if n == 0 { return out.isEmpty ? nil : out }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return out }
            return out.isEmpty ? nil : out
        }
    }

    /// Writes all of `bytes`, waiting for writability a bounded time (responses are small; a client that
    /// does not read for a second loses its connection rather than stall the datapath).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        var waited = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 {
                offset += n
                continue
            }
            guard n < 0, errno == EAGAIN || errno == EINTR, waited < 100 else { return false }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 10)
            waited += 1
        }
        return true
    }

    /// Client side (the CLI): connects to a Unix socket, blocking.
    static func connectUnix(path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket(AF_UNIX)") }
        var addr: sockaddr_un
        do { addr = try unixAddress(path) } catch {
            close(fd)
            throw error
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let e = failure("connect \(path)")
            close(fd)
            throw e
        }
        return fd
    }
}

/// A client of the control socket: one request line, one response line.
public enum ControlClient {
    public static func request(_ json: [String: Any], path: String) throws -> [String: Any] {
        let fd: Int32
        do { fd = try StreamSocket.connectUnix(path: path) } catch { throw ControlClientError(message: error.description) }
        defer { close(fd) }
        var line = try JSONSerialization.data(withJSONObject: json)
        line.append(0x0A)
        guard StreamSocket.writeAll(fd, Array(line)) else { throw ControlClientError(message: "write to \(path) failed") }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !response.contains(0x0A) {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                break
            }
            response.append(contentsOf: chunk[0 ..< n])
        }
        guard let end = response.firstIndex(of: 0x0A),
              let obj = try? JSONSerialization.jsonObject(with: Data(response[..<end])) as? [String: Any]
        else { throw ControlClientError(message: "no valid response from \(path)") }
        return obj
    }
}

public struct ControlClientError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
