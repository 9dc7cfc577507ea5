/// How the modelled fabric is built: the patent's ideal switch (FIG. 7) or a two-tier leaf-spine, with
/// link speeds, propagation delays, shared switch buffers, ECN marking and multipath policy. Defaults
/// live here and nowhere else.
public struct FabricConfig: Hashable, Sendable {
    public enum Topology: String, Hashable, Sendable, CaseIterable {
        /// One output-queued switch, one port per host, no internal limit (FIG. 7).
        case ideal
        /// Hosts under leaves, every leaf linked to every spine.
        case leafSpine = "leaf-spine"
    }

    /// How a leaf picks a spine for a packet whose destination is under another leaf.
    public enum LoadBalancing: String, Hashable, Sendable, CaseIterable {
        /// Hash of (source, destination, flow): one path per flow, so no reordering.
        case ecmp
        /// A random spine per packet: even load, reordering absorbed by the receiver.
        case spray
    }

    /// RED-style ECN marking on the instantaneous output-queue backlog: no mark below `minBytes`, always
    /// at or above `maxBytes`, probability rising linearly to `maxProbability` in between (DCTCP is
    /// `minBytes == maxBytes`).
    public struct ECN: Hashable, Sendable {
        public var minBytes: Int
        public var maxBytes: Int
        public var maxProbability: Double
        public init(minBytes: Int, maxBytes: Int, maxProbability: Double) {
            self.minBytes = minBytes
            self.maxBytes = maxBytes
            self.maxProbability = maxProbability
        }

        /// The thresholds the DCQCN literature uses at 100 Gb/s (100 KB / 400 KB / 0.2), scaled by the
        /// link speed.
        public static func dcqcn(linkGbps: Double) -> ECN {
            let scale = linkGbps / 100
            return ECN(minBytes: Int(100_000 * scale), maxBytes: Int(400_000 * scale), maxProbability: 0.2)
        }
    }

    public var topology: Topology = .leafSpine
    public var hosts: Int = 16
    /// Leaves (leaf-spine only); hosts are split evenly.
    public var leaves: Int = 4
    public var spines: Int = 4
    /// Host link speed, both directions.
    public var linkGbps: Double = 100
    /// Leaf-spine link speed; nil means sized from the oversubscription ratio.
    public var uplinkGbps: Double?
    /// Downlink capacity of a leaf over its uplink capacity (1 is non-blocking).
    public var oversubscription: Double = 1
    /// Propagation delay of every link.
    public var linkDelayNs: SimTime = 1000
    /// Shared buffer of each switch (all its output queues together); nil is unbounded.
    public var bufferBytes: Int? = 8 << 20
    public var ecn: ECN?
    public var loadBalancing: LoadBalancing = .ecmp

    public init() {}

    public var hostsPerLeaf: Int { topology == .ideal ? hosts : hosts / max(leaves, 1) }

    /// The speed of leaf-spine links.
    public var effectiveUplinkGbps: Double {
        if let u = uplinkGbps { return u }
        return Double(hostsPerLeaf) * linkGbps / (Double(spines) * oversubscription)
    }

    /// A leaf count for when the user gives none: at most 16 hosts per leaf and at least 4 leaves
    /// where the hosts allow, with the hosts split evenly.
    public static func defaultLeaves(hosts: Int) -> Int {
        var perLeaf = max(1, min(16, hosts / 4))
        while perLeaf > 1 && hosts % perLeaf != 0 { perLeaf -= 1 }
        return max(1, hosts / max(perLeaf, 1))
    }

    /// Describes the first inconsistency, if any.
    public func validate() -> String? {
        if hosts < 2 { return "a fabric needs at least 2 hosts" }
        if !(linkGbps > 0) { return "link speed must be positive" }
        if let b = bufferBytes, b < 1600 { return "buffer must hold at least one packet (1600 bytes)" }
        if let e = ecn, e.minBytes > e.maxBytes || !(0 ... 1).contains(e.maxProbability) {
            return "ECN thresholds need min <= max and a probability in 0...1"
        }
        if topology == .leafSpine {
            if leaves < 1 || spines < 1 { return "leaf-spine needs at least one leaf and one spine" }
            if hosts % leaves != 0 { return "\(hosts) hosts do not split evenly over \(leaves) leaves" }
            if !(oversubscription > 0) { return "oversubscription must be positive" }
            if !(effectiveUplinkGbps > 0) { return "uplink speed must be positive" }
        }
        return nil
    }
}
