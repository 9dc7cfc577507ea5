import Foundation
import HNATestSupport
import Testing
@testable import HNALab

/// The generated configurations against docs/config.md, the contract with the daemon.
struct TestFailure: Error, CustomStringConvertible { var description: String }

@Suite("Lab daemon configurations")
struct DaemonConfigTests {
    /// Keys per section of the schema block in docs/config.md ("hna", "peers", ...), read from the doc so
    /// a key the doc drops or renames fails here.
    static func documentedKeys() throws -> [String: Set<String>] {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/config.md"), encoding: .utf8)
        guard let start = doc.range(of: "```yaml\n"), let end = doc.range(of: "```", range: start.upperBound ..< doc.endIndex)
        else { throw TestFailure(description: "no yaml block in docs/config.md") }
        var keys: [String: Set<String>] = [:]
        var section = ""
        for raw in doc[start.upperBound ..< end.lowerBound].split(separator: "\n") {
            let parts = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
            let line = parts[0]
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "- ", with: "")
            if !line.hasPrefix(" ") { section = key; keys[section, default: []] = []; continue }
            // Nested mappings under an item ("rules:") are one level deeper than the section's own keys.
            let indent = line.prefix { $0 == " " || $0 == "-" }.count
            if indent <= 4 {
                keys[section, default: []].insert(key)
                // Alternatives named in the comment ("or txGbps / rxGbps separately") are keys too.
                let comment = parts.count > 1 ? parts[1] : ""
                for word in comment.split(whereSeparator: { !$0.isLetter }) where word.first?.isLowercase == true
                    && word.contains(where: \.isUppercase) {
                    keys[section, default: []].insert(String(word))
                }
            }
        }
        return keys
    }

    /// Parses the generated YAML with an independent parser (PyYAML) into JSON.
    static func parse(_ yaml: String) throws -> [String: Any] {
        let script = "import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        let out = try ExternalTool.check("python3", ["-c", script], stdin: Data(yaml.utf8))
        guard let obj = try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any] else {
            throw TestFailure(description: "not a mapping")
        }
        return obj
    }

    static var pyyaml: Bool { ExternalTool.available("python3", pythonModule: "yaml") || ExternalTool.mustRun }

    @Test func emitsOnlyDocumentedKeys() throws {
        let documented = try Self.documentedKeys()
        #expect(documented["hna"]?.contains("flowControl") == true, "schema block read: \(documented)")
        let t = try LabTopology()
        let config = DaemonConfig(flowControl: false, bandwidthGbps: 10, rxGbps: ["h1": 0.09])
        for host in t.hosts {
            let yaml = config.yaml(for: host, in: t)
            var section = ""
            for line in yaml.split(separator: "\n") where !line.hasPrefix("#") {
                let key = String(line.prefix { $0 != ":" }).trimmingCharacters(in: .whitespaces)
                    .replacingOccurrences(of: "- ", with: "")
                if !line.hasPrefix(" ") { section = key; #expect(documented[key] != nil, "section \(key)"); continue }
                #expect(documented[section]?.contains(key) == true, "\(section).\(key) is not in docs/config.md")
            }
        }
    }

    @Test(.enabled(if: pyyaml, "needs python3 with PyYAML (set CI to require it)"))
    func describesEachHostAsDocumented() throws {
        let t = try LabTopology(hosts: 3, vmsPerHost: 2)
        let config = DaemonConfig(flowControl: true, rxGbps: ["h1": 0.09])
        for host in t.hosts {
            let c = try Self.parse(config.yaml(for: host, in: t))
            let hna = try #require(c["hna"] as? [String: Any])
            #expect(hna["name"] as? String == host.name)
            #expect(hna["underlay"] as? String == host.underlay.description)
            #expect(hna["flowControl"] as? Bool == true)
            #expect(hna["control"] as? String == host.controlSocket)
            #expect((hna["rxGbps"] as? Double) == (host.name == "h1" ? 0.09 : nil))

            // Peers: every other host; HNA hosts with the HNA header, the kernel host without.
            let peers = try #require(c["peers"] as? [[String: Any]])
            #expect(Set(peers.compactMap { $0["name"] as? String }) == Set(t.allHosts.filter { $0 != host }.map(\.name)))
            for p in peers {
                #expect((p["hna"] as? Bool) == ((p["name"] as? String) != t.kernelHost.name))
            }
            // Networks as the topology defines them.
            let nets = try #require(c["networks"] as? [[String: Any]])
            #expect(nets.count == t.networks.count)
            for (n, y) in zip(t.networks, nets) {
                #expect(y["name"] as? String == n.name && y["vni"] as? Int == n.vni && y["label"] as? Int == n.label)
                #expect(y["vrf"] as? Int == n.vrf && y["encapsulation"] as? String == n.encapsulation)
                #expect(y["subnets"] as? [String] == [n.subnet] && y["gateway"] as? [String] == [n.gateway.description])
            }
            // Ports: this host's VMs; endpoints: everyone else's, each behind its own host.
            let ports = try #require(c["ports"] as? [[String: Any]])
            #expect(ports.map { $0["name"] as? String } == t.vms(on: host).map(\.port))
            #expect(ports.map { $0["mac"] as? String } == t.vms(on: host).map(\.mac.description))
            let endpoints = try #require(c["endpoints"] as? [[String: Any]])
            let others = t.allVMs.filter { $0.host != host }
            #expect(endpoints.count == others.count)
            for (vm, e) in zip(others, endpoints) {
                #expect(e["peer"] as? String == vm.host.name && e["network"] as? String == vm.network.name)
                #expect(e["ip"] as? [String] == [vm.ip.description] && e["mac"] as? String == vm.mac.description)
            }
        }
    }
}
