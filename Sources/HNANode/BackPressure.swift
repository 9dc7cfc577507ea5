import HNARouter

/// Which VM ports a driver should stop reading, from the node's outputs: sans-I/O, so the daemon only
/// turns the answer into epoll interest and tests drive it with a clock of their own.
///
/// A port whose packets went into a crowded VOQ (`NodeOutput.crowding`) is held until that VOQ has room
/// again: a TAP that is not read fills its queue and the VM's TCP slows down, where a refused burst
/// would have been loss to it. A VOQ that does not drain at all for `stallLimit` — a peer that stopped
/// answering — releases its port (counted in `expired`), so one stuck peer does not hold a VM forever;
/// its packets are then refused as `voq-full` until the VOQ has room again. Every other port keeps
/// going.
public struct IngressBackPressure: Sendable {
    /// How long a crowded VOQ may go without draining before its port is released.
    public static let defaultStallLimit: UInt64 = 10_000_000

    public let stallLimit: UInt64
    /// Holds released because their VOQ did not drain within `stallLimit`.
    public private(set) var expired: UInt64 = 0

    struct Hold: Sendable {
        var queue: CrowdedQueue
        /// When the VOQ last drained (or the hold began), and what it held then.
        var since: UInt64
        var queued: Int
    }

    var holds: [InterfaceID: Hold] = [:]

    public init(stallLimit: UInt64 = IngressBackPressure.defaultStallLimit) {
        self.stallLimit = stallLimit
    }

    /// True while `port` is held back.
    public func isHolding(_ port: InterfaceID) -> Bool { holds[port] != nil }

    public var isEmpty: Bool { holds.isEmpty }

    /// Ports held back now.
    public var heldPorts: [InterfaceID] { holds.keys.sorted() }

    /// Takes the crowding reported by one node call and releases the holds whose VOQ has room again or
    /// has stalled past `stallLimit`.
    public mutating func update(crowding: [CrowdedQueue], node: HNANode, now: UInt64) {
        for q in crowding where holds[q.port] == nil {
            holds[q.port] = Hold(queue: q, since: now, queued: node.queuedBytes(q))
        }
        if holds.isEmpty { return }
        for (port, var h) in holds {
            if !node.isCrowded(h.queue) {
                holds[port] = nil
                continue
            }
            let queued = node.queuedBytes(h.queue)
            if queued < h.queued {
                h.since = now
                h.queued = queued
                holds[port] = h
            } else if now &- h.since > stallLimit {
                holds[port] = nil
                expired &+= 1
            }
        }
    }

    /// Forgets `port` (it was closed).
    public mutating func remove(_ port: InterfaceID) { holds[port] = nil }
}
