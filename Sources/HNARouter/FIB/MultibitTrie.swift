/// The lookup side of a FIB: a multibit trie with controlled prefix expansion (a DIR-24-8 relative).
///
/// The root table is indexed by the first `rootBits` bits of the address; every further level is a
/// chunk of `2^chunkBits` entries. An entry is one 32-bit word, either a leaf or a pointer to a chunk:
///
/// - leaf: bit 31 clear, bits 23-30 the length of the prefix that wrote it, bits 0-22 the next-hop index
///   (0 = no route);
/// - child: bit 31 set, bits 0-30 the chunk index.
///
/// A lookup is `1 + depth` dependent loads and no comparisons of prefixes. With `rootBits` 16 and
/// `chunkBits` 8 this is the 16-8-8 layout: a /24 or shorter is found in at most two loads.
///
/// Keeping the writer's prefix length in each leaf is what makes updates local: an insert overwrites only
/// the entries in its range whose length is not longer than its own, a delete only the entries carrying
/// exactly its length, and a chunk whose entries all became one leaf folds back into its parent.
public struct MultibitTrie<Address: FIBAddress>: Sendable {
    public let rootBits: Int
    public let chunkBits: Int
    @usableFromInline var root: [UInt32]
    @usableFromInline var chunks: [UInt32]
    @usableFromInline var freeChunks: [UInt32] = []
    /// Chunks in use (the memory figure: `chunksInUse << chunkBits` words).
    public private(set) var chunksInUse = 0

    @usableFromInline static var childFlag: UInt32 { 0x8000_0000 }
    @usableFromInline static var nextHopMask: UInt32 { 0x007F_FFFF }
    @usableFromInline static var lengthShift: UInt32 { 23 }
    /// The largest next-hop index a leaf can hold.
    public static var maxNextHop: UInt32 { nextHopMask }

    public init(rootBits: Int, chunkBits: Int) {
        precondition(rootBits >= 1 && rootBits <= 16 && chunkBits >= 1 && chunkBits <= 16)
        precondition((Address.bitWidth - rootBits) % chunkBits == 0, "levels tile the address")
        self.rootBits = rootBits
        self.chunkBits = chunkBits
        root = [UInt32](repeating: 0, count: 1 << rootBits)
        chunks = []
    }

    /// Bytes held by the tables.
    public var memoryBytes: Int { (root.count + chunks.count) * MemoryLayout<UInt32>.stride }

    /// The next-hop index of the longest prefix containing `address`, 0 when none does.
    @inlinable
    public func lookup(_ address: Address) -> UInt32 {
        var e = root.withUnsafeBufferPointer { $0[address.bits(0, rootBits)] }
        if e & Self.childFlag == 0 { return e & Self.nextHopMask }
        return chunks.withUnsafeBufferPointer { c in
            var offset = rootBits
            repeat {
                let base = Int(e & ~Self.childFlag) &<< chunkBits
                e = c[base &+ address.bits(offset, chunkBits)]
                offset &+= chunkBits
            } while e & Self.childFlag != 0
            return e & Self.nextHopMask
        }
    }

    @inlinable static func leaf(length: Int, nextHop: UInt32) -> UInt32 {
        UInt32(length) << lengthShift | (nextHop & nextHopMask)
    }

    @inlinable static func leafLength(_ e: UInt32) -> Int { Int(e >> lengthShift & 0xFF) }

    /// Writes `nextHop` for `prefix`: entries in its range owned by a prefix no longer than it take it.
    public mutating func insert(_ address: Address, length: Int, nextHop: UInt32) {
        precondition(nextHop != 0 && nextHop <= Self.nextHopMask)
        update(address, length: length, mode: .insert, leaf: Self.leaf(length: length, nextHop: nextHop))
    }

    /// Removes the entries `prefix` wrote, handing them to `replacement` (the longest shorter prefix
    /// that covers it: its length and next hop, or length 0 and next hop 0 when none does).
    public mutating func remove(_ address: Address, length: Int, replacementLength: Int, replacementNextHop: UInt32) {
        update(address, length: length, mode: .remove(length),
               leaf: replacementNextHop == 0 ? 0 : Self.leaf(length: replacementLength, nextHop: replacementNextHop))
    }

    enum Mode { case insert, remove(Int) }

    private mutating func update(_ a: Address, length: Int, mode: Mode, leaf: UInt32) {
        let end = rootBits
        if length <= end {
            let span = 1 << (end - length)
            let first = a.bits(0, rootBits) & ~(span - 1)
            for i in first ..< first + span { root[i] = rewrite(root[i], offset: end, mode: mode, leaf: leaf) }
        } else {
            let i = a.bits(0, rootBits)
            root[i] = descend(root[i], a, offset: end, length: length, mode: mode, leaf: leaf)
        }
    }

    /// Applies the update below an entry covering bits up to `offset`, returning the entry's new value.
    private mutating func descend(_ entry: UInt32, _ a: Address, offset: Int, length: Int, mode: Mode, leaf: UInt32) -> UInt32 {
        var chunk: Int
        if entry & Self.childFlag != 0 {
            chunk = Int(entry & ~Self.childFlag)
        } else {
            // A leaf stands for its whole subtree: unless the prefix being removed wrote it, nothing
            // below it is the removed prefix's.
            if case let .remove(removed) = mode, entry == 0 || Self.leafLength(entry) != removed { return entry }
            chunk = allocateChunk(filledWith: entry)
        }
        let end = offset + chunkBits
        let base = chunk << chunkBits
        if length <= end {
            let span = 1 << (end - length)
            let first = a.bits(offset, chunkBits) & ~(span - 1)
            for i in first ..< first + span { chunks[base + i] = rewrite(chunks[base + i], offset: end, mode: mode, leaf: leaf) }
        } else {
            let i = a.bits(offset, chunkBits)
            chunks[base + i] = descend(chunks[base + i], a, offset: end, length: length, mode: mode, leaf: leaf)
        }
        return foldIfUniform(chunk)
    }

    /// Applies the update to a whole entry (and everything below it) that lies inside the prefix.
    private mutating func rewrite(_ entry: UInt32, offset: Int, mode: Mode, leaf: UInt32) -> UInt32 {
        if entry & Self.childFlag != 0 {
            let chunk = Int(entry & ~Self.childFlag)
            let base = chunk << chunkBits
            for i in 0 ..< 1 << chunkBits {
                chunks[base + i] = rewrite(chunks[base + i], offset: offset + chunkBits, mode: mode, leaf: leaf)
            }
            return foldIfUniform(chunk)
        }
        switch mode {
        case .insert:
            return Self.leafLength(entry) <= Self.leafLength(leaf) ? leaf : entry
        case let .remove(length):
            return entry != 0 && Self.leafLength(entry) == length ? leaf : entry
        }
    }

    private mutating func allocateChunk(filledWith entry: UInt32) -> Int {
        chunksInUse += 1
        let size = 1 << chunkBits
        if let c = freeChunks.popLast() {
            let base = Int(c) << chunkBits
            for i in base ..< base + size { chunks[i] = entry }
            return Int(c)
        }
        let c = chunks.count >> chunkBits
        precondition(c < Int(Self.childFlag), "chunk index space exhausted")
        chunks.append(contentsOf: repeatElement(entry, count: size))
        return c
    }

    /// Returns the entry that should point at `chunk`: the chunk itself, or the one leaf all its entries
    /// hold (the chunk is then freed).
    private mutating func foldIfUniform(_ chunk: Int) -> UInt32 {
        let base = chunk << chunkBits
        let first = chunks[base]
        if first & Self.childFlag == 0 {
            var uniform = true
            for i in base + 1 ..< base + (1 << chunkBits) where chunks[i] != first {
                uniform = false
                break
            }
            if uniform {
                freeChunks.append(UInt32(chunk))
                chunksInUse -= 1
                return first
            }
        }
        return UInt32(chunk) | Self.childFlag
    }
}
