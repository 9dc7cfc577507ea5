import HNAWire

/// The control side of a FIB: every configured prefix, one dictionary per prefix length. It answers what
/// the lookup trie cannot — "which route did the controller install for exactly this prefix?" and "which
/// shorter prefix takes over when this one is deleted?" — and is the source a trie is rebuilt from.
public struct PrefixTable<Address: FIBAddress>: Sendable {
    /// Empty until the first route: most of 65,536 VRFs never hold one of a family.
    @usableFromInline var byLength: [[Address: UInt32]] = []
    public private(set) var count = 0

    public init() {}

    public subscript(prefix: Prefix<Address>) -> UInt32? {
        byLength.isEmpty ? nil : byLength[prefix.length][prefix.address]
    }

    /// Sets the next hop of `prefix`, returning the previous one.
    @discardableResult
    public mutating func set(_ prefix: Prefix<Address>, _ nextHop: UInt32) -> UInt32? {
        if byLength.isEmpty { byLength = Array(repeating: [:], count: Address.bitWidth + 1) }
        let old = byLength[prefix.length].updateValue(nextHop, forKey: prefix.address)
        if old == nil { count += 1 }
        return old
    }

    @discardableResult
    public mutating func remove(_ prefix: Prefix<Address>) -> UInt32? {
        if byLength.isEmpty { return nil }
        let old = byLength[prefix.length].removeValue(forKey: prefix.address)
        if old != nil { count -= 1 }
        return old
    }

    /// The longest prefix strictly shorter than `length` that contains `address`.
    public func longestCovering(_ address: Address, shorterThan length: Int) -> (length: Int, nextHop: UInt32)? {
        if byLength.isEmpty { return nil }
        var l = min(length, Address.bitWidth + 1) - 1
        while l >= 0 {
            if let nh = byLength[l][address.masked(to: l)] { return (l, nh) }
            l -= 1
        }
        return nil
    }

    /// Longest-prefix match by brute force (tests and tools; the datapath uses the trie).
    public func longestMatch(_ address: Address) -> UInt32? {
        longestCovering(address, shorterThan: Address.bitWidth + 1)?.nextHop
    }

    /// Every prefix, shortest first (the order a trie is rebuilt in).
    public var all: [(Prefix<Address>, UInt32)] {
        var out: [(Prefix<Address>, UInt32)] = []
        out.reserveCapacity(count)
        for (l, table) in byLength.enumerated() {
            for (a, nh) in table { out.append((Prefix(a, l), nh)) }
        }
        return out
    }
}

/// One address family's FIB for one VRF: the control-side prefix table plus the lookup trie.
///
/// Small VRFs get a small root (`smallRootBits`), so 65,536 mostly tiny VRFs cost kilobytes each rather
/// than the 256 KiB of a 16-bit root; a VRF that grows past `promoteAt` prefixes is rebuilt once with
/// the large root. See docs/router.md ("VRF memory").
public struct IPFIB<Address: FIBAddress>: Sendable {
    public private(set) var table = PrefixTable<Address>()
    public private(set) var trie: MultibitTrie<Address>
    public let smallRootBits: Int
    public let largeRootBits: Int
    public let chunkBits: Int
    public let promoteAt: Int

    public init(smallRootBits: Int, largeRootBits: Int, chunkBits: Int, promoteAt: Int) {
        self.smallRootBits = smallRootBits
        self.largeRootBits = largeRootBits
        self.chunkBits = chunkBits
        self.promoteAt = promoteAt
        trie = MultibitTrie(rootBits: smallRootBits, chunkBits: chunkBits)
    }

    public var count: Int { table.count }
    public var memoryBytes: Int { trie.memoryBytes }

    @inlinable
    public func lookup(_ address: Address) -> UInt32 { trie.lookup(address) }

    /// Adds or replaces a route. The trie is written in place: a short prefix touches at most its span
    /// in the root plus the chunks below it; nothing else is rebuilt (except once, on promotion).
    public mutating func add(_ prefix: Prefix<Address>, nextHop: UInt32) {
        let old = table.set(prefix, nextHop)
        if old == nextHop { return }
        if old == nil, table.count > promoteAt, trie.rootBits < largeRootBits {
            rebuild(rootBits: largeRootBits)
            return
        }
        // A replacement needs no removal: the entries carrying this length in this range are exactly the
        // old route's, and an insert overwrites entries of its own length.
        trie.insert(prefix.address, length: prefix.length, nextHop: nextHop)
    }

    /// Removes a route; returns its next hop, or nil if there was no such route.
    @discardableResult
    public mutating func remove(_ prefix: Prefix<Address>) -> UInt32? {
        guard let old = table.remove(prefix) else { return nil }
        let cover = table.longestCovering(prefix.address, shorterThan: prefix.length)
        trie.remove(prefix.address, length: prefix.length,
                    replacementLength: cover?.length ?? 0, replacementNextHop: cover?.nextHop ?? 0)
        return old
    }

    private mutating func rebuild(rootBits: Int) {
        var t = MultibitTrie<Address>(rootBits: rootBits, chunkBits: chunkBits)
        for (p, nh) in table.all { t.insert(p.address, length: p.length, nextHop: nh) }
        trie = t
    }
}

extension IPFIB where Address == IPv4Address {
    /// 8-8-8-8 while small, 16-8-8 once past 1,024 routes.
    public static func ipv4() -> IPFIB { IPFIB(smallRootBits: 8, largeRootBits: 16, chunkBits: 8, promoteAt: 1024) }
}

extension IPFIB where Address == IPv6Address {
    /// 8-bit root then 4-bit strides while small, 16-bit root past 1,024 routes. Four-bit chunks are one
    /// 64-byte cache line: IPv6 prefixes are long and sparse, and 8-bit chunks would cost ~1 KiB per
    /// level per prefix.
    public static func ipv6() -> IPFIB { IPFIB(smallRootBits: 8, largeRootBits: 16, chunkBits: 4, promoteAt: 1024) }
}
