import ArgumentParser
import Foundation
import HNACore
import HNAWire

/// `hna rates`: the operator's calculator for Eq. 3 and 4, on the core's own allocation code.
struct Rates: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the rates R (Eq. 3) and normalised rates R̂ (Eq. 4) for queue lengths Q.",
        discussion: """
            Input: {"queues": [[q_ij, ...], ...], "txBandwidth": [B_i, ...], "rxBandwidth": [B_j, ...]}; \
            rows are sources, columns destinations; the bandwidth arrays are optional and default to 1.
            """
    )

    @Argument(help: "A JSON file, or - (the default) for standard input.") var file: String = "-"
    @Flag(help: "Print exactly {\"rates\": R, \"normalized\": R̂}.") var json = false

    func run() throws {
        let matrices: RateMatrices
        do {
            matrices = try RateMatrices(parsingJSON: try readInput())
        } catch {
            FileHandle.standardError.write(Data("hna rates: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encode = { (m: [[Double]]) in JSONValue.array(m.map { .array($0.map { JSONValue.double($0) }) }) }
            print(JSONValue.object([("rates", encode(matrices.rates)), ("normalized", encode(matrices.normalized))]))
        } else {
            print("R (rate destination j grants source i; rows sources, columns destinations)")
            print(table(matrices.rates))
            print("R̂ (rate source i sends to destination j)")
            print(table(matrices.normalized))
        }
    }

    private func readInput() throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw RateMatrices.InputError("cannot read \(file)")
        }
        return data
    }

    private func table(_ m: [[Double]]) -> String {
        let cells = m.map { $0.map { String(format: "%.4f", $0) } }
        let width = cells.flatMap { $0 }.map(\.count).max() ?? 1
        return cells.map { row in
            "  " + row.map { String(repeating: " ", count: width - $0.count) + $0 }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension RateMatrices {
    /// Parses the `hna rates` input document.
    init(parsingJSON data: Data) throws {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw InputError("input is not valid JSON")
        }
        guard let object = root as? [String: Any] else { throw InputError("input must be a JSON object") }
        guard let queuesValue = object["queues"] else { throw InputError("missing \"queues\"") }
        guard let rows = queuesValue as? [Any] else { throw InputError("\"queues\" must be an array of arrays") }
        let queues = try rows.enumerated().map { i, row in
            guard let values = row as? [Any] else { throw InputError("queues row \(i) is not an array") }
            return try values.map { try Self.number($0, "queues row \(i)") }
        }
        func vector(_ key: String) throws -> [Double]? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let values = value as? [Any] else { throw InputError("\"\(key)\" must be an array of numbers") }
            return try values.map { try Self.number($0, key) }
        }
        try self.init(queues: queues, txBandwidth: try vector("txBandwidth"), rxBandwidth: try vector("rxBandwidth"))
    }

    private static func number(_ value: Any, _ context: String) throws -> Double {
        // JSON booleans arrive as NSNumber too; their type code is "c".
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else {
            throw InputError("\(context) has a value that is not a number")
        }
        return n.doubleValue
    }
}
