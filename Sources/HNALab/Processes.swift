import Foundation
import HNALinux

/// What a finished tool run left behind.
public struct ToolResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The run was stopped because it outlived its time limit.
    public var timedOut: Bool
    public var succeeded: Bool { status == 0 && !timedOut }
}

/// Starts the lab's tools (ping, iperf3, the daemons) inside namespaces, with time limits, and keeps a
/// list of the ones still running so an interrupt can stop them at once instead of waiting them out.
public enum LabProcesses {
    private static let registry = Registry()

    /// Runs `argv` inside namespace `ns` (`ip netns exec`), killing it after `timeout` seconds.
    public static func run(in ns: String, _ argv: [String], timeout: Double) -> ToolResult {
        run(["ip", "netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Runs `argv` here, killing it after `timeout` seconds.
    public static func run(_ argv: [String], timeout: Double) -> ToolResult {
        guard let exe = locate(argv[0]) else {
            return ToolResult(status: 127, stdout: "", stderr: "\(argv[0]): not found", timedOut: false)
        }
        var pid: Int32 = 0
        defer { registry.remove(pid) }
        do {
            let r = try Subprocess.run(exe, Array(argv.dropFirst()), timeout: timeout) { child in
                pid = child.pid
                registry.add(child.pid)
            }
            return ToolResult(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
                              stderr: String(decoding: r.stderr, as: UTF8.self), timedOut: r.timedOut)
        } catch {
            return ToolResult(status: 127, stdout: "", stderr: error.description, timedOut: false)
        }
    }

    /// Starts `argv` inside `ns` in the background, its output appended to `log` (or discarded).
    public static func start(in ns: String, _ argv: [String], log: String? = nil) throws(LabError) -> Subprocess {
        guard let ip = locate("ip") else { throw .linux("ip: not found") }
        let output: Subprocess.Output = log.map { .file($0) } ?? .null
        do {
            let (child, _, _) = try Subprocess.spawn(ip, ["netns", "exec", ns] + argv, stdout: output, stderr: output)
            registry.add(child.pid)
            return child
        } catch {
            throw .linux("\(argv.joined(separator: " ")): \(error)")
        }
    }

    /// Stops a background process: SIGTERM, then SIGKILL after `grace` seconds.
    public static func stop(_ p: Subprocess, grace: Double = 2) {
        defer { registry.remove(p.pid) }
        guard p.isRunning else { return }
        p.signal(SIGTERM)
        let end = Date().addingTimeInterval(grace)
        while p.isRunning, Date() < end { usleep(10_000) }
        p.signal(SIGKILL)
        p.wait()
    }

    /// Sends SIGTERM to every tool still running (an interrupt: the waiting calls then return at once).
    public static func terminateAll() {
        for pid in registry.all() { kill(pid, SIGTERM) }
    }

    /// PATH first, then the sbin directories a non-login root shell may lack.
    static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return tool }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return dirs.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Process ids of everything running inside `ns` (`ip netns pids`).
    static func pids(in ns: String) -> [Int32] {
        let r = run(["ip", "netns", "pids", ns], timeout: 5)
        return r.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
    }

    private final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var pids: Set<Int32> = []
        func add(_ p: Int32) { lock.withLock { _ = pids.insert(p) } }
        func remove(_ p: Int32) { lock.withLock { _ = pids.remove(p) } }
        func all() -> [Int32] { lock.withLock { Array(pids) } }
    }
}

/// A flag set once from another thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Hands one value from a worker thread back to the waiting one.
final class Box<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: T?
    func set(_ v: T) {
        condition.lock()
        value = v
        condition.broadcast()
        condition.unlock()
    }
    func wait() -> T {
        condition.lock()
        defer { condition.unlock() }
        while value == nil { condition.wait() }
        return value!
    }
}

/// Runs `work` for each element on its own thread and returns the results in order: the lab's pings and
/// probes are independent and mostly wait, so running them side by side keeps the lab short.
func concurrentMap<T, R>(_ items: [T], _ work: @escaping @Sendable (T) -> R) -> [R] where T: Sendable, R: Sendable {
    let boxes = items.map { _ in Box<R>() }
    for (item, box) in zip(items, boxes) {
        Thread { box.set(work(item)) }.start()
    }
    return boxes.map { $0.wait() }
}

/// The tools the lab needs, and how to get each.
public enum Prerequisite: String, Sendable, CaseIterable {
    case root, ip, tc, bridge, ping, iperf3, ethtool

    /// The apt package that provides the tool.
    var package: String? {
        switch self {
        case .root: return nil
        case .ip, .tc, .bridge: return "iproute2"
        case .ping: return "iputils-ping"
        case .iperf3: return "iperf3"
        case .ethtool: return "ethtool"
        }
    }

    /// What is missing for `hna lab` on this machine (empty: all there).
    public static func missing() -> [Prerequisite] {
        var m: [Prerequisite] = []
        if getuid() != 0 { m.append(.root) }
        for p in allCases where p != .root && LabProcesses.locate(p.rawValue) == nil { m.append(p) }
        if getuid() == 0, !m.contains(.ip), !Namespace.supported { m.append(.ip) }
        return m
    }

    /// One line: what is missing and how to get it.
    public static func message(_ missing: [Prerequisite]) -> String {
        var parts: [String] = []
        let tools = missing.filter { $0 != .root }
        if !tools.isEmpty {
            let packages = Array(Set(tools.compactMap(\.package))).sorted()
            parts.append("missing \(tools.map(\.rawValue).joined(separator: ", ")) "
                         + "(apt-get install -y \(packages.joined(separator: " ")), or run scripts/lab, which installs them)")
        }
        if missing.contains(.root) {
            parts.append("needs root for network namespaces (sudo scripts/lab)")
        }
        return "hna lab: " + parts.joined(separator: "; ")
    }
}
