import ArgumentParser
import HNABench
import Foundation
import HNALab
import HNANode
import HNASim

/// `hna bench …`: every benchmark prints a text table, or with `--json` one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure HNA's datapath and models (figures in docs/benchmarks.md).",
        subcommands: [BenchWire.self, BenchCore.self, BenchLab.self, BenchRouter.self, BenchSim.self]
    )
}

/// Options every `hna bench` subcommand takes.
struct BenchOutput: ParsableArguments {
    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    func emit(_ report: BenchReport) {
        print(json ? report.json.description : report.text)
    }
}

struct BenchWire: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire", abstract: "Parse and emit cost per packet of HNA's encapsulations.")

    @OptionGroup var output: BenchOutput
    @Option(help: "Seconds to spend on each figure.") var seconds = 0.5

    func run() {
        output.emit(WireBench.run(seconds: seconds))
    }
}

struct BenchCore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "Communications controller: cost per packet, and one rate-allocation round.")

    @OptionGroup var output: BenchOutput
    @Option(help: "Seconds to spend on each figure.") var seconds = 0.5
    @Option(help: "Number of peers.") var peers = 1000

    func validate() throws {
        guard peers > 0 else { throw ValidationError("--peers must be positive") }
    }

    func run() {
        output.emit(CoreBench.run(seconds: seconds, peers: peers))
    }
}

struct BenchRouter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Virtual router on one core: FIB and flow-table lookups, flow set-ups, pipeline Mpps.")

    @OptionGroup var output: BenchOutput
    @Option(help: "Seconds to spend on each figure.") var seconds = 0.5
    @Option(help: "Random IPv4 prefixes in the FIB.") var ipv4Prefixes = 1_000_000
    @Option(help: "Random IPv6 prefixes in the FIB.") var ipv6Prefixes = 100_000
    @Option(help: "Flows in the flow table for the lookup figure.") var flows = 1_000_000
    @Option(help: "Active flows for the pipeline figures.") var activeFlows = 10_000

    func run() {
        var o = RouterBench.Options()
        o.seconds = seconds
        o.ipv4Prefixes = ipv4Prefixes
        o.ipv6Prefixes = ipv6Prefixes
        o.flows = flows
        o.activeFlows = activeFlows
        output.emit(RouterBench.run(o))
    }
}

struct BenchLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "VM→VM TCP throughput and 64-byte UDP packet rate through two HNAs, two kernel VXLAN devices and a bare veth (needs root).")

    @OptionGroup var output: BenchOutput
    @Option(help: "Seconds per iperf3 run.") var seconds = 5.0
    @Option(parsing: .upToNextOption, help: "Paths to measure: hna, kernelVxlan, veth.")
    var paths = ["hna", "kernelVxlan", "veth"]
    @Option(help: "Underlay MTU on every path (the VMs' is 100 less): 1500, or 9000 for jumbo frames.")
    var mtu = LabTopology.underlayMTU
    @Option(help: "Rounds over all paths, in turn; each figure is the median of its rounds (a busy machine's noise falls on every path alike).")
    var rounds = 1

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard NodeConfiguration.underlayMTURange.contains(mtu) else {
            throw ValidationError("--mtu must be \(NodeConfiguration.underlayMTURange.lowerBound) to \(NodeConfiguration.underlayMTURange.upperBound)")
        }
        let known: Set = ["hna", "kernelVxlan", "veth"]
        for p in paths where !known.contains(p) { throw ValidationError("unknown path \(p) (hna, kernelVxlan, veth)") }
    }

    func run() throws {
        LabInterrupt.install()
        try requireLabPrerequisites()
        guard HNALab.Lab.leftovers().isEmpty else {
            FileHandle.standardError.write(Data("hna bench lab: a lab is up; `hna lab down` first\n".utf8))
            throw ExitCode.failure
        }
        output.emit(LabBench.run(seconds: seconds, executable: LabRunner.ownExecutable, paths: paths, underlayMTU: mtu,
                                 rounds: rounds) {
            FileHandle.standardError.write(Data("hna bench lab: \($0)\n".utf8))
        })
    }
}

struct BenchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Simulator speed: events per second and wall time of a web-search run, from 64 to 1,024 hosts.")

    @OptionGroup var output: BenchOutput
    @Option(help: "Comma-separated host counts (leaf-spine, 100 Gb/s links).") var hosts = "64,128,256,512,1024"
    @Option(name: .customLong("duration-ms"), help: "Simulated time per run (ms).") var durationMs = 10.0
    @Option(help: "Offered web-search load.") var load = 0.5
    @Option(name: .customLong("flow-control"), help: "hna, none or dcqcn.") var flowControl = "hna"
    @Option(help: "Runs of each figure; each figure is the median of its rounds (the results are the same every round, only the times differ).")
    var rounds = 1

    func run() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        let counts = hosts.split(separator: ",").compactMap { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 2 }) else { throw ValidationError("--hosts takes counts of 2 or more") }
        guard let mode = FlowControlMode(rawValue: flowControl) else { throw ValidationError("--flow-control is hna, none or dcqcn") }
        do {
            output.emit(try SimBench.run(hosts: counts, durationMs: durationMs, load: load, mode: mode, rounds: rounds))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
