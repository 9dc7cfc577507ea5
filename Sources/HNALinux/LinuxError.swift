import CHNALinux
import Glibc

/// Why a Linux I/O operation failed, said the way an operator reads it:
/// "TAP device vm1: /dev/net/tun: permission denied".
///
/// One typed error for the whole module so the datapath throws without existential boxes, and so the
/// daemon can tell a configuration problem (bad name, missing privilege) from a command that failed.
public enum LinuxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed. `subject` is what we were working on ("TAP device vm1", "UDP socket
    /// 10.0.0.1:4789"), `operation` the step ("/dev/net/tun", "bind", "sendmmsg").
    case system(subject: String, operation: String, errno: Int32)
    /// An external command (ip, tc, sysctl) exited non-zero or could not be started.
    case command(commandLine: String, status: Int32, stderr: String)
    /// A caller asked for something the kernel would refuse anyway (a name too long, a bad address).
    case invalidArgument(subject: String, reason: String)

    public var description: String {
        switch self {
        case let .system(subject, operation, errno):
            return "\(subject): \(operation): \(LinuxError.message(for: errno))"
        case let .command(commandLine, status, stderr):
            let detail = stderr.trimmingTrailingWhitespace
            return "\(commandLine): exited \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        case let .invalidArgument(subject, reason):
            return "\(subject): \(reason)"
        }
    }

    /// The errno, when the failure was a system call.
    public var errno: Int32? {
        if case let .system(_, _, e) = self { return e }
        return nil
    }

    /// strerror text with a lower-case first letter, as it reads in the middle of a sentence.
    static func message(for errno: Int32) -> String {
        guard let c = strerror(errno) else { return "errno \(errno)" }
        let s = String(cString: c)
        guard let first = s.first else { return "errno \(errno)" }
        return first.lowercased() + s.dropFirst()
    }

    /// Turns a CHNALinux result (>= 0 or -errno) into a value or a thrown `.system` error.
    @inlinable @inline(__always)
    static func check(_ result: Int32, _ subject: @autoclosure () -> String,
                      _ operation: @autoclosure () -> String) throws(LinuxError) -> Int32 {
        if _slowPath(result < 0) {
            throw .system(subject: subject(), operation: operation(), errno: -result)
        }
        return result
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Closes a descriptor we own, ignoring EINTR/EBADF: after close(2) the fd is gone either way.
@usableFromInline
func closeDescriptor(_ fd: Int32) {
    if fd >= 0 { _ = hna_close(fd) }
}
