import Foundation
import HNATestSupport
import Testing

@Suite struct RatesCommandTests {
    func rates(_ input: String, json: Bool = true) throws -> ExternalTool.Output {
        try HNACommand.run(["rates", "-"] + (json ? ["--json"] : []), stdin: Data(input.utf8))
    }

    @Test func jsonHasExactlyRatesAndNormalizedForFig12A() throws {
        let out = try HNACommand.run(["rates", repositoryRoot.appendingPathComponent("examples/fig12a.json").path, "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any])
        #expect(Set(object.keys) == ["rates", "normalized"])
        let r = try #require(object["rates"] as? [[Double]])
        let n = try #require(object["normalized"] as? [[Double]])
        #expect(r == [[1, 0.5, 0, 0], [0, 0.5, 1, 1]])
        let want: [[Double]] = [[1 / 1.5, 0.5 / 1.5, 0, 0], [0, 0.5 / 2.5, 1 / 2.5, 1 / 2.5]]
        for (a, b) in zip(n.joined(), want.joined()) { #expect(abs(a - b) < 1e-9) }
    }

    @Test func bandwidthArraysScaleTheRates() throws {
        let out = try rates(#"{"queues": [[1, 1]], "txBandwidth": [4], "rxBandwidth": [1, 2]}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any])
        #expect(object["rates"] as? [[Double]] == [[1, 2]])
        #expect(object["normalized"] as? [[Double]] == [[1, 2]])
    }

    @Test(arguments: [
        #"{"queues": [[1, 2], [3]]}"#,
        #"{"queues": [[1, -2]]}"#,
        #"{"queues": [[1, 2]], "txBandwidth": [1, 1]}"#,
        #"{"queues": [[1, 2]], "rxBandwidth": [1]}"#,
        #"{"queue": [[1]]}"#,
        "not json",
    ])
    func badInputIsOneLineAndStatus2(input: String) throws {
        let out = try rates(input)
        #expect(out.status == 2)
        #expect(out.stdout.isEmpty)
        #expect(out.stderr.split(separator: "\n").count == 1, "\(out.stderr)")
    }

    @Test func tablesForPeople() throws {
        let out = try rates(#"{"queues": [[1, 1, 0, 0], [0, 1, 1, 1]]}"#, json: false)
        #expect(out.status == 0)
        #expect(out.text.contains("0.6667"))
        #expect(out.text.contains("0.4000"))
    }
}
