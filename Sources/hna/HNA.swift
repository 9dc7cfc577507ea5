import ArgumentParser

/// `hna`: the command-line front end. Subcommands only parse arguments and call into the libraries.
@main
struct HNA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hna",
        abstract: "HNA, a software host network accelerator for data-center overlay networks.",
        subcommands: [Decode.self, Rates.self, Bench.self, Run.self, Show.self, Trace.self, Capture.self, Lab.self, Sim.self]
    )
}
