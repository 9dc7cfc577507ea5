import CHNALinux
import Foundation

/// A named network namespace (`ip netns`): a VM or a host in tests and in `hna lab`.
public struct Namespace: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    /// Refers to a namespace by name (it need not exist yet).
    public init(_ name: String) { self.name = name }

    public var description: String { name }

    /// The bind mount `ip netns add` creates; `withEntered` opens it.
    public var path: String { "/run/netns/\(name)" }

    /// Names of the existing namespaces.
    public static func list() throws(LinuxError) -> [String] {
        try Command.run("ip", ["netns", "list"])
            .split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// True when namespaces can be made here: root and `ip netns` present.
    public static var supported: Bool {
        getuid() == 0 && Command.available("ip") && (try? list()) != nil
    }

    /// Runs `argv` inside the namespace (`ip netns exec`), returning its output.
    @discardableResult
    public func run(_ tool: String, _ arguments: [String]) throws(LinuxError) -> String {
        try Command.run("ip", ["netns", "exec", name, tool] + arguments)
    }

    /// Runs `body` with the calling thread inside this namespace, then moves the thread back. Sockets
    /// and TAP devices opened in `body` belong to the namespace for good; that is how one process holds
    /// underlay sockets in several simulated hosts. `body` must not suspend (it is synchronous), so the
    /// thread cannot change under it. Entering throws `LinuxError`; `body`'s own errors pass through.
    public func withEntered<T>(_ body: () throws -> T) throws -> T {
        let home = try LinuxError.check(hna_netns_current(), "namespace \(name)", "/proc/thread-self/ns/net")
        defer { closeDescriptor(home) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        if target < 0 { throw LinuxError.system(subject: "namespace \(name)", operation: path, errno: errno) }
        defer { closeDescriptor(target) }
        _ = try LinuxError.check(hna_netns_enter(target), "namespace \(name)", "setns")
        defer {
            // Entering our own saved namespace cannot fail short of a kernel bug; carrying on in the
            // wrong namespace would misplace every socket this thread opens next.
            let back = hna_netns_enter(home)
            precondition(back == 0, "could not return to the original network namespace (errno \(-back))")
        }
        return try body()
    }
}
