import Foundation

/// Runs the configuration tools (ip, tc, sysctl) the lab and the tests build networks with.
///
/// Netlink from Swift would avoid the process start-ups, but the commands are what an operator types to
/// reproduce or inspect a setup, and set-up is not on the datapath.
public enum Command {
    /// Where the tools live: PATH first, then the sbin directories a non-login root shell may lack.
    static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return tool }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for d in dirs where FileManager.default.isExecutableFile(atPath: "\(d)/\(tool)") {
            return "\(d)/\(tool)"
        }
        return nil
    }

    /// True when `tool` can be found.
    public static func available(_ tool: String) -> Bool { locate(tool) != nil }

    /// Runs `tool arguments...`, returns its standard output; throws `.command` with its standard
    /// error when it exits non-zero or cannot start.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws(LinuxError) -> String {
        let line = ([tool] + arguments).joined(separator: " ")
        guard let exe = locate(tool) else {
            throw .command(commandLine: line, status: 127, stderr: "\(tool): not found")
        }
        let r: Subprocess.Result
        do {
            r = try Subprocess.run(exe, arguments)
        } catch {
            throw .command(commandLine: line, status: 127, stderr: error.description)
        }
        guard r.status == 0 else {
            throw .command(commandLine: line, status: r.status, stderr: String(decoding: r.stderr, as: UTF8.self))
        }
        return String(decoding: r.stdout, as: UTF8.self)
    }
}
