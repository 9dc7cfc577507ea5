import HNAWire

/// How one HNA scales the n-bit queue lengths and rates it puts on the wire (the patent's q_i and r_i,
/// [0104]). A receiver decodes a value with the *sender's* units.
///
/// Rounding is chosen so that quantisation never hides demand and never starves a granted pair:
/// - queue lengths round **up** (1 byte queued is reported as 1 unit, never as "empty");
/// - rates round **down** (a source is never told it may send more than the destination computed),
///   except that a positive rate below one unit is sent as 1 unit, so a positive grant stays positive.
///   That exception can over-grant a destination by at most one rate unit per active source; choose the
///   rate unit well below B_j / (active sources) (docs/flow-control.md).
/// Both saturate at the largest n-bit value.
public struct FlowUnits: Hashable, Sendable {
    /// Bytes per queue-length unit (q_i), e.g. 64 B.
    public var queueUnitBytes: UInt64
    /// Bytes per second per rate unit (r_i), e.g. 16 MiB/s.
    public var rateUnitBytesPerSecond: UInt64

    public init(queueUnitBytes: UInt64 = 64, rateUnitBytesPerSecond: UInt64 = 1 << 24) {
        precondition(queueUnitBytes > 0 && rateUnitBytesPerSecond > 0, "units are positive")
        self.queueUnitBytes = queueUnitBytes
        self.rateUnitBytesPerSecond = rateUnitBytesPerSecond
    }

    /// The largest value a 16-bit field carries.
    public static let maxEncoded = UInt64(UInt16.max)

    /// Queue length in units, rounded up, saturating.
    @inlinable @inline(__always)
    public func encodeQueue(bytes: UInt64) -> UInt16 {
        let unit = queueUnitBytes
        let units: UInt64
        if unit & (unit &- 1) == 0 {
            // A power of two (the default): a shift and a mask instead of a 64-bit division, which
            // costs more than the rest of a header's encoding.
            units = bytes >> unit.trailingZeroBitCount + (bytes & (unit &- 1) == 0 ? 0 : 1)
        } else {
            units = bytes / unit + (bytes % unit == 0 ? 0 : 1)
        }
        return UInt16(min(units, Self.maxEncoded))
    }

    @inlinable @inline(__always)
    public func decodeQueue(_ value: UInt16) -> UInt64 { UInt64(value) * queueUnitBytes }

    /// Rate in units, rounded down but at least 1 for a positive rate, saturating.
    @inlinable @inline(__always)
    public func encodeRate(bytesPerSecond rate: Double) -> UInt16 {
        guard rate > 0 else { return 0 }
        let units = rate / Double(rateUnitBytesPerSecond)
        if units < 1 { return 1 }
        // For a positive value the integer conversion truncates, which is rounding down; without
        // SSE4.1 `rounded(.down)` is a call into libm.
        return units >= Double(Self.maxEncoded) ? UInt16.max : UInt16(units)
    }

    @inlinable @inline(__always)
    public func decodeRate(_ value: UInt16) -> Double { Double(value) * Double(rateUnitBytesPerSecond) }
}

/// The single home of the communications controller's defaults. Every field is documented with its
/// policy in docs/flow-control.md; times are nanoseconds, sizes bytes, bandwidths bytes per second.
public struct FlowControlConfig: Hashable, Sendable {
    /// Number of priorities, 1 to 8 (0 is the highest).
    public var priorities: Int = HNAHeader.defaultPriorities
    /// This HNA's wire units.
    public var units = FlowUnits()
    /// Fraction of a bandwidth every priority with demand is guaranteed (the anti-starvation floor of
    /// the priority split); `priorities * minimumPriorityShare` must not exceed 1.
    public var minimumPriorityShare: Double = 1.0 / 16

    /// The receiver acks after this many bytes from one peer (the patent's L, [0097]).
    public var ackThresholdBytes: Int = 4096
    /// ... or this long after the first unacknowledged packet (FIG. 13's timer).
    public var ackDelay: UInt64 = 20_000

    /// A pair that has sent nothing for this long gets a heartbeat (at least; see `heartbeatBudget`).
    public var heartbeatIdle: UInt64 = 100_000
    /// Heartbeats never use more than this fraction of the link's transmit bandwidth.
    public var heartbeatBudget: Double = 0.01
    /// Heartbeats the budget's token bucket holds (its depth, in frames), and so the peers one step of
    /// the heartbeat sweep visits: a step's heartbeats go out together, within the bucket.
    public static let heartbeatBurstFrames = 4
    /// A pair is in the HNA's span (the peers it is communicating with, [0101]) from its first packet
    /// that carries data or a non-zero queue length or rate, either way, until this many of its
    /// heartbeat periods after the last such packet; only pairs in the span get heartbeats. Past that,
    /// both ends have exchanged zeros that many times and a heartbeat would carry no news: an HNA of
    /// a thousand-host fabric would otherwise heartbeat every other HNA all the time (2.4 M frames a
    /// second each at 100 Gbit/s), and each peer's fresh zero grant would be a claim of nothing.
    public var heartbeatSpanPeriods: Int = 4
    /// Bytes around an HNA header on the wire that a heartbeat pays for: Ethernet 14 + IPv4 20 + UDP 8,
    /// which makes a 4-priority heartbeat a 64-byte frame (Table 1).
    public var heartbeatFrameOverhead: Int = 42

    /// A grant older than this (or older than four heartbeat cycles, or two retransmission timeouts
    /// towards the peer, whichever is longest) is stale and the source falls back to the safe rate
    /// (B_j / peers, split evenly over the priorities). A destination refreshes the grant of every source
    /// that reports a non-zero queue at least every quarter of this, data or not, so a low-rate pair
    /// stays fresh while the destination is alive.
    public var grantMaxAge: UInt64 = 2_000_000

    /// The receiver asks for a gap to be resent once it has been open this long, and again every
    /// max(`nackDelay`, smoothed RTT) while it stays open;
    /// the sender ignores a request for a packet it sent less than max(`nackDelay`, smoothed RTT) ago
    /// (the request was made before the resend could have arrived).
    public var nackDelay: UInt64 = 50_000
    /// The smallest margin of the retransmission timeout (RTO) over the smoothed round trip. The RTO of
    /// a peer follows its measured round trip (RFC 6298 from acks of packets sent once, Karn's rule):
    /// SRTT + max(4·RTTVAR, `resendTimeout`), at most `maxResendTimeout`; each further resend of one
    /// packet doubles its timeout.
    public var resendTimeout: UInt64 = 500_000
    /// The RTO before the first round-trip sample of a peer: long enough for a slow path (two userspace
    /// daemons, a debug build), since a spurious resend costs bandwidth and NACKs cover most losses.
    public var initialResendTimeout: UInt64 = 10_000_000
    /// The largest RTO, backoff included.
    public var maxResendTimeout: UInt64 = 250_000_000

    /// Unacknowledged packets per (peer, priority); at most 16384 so sequence numbers stay unambiguous.
    public var maxInFlightPackets: Int = 1024
    /// Bytes held for possible resending, over all peers.
    public var resendMemoryBytes: Int = 32 << 20
    /// Packets past a gap the receiver keeps per (peer, priority); at most 16384.
    public var reorderWindowPackets: Int = 1024
    /// Bytes the receiver holds for reordering, over all peers.
    public var reorderMemoryBytes: Int = 32 << 20

    /// Bytes one virtual output queue holds: the largest queue length the header can report at the
    /// default unit (65535 x 64 B).
    public var voqLimitBytes: Int = 65535 * 64
    /// Bytes all virtual output queues of this HNA hold together.
    public var voqMemoryBytes: Int = 64 << 20
    /// Room under which a VOQ (or all of them together) asks the driver to stop reading its VMs
    /// (`FlowController.isCrowded`, `freeQueueBytes`): more than what one read from the VMs can bring,
    /// so a pause comes before a refusal.
    public var ingressPauseBytes: Int = 2 << 20

    /// Burst a destination's token bucket allows (per peer and priority). Fabric drop-freedom needs the
    /// bursts of all sources of one destination, plus one packet each, to fit the fabric buffer in front
    /// of it (docs/flow-control.md); `defaultBurstBytes(bandwidth:)` derives one from a link rate.
    public var rateBurstBytes: Int = 16 << 10
    /// Burst the NIC pacer allows.
    public var nicBurstBytes: Int = 64 << 10
    /// NACK entries one header carries at most.
    public var maxNacksPerHeader: Int = 8

    public init() {}

    /// The smallest burst that still lets a paced lane send back-to-back full-size frames: two 1518-byte
    /// Ethernet frames.
    public static let minimumBurstBytes = 2 * 1518

    /// A per-(peer, priority) token-bucket depth for a link of `bandwidth` bytes/s: 10 µs of line rate
    /// (12.5 KB at 10 Gbit/s), at least `minimumBurstBytes`, at most 64 KiB.
    public static func defaultBurstBytes(bandwidth: Double) -> Int { burst(bandwidth, seconds: 10e-6) }

    /// The NIC pacer's depth for a transmit bandwidth: 50 µs of line rate (62.5 KB at 10 Gbit/s), same
    /// bounds.
    public static func defaultNICBurstBytes(bandwidth: Double) -> Int { burst(bandwidth, seconds: 50e-6) }

    static func burst(_ bandwidth: Double, seconds: Double) -> Int {
        let bytes = bandwidth * seconds
        return bytes >= Double(64 << 10) ? 64 << 10 : max(minimumBurstBytes, Int(bytes))
    }

    /// Checks the invariants the controller relies on; returns a description of the first violation.
    public func validate() -> String? {
        if !(1 ... HNAHeader.maxPriorities).contains(priorities) { return "priorities must be 1 to 8" }
        if minimumPriorityShare < 0 || Double(priorities) * minimumPriorityShare > 1 {
            return "priorities x minimumPriorityShare must be within 0...1"
        }
        if !(1 ... 16384).contains(maxInFlightPackets) { return "maxInFlightPackets must be 1 to 16384" }
        if !(1 ... 16384).contains(reorderWindowPackets) { return "reorderWindowPackets must be 1 to 16384" }
        if !(heartbeatBudget > 0 && heartbeatBudget <= 1) { return "heartbeatBudget must be within (0, 1]" }
        if !(1 ... 1_000).contains(heartbeatSpanPeriods) { return "heartbeatSpanPeriods must be 1 to 1000" }
        if ackThresholdBytes <= 0 || ackDelay == 0 || heartbeatIdle == 0 || nackDelay == 0 || resendTimeout == 0
            || grantMaxAge == 0 {
            return "thresholds and timers must be positive"
        }
        if initialResendTimeout < resendTimeout || maxResendTimeout < initialResendTimeout {
            return "resendTimeout <= initialResendTimeout <= maxResendTimeout"
        }
        if voqLimitBytes <= 0 || voqMemoryBytes <= 0 || resendMemoryBytes <= 0 || reorderMemoryBytes <= 0 {
            return "memory bounds must be positive"
        }
        if ingressPauseBytes <= 0 { return "ingressPauseBytes must be positive" }
        if rateBurstBytes <= 0 || nicBurstBytes <= 0 || !(1 ... 255).contains(maxNacksPerHeader) {
            return "bursts must be positive and maxNacksPerHeader 1 to 255"
        }
        return nil
    }
}
