import Foundation
import HNATestSupport
import Testing

@Suite struct SimCommandTests {
    @Test func jsonCsvAndPlotsForTwoModes() throws {
        let dir = try ExternalTool.temporaryDirectory()
        let json = dir.appendingPathComponent("r.json").path
        let out = try HNACommand.run(["sim", "--scenario", "fig12a", "--duration-ms", "0.3", "--flow-control", "hna,none",
                                      "--json", json, "--csv", dir.path, "--plot", dir.path])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.text.contains("rate matrix (hna)"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        for key in ["scenario", "flowControl", "hosts", "simulatedSeconds", "wallSeconds", "events", "drops",
                    "deliveredBytes", "goodputGbps", "bottleneckUtilization", "jainFairness", "feedbackOverhead",
                    "fct", "queueBytes", "rateMatrix"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["flowControl"] as? String == "hna")
        #expect((object["rateMatrix"] as? [[Double]])?.count == 6)
        let baselines = try #require(object["baselines"] as? [[String: Any]])
        #expect(baselines.map { $0["flowControl"] as? String } == ["none"])
        for file in ["fig12a-hna-throughput.csv", "fig12a-hna-queue.csv", "fig12a-hna-rates.csv", "fig12a-none-rates.csv",
                     "fig12a-hna-throughput.svg", "fig12a-hna-queue.svg", "fig12a-hna-rates.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "\(file)")
        }
        let csv = try String(contentsOfFile: dir.appendingPathComponent("fig12a-hna-throughput.csv").path, encoding: .utf8)
        #expect(csv.hasPrefix("time_us,total_gbps,A_gbps,B_gbps"))
    }

    @Test func badInputIsAnErrorNotACrash() throws {
        let unknown = try HNACommand.run(["sim", "--scenario", "nope"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown scenario"))
        let badMode = try HNACommand.run(["sim", "--scenario", "incast", "--flow-control", "tcp"])
        #expect(badMode.status != 0)
        let uneven = try HNACommand.run(["sim", "--scenario", "incast", "--hosts", "10", "--leaves", "3"])
        #expect(uneven.status != 0)
        #expect(uneven.stderr.contains("split evenly"))
    }
}
