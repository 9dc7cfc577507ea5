import Foundation

/// `hna lab`: build, check, report, and (unless kept) tear down — also when a step fails or the run is
/// interrupted.
public enum LabRunner {
    /// The dataplane the HNA hosts use.
    public enum Dataplane: String, Sendable, CaseIterable {
        /// The HNA daemon (`hna run`), the lab's purpose.
        case hna
        /// Linux kernel VXLAN on every host: the lab's plumbing without HNA, and the baseline.
        case kernelVXLAN = "kernel-vxlan"
    }

    /// The `hna` executable running now: the daemons are started from the same build.
    public static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func makeDataplane(_ d: Dataplane) -> HostDataplane? {
        switch d {
        case .hna: return DaemonDataplane(executable: ownExecutable)
        case .kernelVXLAN: return nil
        }
    }

    /// Runs the whole lab. Progress goes to `log` (standard error in the CLI).
    public static func run(topology: LabTopology, dataplane: Dataplane, options: LabOptions, keep: Bool,
                           log: (String) -> Void) -> LabReport {
        let lab = Lab(topology: topology, dataplane: makeDataplane(dataplane))
        var report = LabReport(topology: topology, dataplane: lab.dataplane.kind)
        var keepIt = keep
        defer {
            if !keepIt {
                log("tearing down")
                let problems = lab.down()
                if !problems.isEmpty { log("teardown left: " + problems.joined(separator: "; ")) }
            }
        }
        do throws(LabError) {
            log("building \(topology.hosts.count) hosts × \(topology.vms.count / topology.hosts.count) VMs "
                + "(\(lab.dataplane.kind)) and kernel VXLAN host \(topology.kernelHost.name)")
            try lab.up()
            log("running checks")
            report = try LabChecks(lab: lab, options: options).run()
        } catch {
            report.error = error.description
            if case .missingPrerequisites = error { keepIt = false }
            if case .interrupted = error { keepIt = false }
        }
        return report
    }

    /// `hna lab up`: builds the lab and leaves it (and its daemons) running.
    public static func up(topology: LabTopology, dataplane: Dataplane, log: (String) -> Void) throws(LabError) {
        let lab = Lab(topology: topology, dataplane: makeDataplane(dataplane))
        do {
            try lab.up()
        } catch {
            if case .linux(let s) = error, s.contains("already up") { throw error }
            lab.down()
            throw error
        }
        log("lab up: " + topology.allVMs.map { "\($0.namespace) \($0.ip) (\($0.network.name))" }.joined(separator: ", "))
    }

    /// `hna lab down`: removes a lab that is up, or the leftovers of one, by the name prefix.
    public static func down() -> [String] { Lab.sweep() }

    /// `hna lab status`: what is up, in lines.
    public static func status() -> [String] {
        let names = Lab.leftovers()
        guard !names.isEmpty else { return ["no lab is up"] }
        var lines: [String] = []
        if let s = Lab.readState() {
            lines.append("lab up: \(s.hosts) hosts × \(s.vmsPerHost) VMs, dataplane \(s.dataplane)")
        } else {
            lines.append("namespaces of a lab without state (left behind by a crash? `hna lab down` removes them)")
        }
        for ns in names.sorted() {
            let pids = LabProcesses.pids(in: ns)
            let host = String(ns.dropFirst(LabTopology.prefix.count))
            let socket = "\(LabTopology.stateDirectory)/\(host).sock"
            var line = "  \(ns)"
            if FileManager.default.fileExists(atPath: socket) {
                let answers = (try? ControlClient.request(socket, ["command": "stats"])) != nil
                line += "  HNA control \(socket) \(answers ? "answers" : "does not answer")"
            }
            if !pids.isEmpty { line += "  processes \(pids.map(String.init).joined(separator: " "))" }
            lines.append(line)
        }
        return lines
    }
}
