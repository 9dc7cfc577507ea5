import ArgumentParser
import HNABench

/// `hna bench …`: every benchmark prints a text table, or with `--json` one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure HNA's datapath and models (figures in docs/benchmarks.md).",
        subcommands: [BenchWire.self]
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
