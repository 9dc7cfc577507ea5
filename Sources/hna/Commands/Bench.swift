import ArgumentParser
import HNABench
import HNASim

/// `hna bench …`: every benchmark prints a text table, or with `--json` one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure HNA's datapath and models (figures in docs/benchmarks.md).",
        subcommands: [BenchWire.self, BenchCore.self, BenchSim.self]
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

struct BenchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Simulator speed: events per second and wall time of a web-search run, from 64 to 1,024 hosts.")

    @OptionGroup var output: BenchOutput
    @Option(help: "Comma-separated host counts (leaf-spine, 100 Gb/s links).") var hosts = "64,128,256,512,1024"
    @Option(name: .customLong("duration-ms"), help: "Simulated time per run (ms).") var durationMs = 10.0
    @Option(help: "Offered web-search load.") var load = 0.5
    @Option(name: .customLong("flow-control"), help: "hna, none or dcqcn.") var flowControl = "hna"

    func run() throws {
        let counts = hosts.split(separator: ",").compactMap { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 2 }) else { throw ValidationError("--hosts takes counts of 2 or more") }
        guard let mode = FlowControlMode(rawValue: flowControl) else { throw ValidationError("--flow-control is hna, none or dcqcn") }
        do {
            output.emit(try SimBench.run(hosts: counts, durationMs: durationMs, load: load, mode: mode))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
