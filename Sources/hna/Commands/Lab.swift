import ArgumentParser
import Foundation
import HNALab

/// `hna lab`: a small data center of network namespaces on this machine (docs/lab.md).
struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a data center of namespaces, run HNAs in it, check and report, tear it down (docs/lab.md).",
        subcommands: [LabRun.self, LabUp.self, LabDown.self, LabStatus.self],
        defaultSubcommand: LabRun.self
    )
}

/// Options shared by `hna lab` and `hna lab up`.
struct LabShape: ParsableArguments {
    @Option(help: "Number of hosts, each running an HNA.") var hosts = LabTopology.defaultHosts
    @Option(help: "VMs per host (VM 1 in blue, VM 2 in red, alternating).") var vms = LabTopology.defaultVMsPerHost
    @Option(help: "What forwards the hosts' VM traffic: hna (the daemon) or kernel-vxlan (Linux VXLAN).")
    var dataplane: LabRunner.Dataplane = .hna

    func topology() throws -> LabTopology {
        do { return try LabTopology(hosts: hosts, vmsPerHost: vms) } catch { throw ValidationError(error.description) }
    }
}

extension LabRunner.Dataplane: ExpressibleByArgument {}

/// Prints one line on standard error and exits with status 2 when a prerequisite is missing.
func requireLabPrerequisites() throws {
    let missing = Prerequisite.missing()
    guard missing.isEmpty else {
        FileHandle.standardError.write(Data((Prerequisite.message(missing) + "\n").utf8))
        throw ExitCode(2)
    }
}

func progress(_ line: String) {
    FileHandle.standardError.write(Data("hna lab: \(line)\n".utf8))
}

struct LabRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build the lab, run every check, print the report, tear it down (exit 1 when a check fails).")

    @OptionGroup var shape: LabShape
    @Flag(help: "Print the report as one JSON object.") var json = false
    @Flag(help: "Leave the lab up after the checks (`hna lab down` removes it).") var keep = false
    @Option(help: "Fabric bottleneck of the drop-free scenario, Mbit/s (below what a debug-build HNA forwards).")
    var bottleneckMbps = LabOptions().bottleneckMbps
    @Flag(help: "Skip the drop-free scenario.") var noDropFree = false

    func run() throws {
        LabInterrupt.install()
        let topology = try shape.topology()
        try requireLabPrerequisites()
        var options = LabOptions()
        options.bottleneckMbps = bottleneckMbps
        options.dropFree = !noDropFree
        let report = LabRunner.run(topology: topology, dataplane: shape.dataplane, options: options, keep: keep,
                                   log: progress)
        print(json ? report.json.description : report.text)
        if LabInterrupt.requested { throw ExitCode(130) }
        if !report.passed { throw ExitCode.failure }
    }
}

struct LabUp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Build the lab and leave it running (`hna lab status`, `hna lab down`).")

    @OptionGroup var shape: LabShape

    func run() throws {
        LabInterrupt.install()
        let topology = try shape.topology()
        try requireLabPrerequisites()
        do {
            try LabRunner.up(topology: topology, dataplane: shape.dataplane, log: progress)
        } catch {
            progress(error.description)
            throw ExitCode.failure
        }
    }
}

struct LabDown: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Remove the lab, or whatever an interrupted or crashed run left behind.")

    func run() throws {
        try requireLabPrerequisites()
        let problems = LabRunner.down()
        for p in problems { progress(p) }
        if !problems.isEmpty { throw ExitCode.failure }
    }
}

struct LabStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show what of the lab is up.")

    func run() throws {
        for line in LabRunner.status() { print(line) }
    }
}
