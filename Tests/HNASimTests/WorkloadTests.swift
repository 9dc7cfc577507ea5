import HNATestSupport
import Testing
@testable import HNASim

@Suite struct WorkloadTests {
    @Test func quantileInterpolatesLinearly() throws {
        let d = try FlowSizeDistribution(name: "t", text: "100 0\n200 50\n1000 100\n")
        #expect(d.quantile(0) == 100)
        #expect(d.quantile(0.25) == 150)
        #expect(d.quantile(0.5) == 200)
        #expect(d.quantile(0.75) == 600)
        #expect(abs(d.mean - (0.5 * 150 + 0.5 * 600)) < 1e-9)
    }

    @Test func samplesMatchTheDistribution() throws {
        for name in ["websearch", "fb-hadoop"] {
            let d = try ScenarioLibrary.distribution(name)
            var r = SimRandom(seed: 12)
            let n = 200_000
            var sum = 0.0
            var below = 0
            let median = d.quantile(0.5)
            for _ in 0 ..< n {
                let x = Double(d.sample(&r))
                sum += x
                if x <= median { below += 1 }
            }
            #expect(abs(sum / Double(n) - d.mean) < d.mean * 0.03, "\(name) mean \(sum / Double(n)) vs \(d.mean)")
            #expect(abs(Double(below) / Double(n) - 0.5) < 0.01)
        }
    }

    @Test func badCDFsAreRefusedWithAReason() {
        #expect(throws: FlowSizeDistribution.ParseError.self) { try FlowSizeDistribution(name: "x", text: "1 0\n") }
        #expect(throws: FlowSizeDistribution.ParseError.self) { try FlowSizeDistribution(name: "x", text: "5 0\n3 100\n") }
        #expect(throws: FlowSizeDistribution.ParseError.self) { try FlowSizeDistribution(name: "x", text: "5 0\nabc 100\n") }
        #expect(throws: FlowSizeDistribution.ParseError.self) { try FlowSizeDistribution(name: "x", text: "5 0\n9 90\n") }
    }

    @Test func scenariosApplyKnobsAndRejectNonsense() throws {
        var k = ScenarioKnobs()
        k.hosts = 32
        k.senders = 8
        let s = try ScenarioLibrary.make("incast", knobs: k)
        guard case let .backlogged(pairs) = s.traffic else { Issue.record("not backlogged"); return }
        #expect(pairs.count == 8)
        #expect(pairs.allSatisfy { $0.dst == 0 && $0.src != 0 })
        #expect(s.fabric.hosts == 32 && s.fabric.hosts % s.fabric.leaves == 0)
        k.senders = 40
        #expect(throws: ScenarioError.self) { try ScenarioLibrary.make("incast", knobs: k) }
        #expect(throws: ScenarioError.self) { try ScenarioLibrary.make("no-such") }
        let p = try ScenarioLibrary.make("permutation")
        guard case let .backlogged(pp) = p.traffic else { return }
        #expect(Set(pp.map(\.dst)).count == 16)
        #expect(pp.allSatisfy { $0.src != $0.dst })
    }
}

/// The repository root, from this file's path.
func repoRoot(_ file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}
