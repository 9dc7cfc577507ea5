import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

@Suite struct FlowTableTests {
    static func randomKey(_ rng: inout SplitMix64, space: UInt64 = 5000) -> FlowKey {
        // A small key space so inserts, finds and removes collide with each other often.
        let n = rng.next() % space
        if n % 3 == 0 {
            return FlowKey(vrf: VRFID(n % 7), source: IPv6Address(high: n, low: 1), destination: IPv6Address(high: 2, low: n),
                           protocol: .tcp, sourcePort: UInt16(n % 300), destinationPort: 80)
        }
        return FlowKey(vrf: VRFID(n % 7), source: IPv4Address(rawValue: UInt32(truncatingIfNeeded: n)), destination: IPv4Address(10, 0, 0, 1),
                       protocol: .udp, sourcePort: UInt16(truncatingIfNeeded: n >> 32), destinationPort: 53)
    }

    /// Random inserts and removes against a dictionary; every key is then found exactly where the
    /// reference says (this exercises backward-shift deletion across probe runs).
    @Test(arguments: [11, 12, 13] as [UInt64])
    func matchesADictionary(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var table = FlowTable(capacity: 3000)
        var reference: [FlowKey: FlowID] = [:]
        for step in 0 ..< 40000 {
            let k = Self.randomKey(&rng)
            if let id = reference[k] {
                #expect(table.find(k, hash: k.hash) == id)
                if rng.next() % 2 == 0 {
                    table.remove(id)
                    reference[k] = nil
                }
            } else {
                #expect(table.find(k, hash: k.hash) == nil)
                if let id = table.insert(k, hash: k.hash, state: .active, action: .forward, now: UInt64(step)) {
                    reference[k] = id
                } else {
                    #expect(reference.count == table.capacity)
                }
            }
        }
        #expect(table.count == reference.count)
        for (k, id) in reference {
            #expect(table.find(k, hash: k.hash) == id)
            #expect(table[id].key == k)
        }
    }

    @Test func fullTableRefusesAndCounts() {
        var table = FlowTable(capacity: 10)
        var rng = SplitMix64(seed: 1)
        var inserted = 0
        var seen = Set<FlowKey>()
        while seen.count < 12 {
            let k = Self.randomKey(&rng, space: 1 << 40)
            guard seen.insert(k).inserted else { continue }
            if table.insert(k, hash: k.hash, state: .active, action: .forward, now: 0) != nil { inserted += 1 }
        }
        #expect(inserted == 10 && table.fullRefusals == 2)
    }

    @Test func reverseKeySwapsEndpoints() {
        let k = FlowKey(vrf: 3, source: IPv4Address(1, 2, 3, 4), destination: IPv4Address(5, 6, 7, 8), protocol: .tcp,
                        sourcePort: 1111, destinationPort: 22)
        let r = k.reversed
        #expect(r.source == .v4(IPv4Address(5, 6, 7, 8)) && r.destination == .v4(IPv4Address(1, 2, 3, 4)))
        #expect(r.sourcePort == 22 && r.destinationPort == 1111 && r.vrf == 3 && r.proto == .tcp)
        #expect(r.reversed == k && r != k && r.hash != k.hash)
    }

    @Test func agingIsBoundedPerCall() {
        var table = FlowTable(capacity: 100)
        for i in 0 ..< 50 {
            let k = FlowKey(vrf: 0, source: IPv4Address(rawValue: UInt32(i)), destination: .any, protocol: .udp, sourcePort: 0, destinationPort: 0)
            _ = table.insert(k, hash: k.hash, state: .active, action: .forward, now: 0)
        }
        var expired: [FlowID] = []
        table.collectIdle(now: 100, idleTimeout: 10, budget: 20, into: &expired)
        #expect(expired.count == 20)
        table.collectIdle(now: 100, idleTimeout: 10, budget: 100, into: &expired)
        #expect(Set(expired).count == 50)
    }
}

@Suite struct PolicyTests {
    let web = FlowKey(vrf: 1, source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 1, 1), protocol: .tcp,
                      sourcePort: 40000, destinationPort: 443)

    @Test func firstMatchingRuleWins() throws {
        let p = Policy(rules: [
            PolicyRule(.allow, proto: .tcp, destination: try #require(IPPrefix("10.0.1.0/24")), destinationPorts: 443 ... 443),
            PolicyRule(.deny, proto: .tcp),
        ], defaultAction: .allow)
        #expect(p.evaluate(web) == .allow)
        var ssh = web
        ssh.packed = FlowKey(vrf: 1, source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 1, 1), protocol: .tcp,
                             sourcePort: 40000, destinationPort: 22).packed
        #expect(p.evaluate(ssh) == .deny)
        #expect(p.decidingRule(ssh) == 1)
        let udp = FlowKey(vrf: 1, source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 1, 1), protocol: .udp,
                          sourcePort: 1, destinationPort: 22)
        #expect(p.evaluate(udp) == .allow && p.decidingRule(udp) == nil)
    }

    @Test func prefixesAndFamiliesAndPortRanges() throws {
        let p = Policy(rules: [
            PolicyRule(.allow, source: try #require(IPPrefix("10.0.0.0/30")), sourcePorts: 30000 ... 50000),
            PolicyRule(.allow, source: try #require(IPPrefix("fd00::/16")), destination: .anyV6),
        ], defaultAction: .deny)
        #expect(p.evaluate(web) == .allow)
        let outside = FlowKey(vrf: 1, source: IPv4Address(10, 0, 0, 9), destination: IPv4Address(10, 0, 1, 1), protocol: .tcp,
                              sourcePort: 40000, destinationPort: 443)
        #expect(p.evaluate(outside) == .deny)
        let v6 = FlowKey(vrf: 1, source: IPv6Address("fd00::1")!, destination: IPv6Address("fd01::1")!, protocol: .udp,
                         sourcePort: 1, destinationPort: 2)
        #expect(p.evaluate(v6) == .allow)
        // A port-restricted rule never matches a portless protocol.
        let icmp = FlowKey(vrf: 1, source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 1, 1), protocol: .icmp,
                           sourcePort: 40000, destinationPort: 40000)
        #expect(p.evaluate(icmp) == .deny)
    }
}
