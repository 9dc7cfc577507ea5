import HNATestSupport
import HNAWire
import Testing
@testable import HNARouter

/// The FIB against a naive reference (a list of prefixes searched by brute force), on random tables with
/// adds, replacements and deletes, for both families and both root sizes.
@Suite struct FIBTests {
    struct Naive<A: FIBAddress> {
        var routes: [Prefix<A>: UInt32] = [:]
        func lookup(_ a: A) -> UInt32 {
            var best = -1
            var nh: UInt32 = 0
            for (p, v) in routes where p.length > best && p.contains(a) {
                best = p.length
                nh = v
            }
            return nh
        }
    }

    /// Random addresses clustered under a few prefixes, so prefixes nest and overlap (uniformly random
    /// prefixes almost never do).
    static func v4(_ rng: inout SplitMix64) -> IPv4Address {
        let bases: [UInt32] = [0x0A00_0000, 0x0A01_0000, 0xC0A8_0100, 0xAC10_0000]
        let base = bases[Int(rng.next() % 4)]
        return IPv4Address(rawValue: base ^ UInt32(truncatingIfNeeded: rng.next()) & (rng.next() % 2 == 0 ? 0xFFFF : 0x00FF_FFFF))
    }

    static func v6(_ rng: inout SplitMix64) -> IPv6Address {
        let bases: [UInt64] = [0x2001_0DB8_0000_0000, 0x2001_0DB8_0001_0000, 0xFD00_0000_0000_0000]
        let base = bases[Int(rng.next() % 3)]
        let bits = rng.next() % 3 == 0 ? UInt64(0xFFFF_FFFF) : UInt64(0xFFFF)
        return IPv6Address(high: base ^ (rng.next() & bits), low: rng.next() % 2 == 0 ? 0 : rng.next() & 0xFF)
    }

    func check<A: FIBAddress>(_ fib: IPFIB<A>, _ naive: Naive<A>, probes: [A], seed: UInt64) {
        for a in probes {
            let got = fib.lookup(a)
            let want = naive.lookup(a)
            if got != want {
                Issue.record("seed \(seed): lookup \(a) got \(got) want \(want)")
                return
            }
        }
    }

    func run<A: FIBAddress>(seed: UInt64, routes: Int, fib: IPFIB<A>, address: (inout SplitMix64) -> A,
                            lengths: ClosedRange<Int>) {
        var rng = SplitMix64(seed: seed)
        var fib = fib
        var naive = Naive<A>()
        var added: [Prefix<A>] = []
        for step in 0 ..< routes * 2 {
            let r = rng.next() % 10
            if r < 6 || added.isEmpty {
                let len = Int.random(in: lengths, using: &rng)
                let p = Prefix(address(&rng), len)
                let nh = UInt32(rng.next() % 1000) + 1
                fib.add(p, nextHop: nh)
                naive.routes[p] = nh
                added.append(p)
            } else if r < 8 {
                let p = added[Int(rng.next() % UInt64(added.count))]
                let nh = UInt32(rng.next() % 1000) + 1
                fib.add(p, nextHop: nh)
                naive.routes[p] = nh
            } else {
                let i = Int(rng.next() % UInt64(added.count))
                let p = added.remove(at: i)
                let had = naive.routes.removeValue(forKey: p)
                #expect((fib.remove(p) != nil) == (had != nil))
            }
            if step % 97 == 0 {
                check(fib, naive, probes: (0 ..< 64).map { _ in address(&rng) }, seed: seed)
            }
        }
        check(fib, naive, probes: (0 ..< 2000).map { _ in address(&rng) }, seed: seed)
        #expect(fib.count == naive.routes.count)
        // Deleting everything leaves an empty trie with every chunk folded away.
        for p in naive.routes.keys { fib.remove(p) }
        #expect(fib.trie.chunksInUse == 0)
        check(fib, Naive<A>(), probes: (0 ..< 200).map { _ in address(&rng) }, seed: seed)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func ipv4MatchesNaiveReference(seed: UInt64) {
        run(seed: seed, routes: 600, fib: IPFIB<IPv4Address>.ipv4(), address: Self.v4, lengths: 0 ... 32)
    }

    @Test func ipv4PromotionToLargeRootKeepsRoutes() {
        // 1,500 routes cross the 1,024-route promotion threshold.
        run(seed: 99, routes: 1500, fib: IPFIB<IPv4Address>.ipv4(), address: Self.v4, lengths: 8 ... 32)
    }

    @Test(arguments: [5, 6, 7] as [UInt64])
    func ipv6MatchesNaiveReference(seed: UInt64) {
        run(seed: seed, routes: 500, fib: IPFIB<IPv6Address>.ipv6(), address: Self.v6, lengths: 0 ... 128)
    }

    @Test func ipv6LargeRoot() {
        run(seed: 8, routes: 400,
            fib: IPFIB<IPv6Address>(smallRootBits: 16, largeRootBits: 16, chunkBits: 4, promoteAt: 0),
            address: Self.v6, lengths: 16 ... 64)
    }

    @Test func defaultRouteAndHostRoute() throws {
        var fib = IPFIB<IPv4Address>.ipv4()
        fib.add(try #require(IPv4Prefix("0.0.0.0/0")), nextHop: 1)
        fib.add(try #require(IPv4Prefix("10.1.2.3/32")), nextHop: 2)
        fib.add(try #require(IPv4Prefix("10.1.0.0/16")), nextHop: 3)
        #expect(fib.lookup(IPv4Address(10, 1, 2, 3)) == 2)
        #expect(fib.lookup(IPv4Address(10, 1, 2, 4)) == 3)
        #expect(fib.lookup(IPv4Address(10, 2, 0, 0)) == 1)
        fib.remove(try #require(IPv4Prefix("10.1.0.0/16")))
        #expect(fib.lookup(IPv4Address(10, 1, 2, 4)) == 1)
        #expect(fib.lookup(IPv4Address(10, 1, 2, 3)) == 2)
    }

    @Test func ipv6BitsStraddlingTheHalves() {
        let a = IPv6Address(high: 0x0000_0000_0000_00AB, low: 0xCD00_0000_0000_0000)
        #expect(a.bits(56, 16) == 0xABCD)
        #expect(a.bits(60, 8) == 0xBC)
        #expect(a.masked(to: 60) == IPv6Address(high: 0xA0, low: 0))
    }
}
