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

    /// `hna bench sim --rounds`: the figures are medians of the rounds; the event count, which the
    /// simulation fixes, is the same in every round, and every round's rate is listed.
    @Test func benchSimRoundsReportMedians() throws {
        let out = try HNACommand.run(["bench", "sim", "--hosts", "16,32", "--duration-ms", "0.2", "--rounds", "3", "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        for key in ["wallSeconds16", "cpuSeconds16", "eventsPerSecond16", "events16", "eventsPerSecond32",
                    "engineEventsPerSecond32"] {
            #expect((object[key] as? Double ?? 0) > 0, "missing \(key)")
        }
        let context = try #require(object["context"] as? [String: Any])
        #expect(context["rounds (median)"] as? String == "3")
        let rounds = try #require(context["32 hosts, M events per CPU second per round"] as? String)
        #expect(rounds.split(separator: " ").count == 3)
        let kinds = try #require(context["32 hosts, events by kind"] as? String)
        #expect(kinds.hasPrefix("arrive ") && kinds.contains("hostWake "))
        #expect((context["16 hosts, packets"] as? String)?.contains("heartbeats") == true)
        let bad = try HNACommand.run(["bench", "sim", "--hosts", "16", "--rounds", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--rounds"))
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
