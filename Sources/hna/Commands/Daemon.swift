import ArgumentParser
import Foundation
import HNADaemon

/// `hna run --config FILE.yaml`: the daemon (docs/daemon.md, schema in docs/config.md).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HNA daemon for one host.")

    @Option(help: "The YAML configuration (docs/config.md).") var config: String

    func run() throws {
        let status = Daemon.main(configPath: config)
        if status != 0 { throw ExitCode(status) }
    }
}

/// Where a client finds the daemon: --control PATH, or the path a --config file names.
struct ControlOptions: ParsableArguments {
    @Option(help: "The daemon's control socket.") var control: String?
    @Option(help: "Read the control socket path from this configuration file.") var config: String?

    func path() throws -> String {
        if let control { return control }
        if let config { return try Daemon.controlPath(configPath: config) }
        throw ValidationError("give --control PATH or --config FILE")
    }

    func request(_ json: [String: Any]) throws -> Any {
        let response = try ControlClient.request(json, path: path())
        guard response["ok"] as? Bool == true else {
            throw ControlFailure(message: response["error"] as? String ?? "request failed")
        }
        return response["result"] ?? NSNull()
    }
}

struct ControlFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}

/// The class JSONSerialization gives parsed `true`/`false` (a subclass of NSNumber), which tells them
/// from the numbers 1 and 0.
let jsonBooleanClass: AnyClass = type(of: NSNumber(value: true))

/// Prints rows of objects as an aligned table (nested values as compact JSON). An object prints as
/// key/value rows, each of its lists of objects (the queues of `hna show queues`, say) as a table of
/// its own below them.
func printTable(_ value: Any) throws {
    func cell(_ v: Any) -> String {
        switch v {
        case let s as String: return s
        case let n as NSNumber where type(of: n) == jsonBooleanClass:
            return n.boolValue ? "yes" : "no"
        case let n as NSNumber: return n.stringValue
        default:
            let d = (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys])) ?? Data()
            return String(decoding: d, as: UTF8.self)
        }
    }
    var rows: [[String: Any]]
    if let r = value as? [[String: Any]] {
        rows = r
    } else if let o = value as? [String: Any] {
        let tables = o.keys.sorted().filter { ((o[$0] as? [[String: Any]])?.isEmpty == false) }
        // Counter groups (an object of plain values, as in `hna show drops`) as one row per counter.
        rows = o.keys.sorted().filter { !tables.contains($0) }.flatMap { k -> [[String: Any]] in
            if let group = o[k] as? [String: Any], !group.isEmpty,
               group.values.allSatisfy({ $0 is NSNumber || $0 is String }) {
                return group.keys.sorted().map { ["key": "\(k).\($0)", "value": group[$0]!] }
            }
            return [["key": k, "value": o[k]!]]
        }
        if !tables.isEmpty {
            if !rows.isEmpty { try printTable(rows) }
            for k in tables {
                print("\n\(k):")
                try printTable(o[k]!)
            }
            return
        }
    } else {
        print(cell(value))
        return
    }
    guard let first = rows.first else { print("(none)"); return }
    let keys = first.keys.sorted { a, b in (a == "name" ? 0 : 1, a) < (b == "name" ? 0 : 1, b) }
    let table = [keys] + rows.map { r in keys.map { r[$0].map(cell) ?? "" } }
    let widths = keys.indices.map { i in table.map { $0[i].count }.max() ?? 0 }
    for line in table {
        let padded = line.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
        print(String(padded.joined(separator: "  ").reversed().drop(while: { $0 == " " }).reversed()))
    }
}

/// `hna show <what>`: the daemon's state through its control socket.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's interfaces, vrfs, routes, nexthops, flows, peers, queues, drops or stats.")

    @Argument(help: "interfaces | vrfs | routes | nexthops | flows | peers | queues | drops | stats") var what: String
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var control: ControlOptions

    func run() throws {
        let request: [String: Any] = what == "stats" ? ["command": "stats"] : ["command": "show", "what": what]
        let result = try control.request(request)
        if json { try printJSON(result) } else { try printTable(result) }
    }
}

/// `hna trace`: records every stage of the next N packets and prints them.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Trace the next packets through the daemon's stages.")

    @Option(help: "Packets to trace.") var count = 10
    @Flag(help: "Print the records as JSON.") var json = false
    @OptionGroup var control: ControlOptions

    func run() throws {
        let result = try control.request(["command": "trace", "count": count])
        if json { try printJSON(result); return }
        for r in result as? [[String: Any]] ?? [] {
            print("[\(r["id"] ?? "")] \(r["stage"] ?? ""): \(r["detail"] ?? "")")
        }
    }
}

/// `hna capture`: writes the next N packets of a port (or the underlay) to a pcap file.
struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Capture a VM port's or the fabric's packets to pcap.")

    @Argument(help: "A port name, or 'fabric' for the underlay datagrams.") var target: String
    @Option(help: "The pcap file to write.") var output: String
    @Option(help: "Packets to capture.") var count = 100
    @OptionGroup var control: ControlOptions

    func run() throws {
        let path = URL(fileURLWithPath: output).standardizedFileURL.path
        let result = try control.request(["command": "capture", "port": target, "path": path, "count": count])
        if let r = result as? [String: Any] { print("\(r["packets"] ?? 0) packets written to \(r["path"] ?? path)") }
    }
}
