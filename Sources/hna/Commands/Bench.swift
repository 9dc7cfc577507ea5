import ArgumentParser
import HNABench

/// `hna bench …`: every benchmark prints a text table, or with `--json` one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure HNA's datapath and models (figures in docs/benchmarks.md).",
        subcommands: [BenchWire.self, BenchCore.self]
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
