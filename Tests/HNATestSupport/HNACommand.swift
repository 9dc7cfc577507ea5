import Foundation

/// Runs the built `hna` executable, for tests of the command-line contracts (flags, JSON keys, exit
/// codes). The test target depends on the `hna` product, so it is built beside the test binary.
public enum HNACommand {
    public static var executable: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [beside, beside.deletingLastPathComponent(), beside.deletingLastPathComponent().deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("hna")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repositoryRoot.appendingPathComponent(".build/debug/hna")
    }

    public static func run(_ arguments: [String], stdin: Data? = nil) throws -> ExternalTool.Output {
        try ExternalTool.run(executable.path, arguments, stdin: stdin)
    }
}
