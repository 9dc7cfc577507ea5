/// What a flow entry does with its packets.
public enum FlowAction: UInt8, Sendable {
    case forward
    case drop
}

/// A flow entry's life: `pending` while the slow path decides (its packets are held), then `active`.
public enum FlowState: UInt8, Sendable {
    case free
    case pending
    case active
}

/// One flow-table entry. Forward and reverse entries of a connection point at each other.
public struct FlowEntry: Sendable {
    public internal(set) var key: FlowKey
    public internal(set) var state: FlowState
    public internal(set) var action: FlowAction
    /// The paired entry of the other direction, or `PacketMetadata.noFlow`.
    public internal(set) var reverse: FlowID
    /// The ECMP member index this flow keeps, or `FlowEntry.noMember` before the first ECMP choice.
    public internal(set) var ecmpMember: UInt16
    public internal(set) var hash: UInt32
    public internal(set) var created: UInt64
    public internal(set) var lastSeen: UInt64
    public internal(set) var packets: UInt64
    public internal(set) var bytes: UInt64
    /// Held packets (while pending): first slot in the router's hold store and count.
    @usableFromInline var holdHead: Int32
    @usableFromInline var holdTail: Int32
    public internal(set) var heldCount: UInt16

    public static let noMember: UInt16 = .max

    @usableFromInline
    init(key: FlowKey, hash: UInt32, state: FlowState, action: FlowAction, now: UInt64) {
        self.key = key
        self.state = state
        self.action = action
        reverse = .max
        ecmpMember = Self.noMember
        self.hash = hash
        created = now
        lastSeen = now
        packets = 0
        bytes = 0
        holdHead = -1
        holdTail = -1
        heldCount = 0
    }
}

/// The flow table: every VRF's flows in one table keyed by `FlowKey` (which includes the VRF), as the
/// patent allows ([0055]: "a single table ... identifiable by the virtual network identifier").
///
/// Layout: an open-addressing index of 64-bit slots (32-bit hash signature | entry id + 1), eight to a
/// cache line, probed linearly; entries live in a separate dense array at stable ids, so forward and
/// reverse entries, held packets and counters refer to each other by id while the index reorders
/// freely. The index has at least twice as many slots as the capacity (load factor <= 0.5), which keeps
/// probes short; deletion shifts following slots back (no tombstones, no rehash).
///
/// Full table: `insert` returns nil once `count == capacity`; the router drops the packet with reason
/// `flowTableFull` and existing flows are untouched. Idle flows are aged out by `collectIdle`, a bounded
/// scan the driver runs between batches.
public struct FlowTable: Sendable {
    public let capacity: Int
    @usableFromInline var index: [UInt64]
    @usableFromInline let mask: Int
    @usableFromInline var entries: [FlowEntry] = []
    @usableFromInline var freeIDs: [FlowID] = []
    public private(set) var count = 0
    /// Inserts refused because the table was full.
    public private(set) var fullRefusals: UInt64 = 0
    @usableFromInline var agingCursor = 0

    /// The default capacity: 1,048,576 entries (about 180 MB with the index).
    public static let defaultCapacity = 1 << 20

    public init(capacity: Int = FlowTable.defaultCapacity) {
        precondition(capacity > 0 && capacity < Int(UInt32.max) / 2)
        self.capacity = capacity
        var slots = 16
        while slots < capacity * 2 { slots <<= 1 }
        index = [UInt64](repeating: 0, count: slots)
        mask = slots - 1
        entries.reserveCapacity(min(capacity, 1 << 16))
    }

    @inlinable public subscript(id: FlowID) -> FlowEntry { entries[Int(id)] }

    /// The entry for `key`, or nil. `hash` is `key.hash` (callers compute it once per packet).
    @inlinable
    public func find(_ key: FlowKey, hash: UInt64) -> FlowID? {
        let sig = hash & 0xFFFF_FFFF
        return index.withUnsafeBufferPointer { idx in
            entries.withUnsafeBufferPointer { ents in
                var i = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let s = idx[i]
                    if s == 0 { return nil }
                    if s >> 32 == sig {
                        let id = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                        if ents[id].key == key { return FlowID(id) }
                    }
                    i = (i &+ 1) & mask
                }
            }
        }
    }

    /// Adds an entry (the key must not be present). Nil when the table is full.
    public mutating func insert(_ key: FlowKey, hash: UInt64, state: FlowState, action: FlowAction, now: UInt64) -> FlowID? {
        if _slowPath(count >= capacity) {
            fullRefusals &+= 1
            return nil
        }
        let entry = FlowEntry(key: key, hash: UInt32(truncatingIfNeeded: hash), state: state, action: action, now: now)
        let id: FlowID
        if let f = freeIDs.popLast() {
            id = f
            entries[Int(f)] = entry
        } else {
            id = FlowID(entries.count)
            entries.append(entry)
        }
        var i = Int(truncatingIfNeeded: hash) & mask
        while index[i] != 0 { i = (i &+ 1) & mask }
        index[i] = (hash & 0xFFFF_FFFF) << 32 | UInt64(id + 1)
        count += 1
        return id
    }

    /// Removes an entry (not its pair). Held packets must have been taken out first.
    public mutating func remove(_ id: FlowID) {
        let e = entries[Int(id)]
        guard e.state != .free else { return }
        var i = Int(e.hash) & mask
        let tag = UInt64(id + 1)
        while index[i] & 0xFFFF_FFFF != tag { i = (i + 1) & mask }
        // Backward-shift deletion: pull later slots of the same probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while index[j] != 0 {
            let home = Int(index[j] >> 32) & mask
            let distanceToHole = (j - home) & mask
            let distanceToJ = (j - hole) & mask
            if distanceToHole >= distanceToJ {
                index[hole] = index[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        index[hole] = 0
        entries[Int(id)].state = .free
        entries[Int(id)].reverse = .max
        freeIDs.append(id)
        count -= 1
        if e.reverse != .max, Int(e.reverse) < entries.count, entries[Int(e.reverse)].reverse == id {
            entries[Int(e.reverse)].reverse = .max
        }
    }

    /// Records a packet of `bytes` bytes at time `now`.
    public mutating func touch(_ id: FlowID, bytes: Int, now: UInt64) {
        entries.withUnsafeMutableBufferPointer { e in
            e[Int(id)].packets &+= 1
            e[Int(id)].bytes &+= UInt64(bytes)
            e[Int(id)].lastSeen = now
        }
    }

    mutating func pair(_ a: FlowID, _ b: FlowID) {
        entries[Int(a)].reverse = b
        entries[Int(b)].reverse = a
    }

    mutating func activate(_ id: FlowID, action: FlowAction) {
        entries[Int(id)].state = .active
        entries[Int(id)].action = action
    }

    @usableFromInline
    mutating func setECMPMember(_ id: FlowID, _ member: UInt16) {
        entries[Int(id)].ecmpMember = member
    }

    mutating func setHold(_ id: FlowID, head: Int32, tail: Int32, count: UInt16) {
        entries[Int(id)].holdHead = head
        entries[Int(id)].holdTail = tail
        entries[Int(id)].heldCount = count
    }

    /// Scans up to `budget` entries from where the last scan stopped and appends the ids of flows idle
    /// for at least `idleTimeout` ns (a connection only when both directions are idle) to `expired`.
    /// Bounded work per call, so aging never stalls the datapath.
    public mutating func collectIdle(now: UInt64, idleTimeout: UInt64, budget: Int, into expired: inout [FlowID]) {
        guard !entries.isEmpty else { return }
        var scanned = 0
        while scanned < budget, scanned < entries.count {
            if agingCursor >= entries.count { agingCursor = 0 }
            let e = entries[agingCursor]
            if e.state != .free, now &- e.lastSeen >= idleTimeout, now >= e.lastSeen {
                let r = e.reverse
                let reverseIdle = r == .max || now >= entries[Int(r)].lastSeen && now - entries[Int(r)].lastSeen >= idleTimeout
                // The pair is reported once, by its lower id.
                if reverseIdle, r == .max || agingCursor < Int(r) { expired.append(FlowID(agingCursor)) }
            }
            agingCursor += 1
            scanned += 1
        }
    }

    /// Ids of every live entry (tools and tests).
    public var liveIDs: [FlowID] {
        entries.indices.compactMap { entries[$0].state == .free ? nil : FlowID($0) }
    }
}
