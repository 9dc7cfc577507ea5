import Foundation

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Foundation's `Process` waits for exit by polling its run loop, which costs tens of milliseconds per
/// command; building a lab runs a few hundred `ip` commands, so that alone took seconds. The child starts
/// with every signal unblocked and at its default action, whatever the parent blocks (the lab blocks
/// SIGINT/SIGTERM to handle them on a thread of its own).
public final class Subprocess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Where a child's standard output or error goes.
    public enum Output: Sendable {
        case null
        /// A pipe the caller reads (`run` does).
        case pipe
        /// Appended to a file.
        case file(String)
    }

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` (a path) with `arguments`; returns the child and the read ends of the pipes
    /// asked for (the caller closes them).
    public static func spawn(_ executable: String, _ arguments: [String], stdout: Output = .null,
                             stderr: Output = .null) throws(LinuxError) -> (Subprocess, stdout: Int32?, stderr: Int32?) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var readEnds: [Int32?] = [nil, nil]
        var toClose: [Int32] = []
        for (i, (target, output)) in [(Int32(1), stdout), (Int32(2), stderr)].enumerated() {
            switch output {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            case let .file(path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .pipe:
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else {
                    toClose.forEach { close($0) }
                    throw .system(subject: executable, operation: "pipe2", errno: errno)
                }
                // Close-on-exec keeps other children (spawned concurrently) from inheriting our ends; the
                // child's dup2 copy is not close-on-exec.
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                posix_spawn_file_actions_adddup2(&actions, fds[1], target)
                readEnds[i] = fds[0]
                toClose += [fds[0], fds[1]]
            }
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, environ)
        // The child has its copies; keep only our read ends.
        for fd in toClose where !readEnds.contains(fd) { close(fd) }
        guard rc == 0 else {
            readEnds.forEach { if let fd = $0 { close(fd) } }
            throw .system(subject: executable, operation: "posix_spawn", errno: rc)
        }
        return (Subprocess(pid: pid), readEnds[0], readEnds[1])
    }

    /// The exit status (128 + signal number when killed), or nil while it runs.
    public var status: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus == nil { reap(WNOHANG) }
        return exitStatus
    }

    public var isRunning: Bool { status == nil }

    /// Waits for the child to exit and returns its status.
    @discardableResult
    public func wait() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        while exitStatus == nil { reap(0) }
        return exitStatus!
    }

    private func reap(_ options: Int32) {
        var st: Int32 = 0
        let r = waitpid(pid, &st, options)
        if r == pid {
            // The wait status encoding (the W* macros Swift cannot import): low 7 bits are the signal.
            exitStatus = st & 0x7F == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
        } else if r < 0, errno != EINTR {
            exitStatus = -1
        }
    }

    /// Sends `signal` to the child unless it has been reaped.
    public func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// What `run` collected.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var timedOut: Bool
    }

    /// Runs to completion, collecting both outputs; after `timeout` seconds the child gets SIGTERM, one
    /// second later SIGKILL. `started` sees the child as soon as it runs (to signal it from elsewhere).
    public static func run(_ executable: String, _ arguments: [String], timeout: Double? = nil,
                           started: (Subprocess) -> Void = { _ in }) throws(LinuxError) -> Result {
        let (child, out, err) = try spawn(executable, arguments, stdout: .pipe, stderr: .pipe)
        started(child)
        var buffers: [[UInt8]] = [[], []]
        var fds = [out!, err!]
        var open = [true, true]
        let start = Date()
        var timedOut = false
        var killAt: Date?
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open.contains(true) {
            var pfds = (0 ..< 2).filter { open[$0] }.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            var waitMs: Int32 = -1
            if let timeout {
                if !timedOut, Date().timeIntervalSince(start) >= timeout {
                    timedOut = true
                    child.signal(SIGTERM)
                    killAt = Date().addingTimeInterval(1)
                }
                if let k = killAt, Date() >= k { child.signal(SIGKILL); killAt = nil }
                waitMs = 100
            }
            // A grandchild may hold the pipes open after a timed-out child is gone.
            if timedOut, !child.isRunning { break }
            let n = poll(&pfds, nfds_t(pfds.count), waitMs)
            if n < 0, errno != EINTR { break }
            for p in pfds where p.revents != 0 {
                let i = p.fd == fds[0] ? 0 : 1
                let got = chunk.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if got > 0 { buffers[i] += chunk[0 ..< got] } else if got == 0 || errno != EINTR { open[i] = false }
            }
        }
        fds.forEach { close($0) }
        fds = []
        return Result(status: child.wait(), stdout: buffers[0], stderr: buffers[1], timedOut: timedOut)
    }
}
