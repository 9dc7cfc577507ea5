import ArgumentParser
import HNABench

/// `hna bench …`: every benchmark prints a text table, or with `--json` one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure HNA's datapath and models (figures in docs/benchmarks.md).",
        subcommands: [BenchWire.self, BenchCore.self, BenchRouter.self]
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
