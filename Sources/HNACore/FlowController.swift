import HNAWire

/// The communications controller of one HNA (FIG. 4 item 147): virtual output queues per (peer,
/// priority), the scheduler, flow control (Eq. 3/4, feedback, acks, heartbeats) and reliable delivery.
///
/// Sans-I/O: every event carries the time (nanoseconds, monotonic, from the driver). Actions collect in
/// an outbox the driver takes with `takeActions(into:)`; `nextDeadline` says when to call `poll` again.
/// Peers are dense ids 0..<peerCount. Policies: docs/flow-control.md.
public struct FlowController<Payload: FabricPayload> {
    public let config: FlowControlConfig
    public let peerCount: Int
    /// B_i: this HNA's transmit bandwidth (bytes/s).
    public let txBandwidth: Double
    /// B_j: this HNA's receive bandwidth, shared among sources by Eq. 3 (bytes/s).
    public let rxBandwidth: Double
    /// Heartbeat period of an idle pair towards the fastest peers: the configured idle time, stretched
    /// so that one heartbeat per peer per period fits this HNA's budget. Towards a peer that receives
    /// less than this HNA sends, the period is longer (`heartbeatInterval(to:)`): every source must also
    /// keep within its share of the *receiver's* budget, or a slow receiver with many idle peers would
    /// get more than its budget in heartbeats alone.
    public let heartbeatInterval: UInt64
    /// Age after which a grant is stale (at least; a peer with a long round trip gets two RTOs).
    public let grantLifetime: UInt64
    /// A destination sends every source that reports a non-zero queue a header (with its grant) at least
    /// this often, whether or not data flows, so the grant never ages out while the destination lives.
    public let grantRefreshInterval: UInt64
    /// Every event counted so far.
    public var counters: FlowCounters { stats }
    @usableFromInline var stats = FlowCounters()

    @usableFromInline let priorities: Int
    /// log2(`priorities`) when that is a power of two, else -1: a lane index splits into its peer and
    /// priority with a shift and a mask instead of an integer division (tens of cycles, on the path of
    /// every packet).
    @usableFromInline let priorityShift: Int
    /// Owns the records `lanes`, `feedback`, `peers` and `profiles` point into (see `ControllerMemory`).
    @usableFromInline var memory: ControllerMemory<Payload>
    @usableFromInline var lanes: RecordTable<Lane<Payload>>
    /// Indexed like `lanes`.
    @usableFromInline var feedback: RecordTable<PairFeedback>
    @usableFromInline var peers: RecordTable<Peer>
    /// What peers share: units, safe rate, heartbeat periods (`Peer.profile` indexes it).
    @usableFromInline var profiles: RecordTable<PeerProfile>
    /// Per priority, round robin over lanes that have work and may be able to send.
    @usableFromInline var eligible: RecordTable<RawRing<Int32>>
    /// The queues, outbox and timers below live in `memory` (`ControlBlock`).
    @usableFromInline var control: UnsafeMutablePointer<ControlBlock<Payload>>
    @inlinable var timers: TimerQueue {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.timers)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.timers)! }
    }
    @usableFromInline var nicTokens: Double
    @usableFromInline var nicRefilledAt: UInt64
    @usableFromInline var heartbeatTokens: Double
    @usableFromInline var heartbeatRefilledAt: UInt64
    @usableFromInline let heartbeatRate: Double
    @usableFromInline let heartbeatDepth: Double
    /// The heartbeat sweep (`sweepHeartbeats`): when its timer is set for (`.max`: not set; an
    /// earlier one supersedes it when the span grows), the peers a step visits, and the shortest time
    /// between steps, with every peer in the span (`sweepStep`).
    @usableFromInline var heartbeatSweepAt = UInt64.max
    @usableFromInline let heartbeatBatch: Int
    @usableFromInline let heartbeatStep: UInt64
    @inlinable var span: RawRing<Int32> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.span)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.span)! }
    }
    @inlinable var controlQueue: RawRing<Int32> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.controlQueue)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.controlQueue)! }
    }
    @inlinable var heartbeatQueue: RawRing<Int32> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.heartbeatQueue)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.heartbeatQueue)! }
    }
    @inlinable var memoryBlocked: RawRing<Int32> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.memoryBlocked)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.memoryBlocked)! }
    }
    @usableFromInline var voqTotalBytes = 0
    @usableFromInline var resendBytes = 0
    @usableFromInline var reorderBytes = 0
    /// Destination side: Σ_i q_ij per priority (bytes) and the per-priority budgets of B_j.
    @usableFromInline var queueTotal = SIMD8<UInt64>(repeating: 0)
    @usableFromInline var receiveBudget = SIMD8<Double>(repeating: 0)
    /// Destination side: Σ_i of the grants as last sent to each source, per priority. New grants are
    /// capped so this never exceeds the budget (see `makeHeader`).
    @usableFromInline var grantOutstanding = SIMD8<Double>(repeating: 0)
    /// Sources that got less than their Eq. 3 share because others still held older, larger grants;
    /// they are sent fresh grants as soon as someone's grant shrinks.
    @inlinable var squeezed: RawRing<Int32> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.squeezed)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.squeezed)! }
    }
    /// Source side: Σ_j r_ij over fresh grants per priority, and Eq. 4's factor per priority.
    @usableFromInline var grantTotal = SIMD8<Double>(repeating: 0)
    @usableFromInline var sourceScale = SIMD8<Double>(repeating: 1)
    /// `grantTotal` changed since `sourceScale` was computed. Every feedback header changes it, and a
    /// source hears many headers per packet it sends, so Eq. 4 is redone when a lane next needs it.
    @usableFromInline var sourceScaleStale = false
    @inlinable var outbox: RawRing<PendingAction<Payload>> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.outbox)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.outbox)! }
    }
    @inlinable var outboxNacks: RawRing<[HNANack]> {
        @inline(__always) unsafeAddress { UnsafePointer(control.pointer(to: \.outboxNacks)!) }
        @inline(__always) unsafeMutableAddress { control.pointer(to: \.outboxNacks)! }
    }
    /// Baseline hooks (see `setFlowControl` and `setRateLimit`); empty `rateLimits` means no limits.
    @usableFromInline var flowControlEnabled = true
    @usableFromInline var rateLimits: [Double] = []
    @usableFromInline var now: UInt64

    /// - Parameters:
    ///   - peerRxBandwidth: each peer's receive bandwidth, used only for the safe rate (B_j / peers);
    ///     defaults to min(`rxBandwidth`, `txBandwidth`) of this HNA for every peer. Give it whenever a
    ///     peer can receive less than this HNA: the safe rate is only safe with the real B_j.
    ///   - peerUnits: each peer's wire units, to decode what it sends; defaults to `config.units`.
    public init(
        config: FlowControlConfig = FlowControlConfig(), peerCount: Int, txBandwidth: Double, rxBandwidth: Double,
        peerRxBandwidth: [Double]? = nil, peerUnits: [FlowUnits]? = nil, now: UInt64
    ) {
        if let problem = config.validate() { preconditionFailure("FlowControlConfig: \(problem)") }
        precondition(peerCount > 0 && peerCount < 1 << 28, "1 to 2^28 peers")
        precondition(txBandwidth > 0 && rxBandwidth > 0, "bandwidths are positive")
        precondition(peerRxBandwidth.map { $0.count == peerCount } ?? true)
        precondition(peerUnits.map { $0.count == peerCount } ?? true)
        self.config = config
        self.peerCount = peerCount
        self.txBandwidth = txBandwidth
        self.rxBandwidth = rxBandwidth
        priorities = config.priorities
        priorityShift = config.priorities.nonzeroBitCount == 1 ? config.priorities.trailingZeroBitCount : -1
        let frame = Double(HNAHeader.length(priorities: priorities, data: false, acks: false, nacks: 0)
            + config.heartbeatFrameOverhead)
        heartbeatRate = txBandwidth * config.heartbeatBudget
        heartbeatDepth = Double(FlowControlConfig.heartbeatBurstFrames) * frame
        let cycle = UInt64((Double(peerCount) * frame / heartbeatRate * 1e9).rounded(.up))
        heartbeatInterval = max(config.heartbeatIdle, cycle)
        heartbeatBatch = min(FlowControlConfig.heartbeatBurstFrames, peerCount)
        let steps = UInt64((peerCount + heartbeatBatch - 1) / heartbeatBatch)
        heartbeatStep = max(1, (heartbeatInterval + steps - 1) / steps)
        grantLifetime = max(config.grantMaxAge, 4 * heartbeatInterval)
        grantRefreshInterval = max(1, config.grantMaxAge / 4)
        self.now = now
        nicTokens = Double(config.nicBurstBytes)
        nicRefilledAt = now
        heartbeatTokens = heartbeatDepth
        heartbeatRefilledAt = now
        let feedback = [PairFeedback](repeating: PairFeedback(), count: peerCount * priorities)
        let lanes = [Lane<Payload>](repeating: Lane(tokens: Double(config.rateBurstBytes), at: now),
                                    count: peerCount * priorities)
        let globalInterval = heartbeatInterval
        let lifetime = grantLifetime
        var profiles: [PeerProfile] = []
        var profileIndex: [PeerProfile: UInt32] = [:]
        let peers = (0 ..< peerCount).map { j in
            let peerRx = peerRxBandwidth?[j] ?? min(rxBandwidth, txBandwidth)
            // The receiver hears up to `peerCount` sources (a symmetric fabric): each may use its share.
            func interval(_ bandwidth: Double) -> UInt64 {
                let pairBudget = config.heartbeatBudget * bandwidth / Double(peerCount)
                return max(globalInterval, UInt64((frame / pairBudget * 1e9).rounded(.up)))
            }
            // Towards the peer: bounded by its receive bandwidth. From the peer: by this HNA's, which the
            // peer applies the same way (its own transmit bandwidth is taken as its receive bandwidth).
            let profile = PeerProfile(units: peerUnits?[j] ?? config.units,
                                      safeRate: peerRx / Double(peerCount) / Double(config.priorities),
                                      heartbeatInterval: interval(min(txBandwidth, peerRx)),
                                      heardInterval: interval(min(rxBandwidth, peerRx)))
            let index: UInt32
            if let known = profileIndex[profile] {
                index = known
            } else {
                index = UInt32(profiles.count)
                profileIndex[profile] = index
                profiles.append(profile)
            }
            return Peer(profile: index, grantLife: max(lifetime, 4 * profile.heardInterval),
                        rto: config.initialResendTimeout, at: now)
        }
        memory = ControllerMemory(peers: peers, lanes: lanes, feedback: feedback, profiles: profiles,
                                  priorities: priorities)
        self.lanes = memory.lanes
        self.feedback = memory.feedback
        self.peers = memory.peers
        self.profiles = memory.profiles
        eligible = memory.eligible
        control = memory.control
    }

    /// Gives this controller its own records before it changes them, if a copy of it shares them.
    @inlinable @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&memory) { separate() }
    }

    /// The peer and priority of lane `li` (`li / priorities`, `li % priorities`).
    @inlinable @inline(__always)
    func split(_ li: Int) -> (peer: Int, priority: Int) {
        if priorityShift >= 0 { return (li >> priorityShift, li & (priorities &- 1)) }
        let (q, r) = li.quotientAndRemainder(dividingBy: priorities)
        return (q, r)
    }

    @usableFromInline
    mutating func separate() {
        memory = memory.copy()
        lanes = memory.lanes
        feedback = memory.feedback
        peers = memory.peers
        profiles = memory.profiles
        eligible = memory.eligible
        control = memory.control
    }

    /// What `peer` shares with others: its units, safe rate and heartbeat periods.
    @inlinable @inline(__always)
    func profile(_ peer: Int) -> PeerProfile { profiles[Int(peers[peer].profile)] }

    // MARK: Events

    /// A packet from a VM (via the virtual router) for `peer` at `priority`. Refused packets are ingress
    /// drops with a reason; the driver should stop reading from its VMs while `freeQueueBytes` is low.
    @inlinable
    public mutating func enqueue(_ payload: Payload, to peer: Int, priority: Int, now: UInt64) -> IngressResult {
        makeUnique()
        self.now = now
        guard peer >= 0, peer < peerCount, priority >= 0, priority < priorities else {
            return drop(.badDestination)
        }
        let segments = payload.segmentCount
        let length = payload.wireLength
        guard segments >= 1, segments <= Self.maxSegments, length > 0 else { return drop(.badPayload) }
        let li = peer * priorities + priority
        if feedback[li].voqBytes + length > config.voqLimitBytes { return drop(.voqFull) }
        if voqTotalBytes + length > config.voqMemoryBytes { return drop(.memoryFull) }
        let wasEmpty = lanes[li].voq.isEmpty
        lanes[li].voq.append(payload)
        feedback[li].voqBytes += length
        voqTotalBytes += length
        stats.enqueued += 1
        touchSpan(peer)
        if wasEmpty && peers[peer].demandReported & (1 << UInt8(priority)) == 0 {
            // New demand: tell the destination now rather than at the next heartbeat.
            signal(peer)
        }
        kick(li)
        return .queued
    }

    /// A packet from `peer`: its header (feedback, acks, NACKs, sequence number) and, for data
    /// (`header.sequence != nil`), its payload.
    @inlinable
    public mutating func receive(_ header: HNAHeader, payload: Payload?, from peer: Int, now: UInt64) {
        receive(FlowHeader(header), nacks: header.nacks, payload: payload, from: peer, now: now)
    }

    /// `receive` for a header as plain data, with its NACK list (`nacks.count == header.nackCount`).
    @inlinable
    public mutating func receive(_ header: FlowHeader, nacks: [HNANack], payload: Payload?, from peer: Int,
                                 now: UInt64) {
        makeUnique()
        self.now = now
        guard peer >= 0, peer < peerCount, Int(header.priorityCount) == priorities,
              (header.sequence == nil) == (payload == nil)
        else {
            stats.badHeaders += 1
            return
        }
        applyFeedback(header, from: peer)
        if let acks = header.acks {
            for p in 0 ..< priorities { applyAck(acks[p], lane: peer * priorities + p) }
        }
        for nack in nacks where Int(nack.priority) < priorities {
            applyNack(nack, lane: peer * priorities + Int(nack.priority))
        }
        if let sequence = header.sequence, let payload {
            acceptData(payload, sequence: sequence, peer: peer, priority: Int(header.priority))
        }
    }

    /// Runs due timers, then sends what the rates, the NIC and the heartbeat budget allow at `now`.
    @inlinable
    public mutating func poll(now: UInt64) {
        makeUnique()
        self.now = now
        while let t = timers.popDue(now: now) { fire(t) }
        schedule()
        flushControl()
        flushHeartbeats()
    }

    /// When `poll` must next run (nil when nothing is pending). May be early, never late.
    /// Always inlined, as are the other non-mutating helpers the hot paths call: a call that is not
    /// inlined gets a copy of the whole controller (about 1 KB) as its `self`.
    @inlinable
    public var nextDeadline: UInt64? {
        @inline(__always) get {
        var d = timers.nextTime ?? .max
        if eligible.contains(where: { !$0.isEmpty }) {
            d = min(d, nicTokens > 0 ? now : now + Self.nanoseconds(-nicTokens, txBandwidth))
        }
        if !heartbeatQueue.isEmpty {
            let frame = Double(heartbeatFrameLength(acks: false))
            d = min(d, heartbeatTokens >= frame ? now
                : now + Self.nanoseconds(frame - heartbeatTokens, heartbeatRate))
        }
        if !controlQueue.isEmpty || !outbox.isEmpty { d = now }
        return d == .max ? nil : d
        }
    }

    /// Moves the pending actions into `actions` (which must be empty; its capacity is reused).
    @inlinable
    public mutating func takeActions(into actions: inout [FlowAction<Payload>]) {
        precondition(actions.isEmpty, "pass an empty array")
        makeUnique()
        actions.reserveCapacity(outbox.count)
        while let action = outbox.popFirst() { actions.append(action.action(nacks: takeNacks(action.header))) }
    }

    /// Takes the pending actions one at a time, in order: the same actions as `takeActions(into:)`,
    /// handed to `send` (the peer, the header as plain data, its NACK list, the payload for data) or
    /// `deliver` (the peer, the priority, the payload) without `FlowAction` values or an array, for a
    /// driver that turns each into its own packet form at once (the simulator).
    @inlinable
    public mutating func takeActions(send: (Int, FlowHeader, [HNANack], Payload?) -> Void,
                                     deliver: (Int, Int, Payload) -> Void) {
        // Nothing to take (most calls after a packet that was only absorbed): no uniqueness check.
        if outbox.isEmpty { return }
        makeUnique()
        while let action = outbox.popFirst() {
            if action.isDelivery {
                deliver(action.peer, Int(action.header.priority), action.payload!)
            } else {
                send(action.peer, action.header, takeNacks(action.header), action.payload)
            }
        }
    }

    /// The NACK list of the outbox's next header that has one, if `header` has one.
    @inlinable @inline(__always)
    mutating func takeNacks(_ header: FlowHeader) -> [HNANack] {
        header.nackCount == 0 ? [] : outboxNacks.removeFirst()
    }

    // MARK: Queries

    /// Bytes queued towards `peer` at `priority` (the unscaled q_ij).
    @inlinable @inline(__always)
    public func queuedBytes(to peer: Int, priority: Int) -> Int { feedback[peer * priorities + priority].voqBytes }

    /// Bytes all virtual output queues can still take.
    @inlinable public var freeQueueBytes: Int { config.voqMemoryBytes - voqTotalBytes }

    /// VOQs with less than `ingressPauseBytes` of room, counted over every lane (for introspection; a
    /// driver asks `isCrowded` of the VOQs its packets went to).
    public var crowdedQueues: Int {
        let above = voqCrowdedAbove
        return (0 ..< peerCount * priorities).reduce(0) { $0 + (feedback[$1].voqBytes > above ? 1 : 0) }
    }

    /// True while the VOQ towards `peer` at `priority` has less than `ingressPauseBytes` of room. A
    /// driver stops reading a VM whose packets go to such a VOQ (a TAP that is not read pushes back on
    /// the VM's TCP) rather than letting the next burst be refused as `voqFull`, which the VM's TCP sees
    /// as loss; likewise all VMs while `freeQueueBytes` is below `ingressPauseBytes`.
    @inlinable public func isCrowded(peer: Int, priority: Int) -> Bool {
        feedback[peer * priorities + priority].voqBytes > voqCrowdedAbove
    }

    /// A VOQ holding more than this is crowded (a VOQ smaller than the pause room is crowded whenever
    /// it holds anything).
    @inlinable var voqCrowdedAbove: Int { max(0, config.voqLimitBytes - config.ingressPauseBytes) }

    /// Bytes held for resending and for reordering.
    public var resendMemoryUsed: Int { resendBytes }
    public var reorderMemoryUsed: Int { reorderBytes }

    /// Packets (datagrams) sent to `peer` at `priority` and not yet acknowledged.
    public func inFlight(to peer: Int, priority: Int) -> Int { lanes[peer * priorities + priority].packetsInFlight }

    /// The sequence number the next data packet from `peer` at `priority` must carry to be delivered at
    /// once: where a train (`FabricPayload.segmentCount` > 1) handed to `receive` must start.
    public func expectedSequence(from peer: Int, priority: Int) -> UInt16 { lanes[peer * priorities + priority].rcvNext }

    /// The most segments one payload may carry (a train's resend state is a 64-bit mask).
    public static var maxSegments: Int { 64 }

    /// r_ij this HNA, as destination, currently grants source `peer` at `priority` (Eq. 3, bytes/s).
    public func grant(toSource peer: Int, priority: Int) -> Double { grantFor(peer, priority) }

    /// r̂_ij: the rate this HNA, as source, currently allows itself towards `peer` (Eq. 4, or the safe
    /// rate when the grant is stale), bytes/s.
    public func sendingRate(to peer: Int, priority: Int) -> Double { effectiveRate(peer * priorities + priority) }

    /// The smoothed round trip towards `peer` (ns; nil before the first sample) and the retransmission
    /// timeout in force for it (before backoff).
    public func smoothedRoundTrip(to peer: Int) -> UInt64? { peers[peer].srtt == 0 ? nil : peers[peer].srtt }
    public func retransmissionTimeout(to peer: Int) -> UInt64 { peers[peer].rto }

    /// True when the grant from `peer` is fresh.
    public func hasFreshGrant(from peer: Int) -> Bool { peers[peer].grantFresh }
    /// The heartbeat period of an idle pair towards `peer` (at least `heartbeatInterval`).
    public func heartbeatInterval(to peer: Int) -> UInt64 { profile(peer).heartbeatInterval }


    // MARK: Memory hints

    /// Where this controller's per-peer state is, for `MemoryHint`s only: a driver running many
    /// controllers keeps one per controller and prefetches the state its next few events will touch,
    /// so that their cache misses overlap. Valid while the controller is neither copied nor destroyed;
    /// a stale one only prefetches the wrong lines (a prefetch never faults and changes nothing).
    @inlinable
    public var prefetcher: FlowPrefetcher {
        FlowPrefetcher(peers: UnsafeRawPointer(peers.base), peerStride: peers.stride,
                       lanes: UnsafeRawPointer(feedback.base), laneStride: feedback.stride, priorities: priorities,
                       peerCount: peerCount, object: UnsafeRawPointer(Unmanaged.passUnretained(memory).toOpaque()),
                       control: UnsafeRawPointer(control), controlBytes: MemoryLayout<ControlBlock<Payload>>.size,
                       timers: UnsafePointer(control.pointer(to: \.timers)!),
                       controlQueue: UnsafePointer(control.pointer(to: \.controlQueue)!),
                       heartbeatQueue: UnsafePointer(control.pointer(to: \.heartbeatQueue)!),
                       span: UnsafePointer(control.pointer(to: \.span)!))
    }

    // MARK: Internals

    @inlinable
    mutating func drop(_ reason: IngressDropReason) -> IngressResult {
        stats.ingressDrops[reason.rawValue] += 1
        return .dropped(reason)
    }

    @inlinable @inline(__always)
    static func nanoseconds(_ bytes: Double, _ rate: Double) -> UInt64 {
        max(1, ceilToUInt64(bytes / rate * 1e9))
    }

    @inlinable @inline(__always)
    func heartbeatFrameLength(acks: Bool) -> Int {
        HNAHeader.length(priorities: priorities, data: false, acks: acks, nacks: 0) + config.heartbeatFrameOverhead
    }

    @inlinable @inline(__always)
    func grantFor(_ peer: Int, _ p: Int) -> Double {
        RateAllocation.grant(queue: Double(feedback[peer * priorities + p].reportedQueue),
                             columnTotal: Double(queueTotal[p]), budget: receiveBudget[p])
    }

    @inlinable @inline(__always)
    func effectiveRate(_ li: Int) -> Double {
        let peer = split(li).peer
        return Self.laneRate(grantFresh: peers[peer].grantFresh, grant: feedback[li].grant,
                             sourceScale: currentSourceScale()[split(li).priority], safeRate: profile(peer).safeRate,
                             flowControl: flowControlEnabled, txBandwidth: txBandwidth,
                             limit: rateLimits.isEmpty ? .infinity : rateLimits[peer])
    }

    /// r̂_ij for one lane: the fresh grant scaled by Eq. 4, or the safe rate when the grant is stale; the
    /// transmit bandwidth when flow control is off (baseline); never above a baseline's rate limit. The
    /// one home of this rule: `effectiveRate` (queries) and `serve` (pacing) both call it, with scalars
    /// so that a mutating caller does not copy the controller.
    @inlinable @inline(__always)
    static func laneRate(grantFresh: Bool, grant: Double, sourceScale: Double, safeRate: Double,
                         flowControl: Bool, txBandwidth: Double, limit: Double) -> Double {
        let rate = !flowControl ? txBandwidth : grantFresh ? grant * sourceScale : safeRate
        return min(rate, limit)
    }

    // MARK: Baseline hooks

    /// Turns the patent's flow control off or on. Off, a source ignores grants and sends to every peer
    /// at its transmit bandwidth (or at the limit `setRateLimit` set) and sends no heartbeats; queues,
    /// scheduling, acks and retransmission work as before. This is how the simulator runs its baselines
    /// on the same controller: "no flow control", and an ECN rate control that sets limits.
    public mutating func setFlowControl(enabled: Bool) {
        makeUnique()
        flowControlEnabled = enabled
        for li in lanes.indices { kick(li) }
    }

    /// Caps the rate towards `peer` (bytes/s over all its priorities' lanes each), or removes the cap
    /// with nil. Applies with or without flow control; the lanes are re-examined at once.
    public mutating func setRateLimit(_ bytesPerSecond: Double?, toPeer peer: Int) {
        precondition(peer >= 0 && peer < peerCount)
        makeUnique()
        if rateLimits.isEmpty {
            if bytesPerSecond == nil { return }
            rateLimits = [Double](repeating: .infinity, count: peerCount)
        }
        rateLimits[peer] = bytesPerSecond ?? .infinity
        for p in 0 ..< priorities { kick(peer * priorities + p) }
    }

    /// Puts a lane with work on its priority's round robin (cancelling any wake-up it waits for).
    @inlinable
    mutating func kick(_ li: Int) {
        guard !lanes[li].listed, !lanes[li].blocked, laneHasWork(li) else { return }
        lanes[li].listed = true
        lanes[li].wakeAt = 0
        eligible[split(li).priority].append(Int32(li))
    }

    /// Whether lane `li` has packets to send or resend, asked of its byte counts first. Every payload
    /// has bytes (`enqueue` refuses others), so a lane with nothing queued and nothing unacknowledged
    /// (nothing to resend either) has no work, and its queues are not touched: they are on the lane's
    /// second line, which a heartbeat or a kick towards an idle pair would otherwise load only to find
    /// them empty.
    @inlinable @inline(__always)
    func laneHasWork(_ li: Int) -> Bool { feedback[li].pendingBytes > 0 && lanes[li].hasWork }

    @inlinable
    mutating func queueHeartbeat(_ peer: Int) {
        guard !peers[peer].heartbeatQueued else { return }
        peers[peer].heartbeatQueued = true
        peers[peer].heartbeatQueuedAt = now
        heartbeatQueue.append(Int32(peer))
    }

    /// Keeps `peer` in the span for `heartbeatSpanPeriods` of its heartbeat periods from now: a packet
    /// to or from it carried data or a non-zero queue length or rate (or data was queued for it).
    @inlinable @inline(__always)
    mutating func touchSpan(_ peer: Int) {
        peers[peer].spanUntil = now &+ UInt64(config.heartbeatSpanPeriods) &* profile(peer).heartbeatInterval
        if peers[peer].inSpan { return }
        peers[peer].inSpan = true
        span.append(Int32(peer))
        // A growing span shortens the step: the sweep must reach the newcomers within an interval.
        let at = now + sweepStep(members: span.count)
        if at < heartbeatSweepAt {
            heartbeatSweepAt = at
            timers.insert(TimerEntry(time: at, index: Int(span[0]), kind: .heartbeat))
        }
    }

    /// The time between sweep steps with `members` peers in the span: one visit to each per
    /// `heartbeatInterval`, however few they are (`heartbeatStep` with every peer in it). A sweep that
    /// kept the shortest step would wake the HNA a few hundred times per interval to visit the same
    /// handful of peers.
    @inlinable @inline(__always)
    func sweepStep(members: Int) -> UInt64 {
        let steps = UInt64(max(1, (members + heartbeatBatch - 1) / heartbeatBatch))
        return max(heartbeatStep, heartbeatInterval / steps)
    }

    /// Whether `peer` is in the span (it gets heartbeats while idle).
    public func isInSpan(_ peer: Int) -> Bool { peer >= 0 && peer < peerCount && peers[peer].inSpan }
    /// Peers in the span.
    public var spanCount: Int { span.count }

    /// One step of the heartbeat sweep: the next `heartbeatBatch` peers of the span in turn, each of
    /// which gets a heartbeat queued if it is idle (`heartbeatDue`) or leaves the span if its time
    /// there is over, and the next step's timer while the span has peers.
    ///
    /// Why a sweep rather than a timer per peer: with a thousand peers the timers were a FIFO of a
    /// thousand entries per HNA, each pop and push touching a line of a 16 KB ring that nothing else
    /// kept in cache, and each heartbeat its own wake-up; the sweep keeps one timer and sends a step's
    /// heartbeats together within the budget's burst. Why over the span only: a peer outside it has
    /// exchanged nothing but zeros for several periods, and visiting it would load its cold records
    /// to send a heartbeat with no news.
    @inlinable
    mutating func sweepHeartbeats() {
        heartbeatSweepAt = .max
        for _ in 0 ..< min(heartbeatBatch, span.count) {
            let peer = Int(span.removeFirst())
            if now >= peers[peer].spanUntil {
                peers[peer].inSpan = false
                continue
            }
            span.append(Int32(peer))
            if heartbeatDue(peer) { queueHeartbeat(peer) }
        }
        if !span.isEmpty {
            heartbeatSweepAt = now + sweepStep(members: span.count)
            timers.insert(TimerEntry(time: heartbeatSweepAt, index: Int(span[0]), kind: .heartbeat))
        }
    }

    /// Whether the sweep's visit finds `peer` idle. The sweep comes back to a peer once per interval
    /// (`sweepStep`), so a peer whose period is the sweep's own is due when half a period has passed
    /// since the last send: a heartbeat that left a little after the last visit must not make this
    /// one skip it, or the pair would get one every second period. A peer with a longer period (a
    /// slow receiver's) waits all of it: the first visit after that, at most a sweep period later,
    /// sends, and the pair never gets more than its share of the receiver's budget. A pair that paces
    /// data gets none (`pacingData`).
    @inlinable @inline(__always)
    func heartbeatDue(_ peer: Int) -> Bool {
        guard !peers[peer].heartbeatQueued else { return false }
        let idle = now - min(now, peers[peer].lastSentAt)
        let period = profile(peer).heartbeatInterval
        return idle >= (period > heartbeatInterval ? period : period / 2) && !pacingData(to: peer)
    }

    /// Sends feedback to `peer` at the next poll even if nothing else is owed: demand or a grant
    /// appeared, and waiting for the next heartbeat would stall the pair.
    @inlinable
    mutating func signal(_ peer: Int) {
        peers[peer].signalPending = true
        queueControl(peer)
    }

    @inlinable
    mutating func queueControl(_ peer: Int) {
        guard !peers[peer].controlQueued else { return }
        peers[peer].controlQueued = true
        controlQueue.append(Int32(peer))
    }

    @inlinable
    mutating func recomputeReceiveBudget() {
        var demand = SIMD8<Double>(repeating: 0)
        for p in 0 ..< priorities where queueTotal[p] > 0 { demand[p] = .infinity }
        receiveBudget = RateAllocation.priorityBudgets(bandwidth: rxBandwidth, demand: demand, priorities: priorities,
                                                       minimumShare: config.minimumPriorityShare)
    }

    /// Eq. 4's factor per priority for the grants held now. Static, like the other helpers the hot
    /// paths call: a non-mutating method called from a mutating one gets a copy of the whole
    /// controller (~1 KB) on every call.
    @inlinable
    static func sourceScale(grantTotal: SIMD8<Double>, txBandwidth: Double, priorities: Int,
                            minimumShare: Double) -> SIMD8<Double> {
        let budget = RateAllocation.priorityBudgets(bandwidth: txBandwidth, demand: grantTotal,
                                                    priorities: priorities, minimumShare: minimumShare)
        var scale = SIMD8<Double>(repeating: 1)
        for p in 0 ..< priorities {
            scale[p] = RateAllocation.normalized(rate: 1, rowTotal: grantTotal[p], budget: budget[p])
        }
        return scale
    }

    @inlinable @inline(__always)
    func currentSourceScale() -> SIMD8<Double> {
        sourceScaleStale
            ? Self.sourceScale(grantTotal: grantTotal, txBandwidth: txBandwidth, priorities: priorities,
                               minimumShare: config.minimumPriorityShare)
            : sourceScale
    }

    @inlinable @inline(__always)
    mutating func refreshSourceScale() {
        if sourceScaleStale {
            sourceScale = Self.sourceScale(grantTotal: grantTotal, txBandwidth: txBandwidth, priorities: priorities,
                                           minimumShare: config.minimumPriorityShare)
            sourceScaleStale = false
        }
    }

    @inlinable
    mutating func applyFeedback(_ header: FlowHeader, from peer: Int) {
        if peers[peer].heard, Int32(bitPattern: header.timestamp &- peers[peer].heardTimestamp) < 0 {
            stats.staleFeedback += 1
            return
        }
        peers[peer].heard = true
        peers[peer].heardTimestamp = header.timestamp
        let units = profile(peer).units
        let count = priorities
        let base = peer * count
        var demandChanged = false
        var wantsGrant = false
        let wasFresh = peers[peer].grantFresh
        var kicks: UInt8 = 0
        // One pass through a buffer pointer (see `makeHeader`); lanes to kick are collected and kicked
        // afterwards, in the same order, since kicking touches nothing this loop reads.
        withScalars(&queueTotal, &grantTotal) { columnTotal, rowTotal in
            for p in 0 ..< count {
                let li = base + p
                let q = units.decodeQueue(header.queueLengths[p])
                let old = feedback[li].reportedQueue
                if q != old {
                    let before = columnTotal[p]
                    columnTotal[p] = before &- old &+ q
                    if (before == 0) != (columnTotal[p] == 0) { demandChanged = true }
                    feedback[li].reportedQueue = q
                    if old == 0 { wantsGrant = true }
                }
                let g = units.decodeRate(header.grantedRates[p])
                let oldGrant = wasFresh ? feedback[li].grant : 0
                rowTotal[p] += g - oldGrant
                feedback[li].grant = g
                if g > oldGrant || !wasFresh { kicks |= 1 << UInt8(p) }
            }
        }
        while kicks != 0 {
            kick(base + kicks.trailingZeroBitCount)
            kicks &= kicks &- 1
        }
        if demandChanged { recomputeReceiveBudget() }
        if header.carriesNews { touchSpan(peer) }
        sourceScaleStale = true
        peers[peer].grantFresh = true
        peers[peer].grantAt = now
        if !peers[peer].grantTimerArmed {
            peers[peer].grantTimerArmed = true
            timers.insert(TimerEntry(time: now + lifetime(peer), index: peer, kind: .grantExpiry))
        }
        if wantsGrant {
            signal(peer)
            if !peers[peer].grantRefreshArmed {
                peers[peer].grantRefreshArmed = true
                timers.insert(TimerEntry(time: now + grantRefreshInterval, index: peer, kind: .grantRefresh))
            }
        }
    }

    @inlinable
    mutating func applyAck(_ ack: UInt16, lane li: Int) {
        // Nothing unacknowledged (the bytes say so; see `laneHasWork`): an ack of anything but the next
        // sequence number acks what was never sent. Decided without loading the ring of
        // unacknowledged packets, on the lane's third line (most acks a heartbeat carries are such).
        if feedback[li].unackedBytes == 0 {
            if ack != lanes[li].nextSequence { stats.ignoredAcks += 1 }
            return
        }
        let una = lanes[li].una
        let advance = Int(ack &- una)
        if advance == 0 { return }
        guard advance <= lanes[li].packetsInFlight else {
            stats.ignoredAcks += 1
            return
        }
        // The round trip of the oldest packet this ack covers: it was next in line at the receiver, so
        // it was delivered on arrival, and its sample holds at most the receiver's ack delay. A later
        // one may have waited in the reorder buffer for a resend, which is no property of the path.
        let oldest = lanes[li].unacked[0]
        if oldest.resends == 0 { sampleRoundTrip(now - min(now, oldest.sentAt), peer: split(li).peer) }
        // Whole entries leave as their last segment is acked; an ack inside a train moves `headAcked`.
        var freed = 0
        var remaining = advance
        while remaining > 0 {
            let left = Int(lanes[li].unacked[0].segments) - Int(lanes[li].headAcked)
            if remaining < left {
                lanes[li].headAcked += UInt8(remaining)
                break
            }
            freed += lanes[li].unacked.removeFirst().payload.wireLength
            lanes[li].headAcked = 0
            remaining -= left
        }
        resendBytes -= freed
        feedback[li].unackedBytes -= freed
        if lanes[li].blocked {
            lanes[li].blocked = false
            kick(li)
        }
        while let m = memoryBlocked.popFirst() {
            lanes[Int(m)].blocked = false
            kick(Int(m))
        }
    }

    @inlinable
    mutating func applyNack(_ nack: HNANack, lane li: Int) {
        guard !lanes[li].unacked.isEmpty else { return }
        // A NACK that arrives less than a round trip after the packet went was made before it arrived.
        let guardTime = max(config.nackDelay, peers[split(li).peer].srtt)
        var queued = false
        for k in 0 ..< Int(nack.count) {
            let sequence = nack.first &+ UInt16(truncatingIfNeeded: k)
            guard let (index, segment) = lanes[li].locate(sequence) else { continue }
            let bit = UInt64(1) << UInt64(segment)
            if lanes[li].unacked[index].resendQueued & bit != 0 || now - lanes[li].unacked[index].sentAt < guardTime {
                continue
            }
            lanes[li].unacked[index].resendQueued |= bit
            lanes[li].resend.append(sequence)
            stats.resendsRequestedByNack += 1
            queued = true
        }
        if queued { kick(li) }
    }

    @inlinable
    mutating func acceptData(_ payload: Payload, sequence: UInt16, peer: Int, priority p: Int) {
        let li = peer * priorities + p
        let length = payload.wireLength
        peers[peer].rxUnacked = true
        peers[peer].rxBytesSinceAck += length
        if peers[peer].rxBytesSinceAck >= config.ackThresholdBytes {
            queueControl(peer)
        } else if !peers[peer].ackTimerArmed {
            peers[peer].ackTimerArmed = true
            timers.insert(TimerEntry(time: now + config.ackDelay, index: peer, kind: .ack))
        }
        let d = SequenceNumber.distance(from: lanes[li].rcvNext, to: sequence)
        let segments = payload.segmentCount
        if _slowPath(segments != 1) {
            return acceptTrain(payload, segments: segments, distance: d, peer: peer, priority: p)
        }
        if d < 0 {
            // Already delivered: the sender missed our ack, so ack again at once.
            stats.duplicates += 1
            queueControl(peer)
            return
        }
        if d == 0 {
            deliver(payload, peer: peer, priority: p)
            lanes[li].rcvNext &+= 1
            if !lanes[li].reorder.isEmpty {
                lanes[li].reorder.removeFirst()
                deliverHeld(lane: li, peer: peer, priority: p)
            }
            return
        }
        if lanes[li].nackAt == 0 { armNack(li, at: now + config.nackDelay) }
        if d >= config.reorderWindowPackets || reorderBytes + length > config.reorderMemoryBytes {
            stats.reorderOverflows += 1
            return
        }
        while lanes[li].reorder.count <= d { lanes[li].reorder.append(nil) }
        if lanes[li].reorder[d] != nil {
            stats.duplicates += 1
            queueControl(peer)
            return
        }
        lanes[li].reorder[d] = payload
        lanes[li].reorderCount += 1
        reorderBytes += length
    }

    /// A train is delivered whole when it starts at the next expected sequence number; one that lies
    /// entirely behind it is a duplicate; anything else is refused (`misplacedTrains`) for its sender to
    /// resend: the reorder buffer holds single packets, and drivers hand over trains only in order.
    @inlinable
    mutating func acceptTrain(_ payload: Payload, segments: Int, distance d: Int, peer: Int, priority p: Int) {
        let li = peer * priorities + p
        guard segments > 1, segments <= Self.maxSegments else {
            stats.badHeaders += 1
            return
        }
        if d + segments <= 0 {
            stats.duplicates += 1
            queueControl(peer)
            return
        }
        guard d == 0 else {
            stats.misplacedTrains += 1
            return
        }
        deliver(payload, peer: peer, priority: p)
        lanes[li].rcvNext &+= UInt16(segments)
        // Packets held for sequence numbers inside the train are duplicates now.
        for _ in 0 ..< min(segments, lanes[li].reorder.count) {
            if let held = lanes[li].reorder.removeFirst() {
                lanes[li].reorderCount -= 1
                reorderBytes -= held.wireLength
                stats.duplicates += 1
            }
        }
        deliverHeld(lane: li, peer: peer, priority: p)
    }

    /// Delivers the held packets that are now next in line (the reorder buffer's front, up to a gap).
    @inlinable
    mutating func deliverHeld(lane li: Int, peer: Int, priority p: Int) {
        while let next = lanes[li].reorder.first, let held = next {
            lanes[li].reorder.removeFirst()
            lanes[li].reorderCount -= 1
            reorderBytes -= held.wireLength
            deliver(held, peer: peer, priority: p)
            lanes[li].rcvNext &+= 1
        }
    }

    @inlinable
    mutating func deliver(_ payload: Payload, peer: Int, priority: Int) {
        stats.delivered += payload.segmentCount
        outbox.append(.deliver(peer: peer, priority: priority, payload: payload))
    }

    @inlinable
    mutating func fire(_ t: TimerEntry) {
        let i = t.index
        switch t.kind {
        case .laneWake:
            if lanes[i].wakeAt == t.time {
                lanes[i].wakeAt = 0
                kick(i)
            }
        case .resend:
            fireResend(i)
        case .nack:
            if lanes[i].nackAt == t.time { fireNack(i) }
        case .ack:
            peers[i].ackTimerArmed = false
            if peers[i].rxUnacked { queueControl(i) }
        case .heartbeat:
            if t.time == heartbeatSweepAt { sweepHeartbeats() }
        case .grantRefresh:
            fireGrantRefresh(i)
        case .grantExpiry:
            let expiry = peers[i].grantAt + lifetime(i)
            guard peers[i].grantFresh, expiry <= now else {
                if peers[i].grantFresh {
                    timers.insert(TimerEntry(time: expiry, index: i, kind: .grantExpiry))
                } else {
                    peers[i].grantTimerArmed = false
                }
                return
            }
            peers[i].grantTimerArmed = false
            peers[i].grantFresh = false
            stats.staleGrants += 1
            for p in 0 ..< priorities {
                grantTotal[p] -= feedback[i * priorities + p].grant
                kick(i * priorities + p)
            }
            sourceScaleStale = true
        }
    }

    @inlinable
    mutating func fireResend(_ li: Int) {
        guard let oldest = lanes[li].unacked.first else {
            lanes[li].resendArmed = false
            return
        }
        let rto = peers[split(li).peer].rto
        let headAcked = Int(lanes[li].headAcked)
        if !oldest.allQueued(from: headAcked) {
            let due = oldest.sentAt + backedOff(rto, oldest.resends)
            if due > now {
                timers.insert(TimerEntry(time: due, index: li, kind: .resend))
                return
            }
        }
        var queued = false
        var next = UInt64.max
        for k in 0 ..< lanes[li].unacked.count {
            let from = k == 0 ? headAcked : 0
            if lanes[li].unacked[k].allQueued(from: from) { continue }
            let due = lanes[li].unacked[k].sentAt + backedOff(rto, lanes[li].unacked[k].resends)
            if due > now {
                next = min(next, due)
                continue
            }
            // Every segment not yet acked nor queued goes again (a packet: its one segment).
            let sequence = lanes[li].unacked[k].sequence
            for segment in from ..< Int(lanes[li].unacked[k].segments)
            where lanes[li].unacked[k].resendQueued & (UInt64(1) << UInt64(segment)) == 0 {
                lanes[li].unacked[k].resendQueued |= UInt64(1) << UInt64(segment)
                lanes[li].resend.append(sequence &+ UInt16(segment))
                stats.resendsByTimeout += 1
            }
            queued = true
        }
        if queued { kick(li) }
        // The earliest packet still waiting; when every packet is queued for resending, look again an
        // RTO after they go.
        timers.insert(TimerEntry(time: next == .max ? now + rto : next, index: li, kind: .resend))
    }

    @inlinable
    mutating func fireNack(_ li: Int) {
        guard lanes[li].reorderCount > 0 else {
            lanes[li].nackAt = 0
            return
        }
        let (peer, priority) = split(li)
        let p = UInt8(priority)
        let base = lanes[li].rcvNext
        var k = 0
        let n = lanes[li].reorder.count
        while k < n, peers[peer].pendingNacks.count < config.maxNacksPerHeader {
            guard lanes[li].reorder[k] == nil else { k += 1; continue }
            var end = k
            while end < n, lanes[li].reorder[end] == nil, end - k < Int(HNANack.maxCount) { end += 1 }
            peers[peer].pendingNacks.append(HNANack(priority: p, first: base &+ UInt16(k), count: UInt16(end - k)))
            k = end
        }
        queueControl(peer)
        // Not sooner than a round trip (when we know one): an answer cannot come faster. No backoff: the
        // sender ignores requests for packets it sent too recently anyway, and a lost resend must not
        // wait long for the next request.
        armNack(li, at: now + max(config.nackDelay, peers[peer].srtt))
    }

    /// Arms the lane's NACK timer for `time`; an earlier entry still in the queue is ignored when due.
    @inlinable @inline(__always)
    mutating func armNack(_ li: Int, at time: UInt64) {
        lanes[li].nackAt = time
        timers.insert(TimerEntry(time: time, index: li, kind: .nack))
    }

    /// The destination side of a low-rate pair: a source with queued bytes towards us gets a header at
    /// least every `grantRefreshInterval` (a signal, not a budgeted heartbeat: it is bounded by the
    /// number of active sources), so its grant never goes stale while we are alive.
    @inlinable
    mutating func fireGrantRefresh(_ peer: Int) {
        var demand = false
        for p in 0 ..< priorities where feedback[peer * priorities + p].reportedQueue > 0 { demand = true }
        guard demand else {
            peers[peer].grantRefreshArmed = false
            return
        }
        let due = peers[peer].lastSentAt + grantRefreshInterval
        if due <= now {
            signal(peer)
            stats.grantRefreshes += 1
            timers.insert(TimerEntry(time: now + grantRefreshInterval, index: peer, kind: .grantRefresh))
        } else {
            timers.insert(TimerEntry(time: due, index: peer, kind: .grantRefresh))
        }
    }

    /// RFC 6298's estimator, in nanoseconds: the first sample sets SRTT = R and RTTVAR = R/2; later
    /// ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| and SRTT = 7/8 SRTT + 1/8 R. RTO = SRTT + max(4 RTTVAR,
    /// `resendTimeout`), at most `maxResendTimeout`: the floor is on the variation term (as Linux
    /// does), since on a steady path RTTVAR decays towards zero and an ack delayed by a few
    /// microseconds more than usual (the ack timer, a busy driver) must not look like a loss.
    @inlinable
    mutating func sampleRoundTrip(_ r: UInt64, peer: Int) {
        let sample = max(1, r)
        if peers[peer].srtt == 0 {
            peers[peer].srtt = sample
            peers[peer].rttvar = sample / 2
        } else {
            let srtt = peers[peer].srtt
            let deviation = srtt > sample ? srtt - sample : sample - srtt
            peers[peer].rttvar = peers[peer].rttvar - peers[peer].rttvar / 4 + deviation / 4
            peers[peer].srtt = srtt - srtt / 8 + sample / 8
        }
        let rto = peers[peer].srtt + max(4 * peers[peer].rttvar, config.resendTimeout)
        peers[peer].rto = min(config.maxResendTimeout, rto)
        let base = max(grantLifetime, 4 * profile(peer).heardInterval)
        peers[peer].grantLife = max(base, 2 * peers[peer].rto)
        stats.roundTripSamples += 1
    }

    /// `base` doubled `times` times, capped at the largest RTO.
    @inlinable @inline(__always)
    func backedOff(_ base: UInt64, _ times: UInt8) -> UInt64 {
        let cap = config.maxResendTimeout
        let shift = UInt64(min(times, 30))
        return base >= cap >> shift ? max(base, cap) : base << shift
    }

    /// How long a grant from `peer` stays fresh: `grantLifetime`, or two RTOs towards the peer when
    /// its round trip is that long (a refresh cannot arrive sooner than it takes to travel).
    @inlinable @inline(__always)
    func lifetime(_ peer: Int) -> UInt64 {
        // A peer heartbeats this HNA less often when this HNA receives slowly: its grants live four of
        // the peer's periods.
        peers[peer].grantLife
    }

    /// Sends from the lanes by priority, round robin within a priority, while the NIC has tokens.
    @inlinable
    mutating func schedule() {
        nicTokens = min(Double(config.nicBurstBytes),
                        nicTokens + txBandwidth * Double(now - nicRefilledAt) * 1e-9)
        nicRefilledAt = now
        while nicTokens > 0 {
            var p = 0
            while p < priorities, eligible[p].isEmpty { p += 1 }
            if p == priorities { break }
            let li = Int(eligible[p].removeFirst())
            lanes[li].listed = false
            serve(li)
        }
    }

    @inlinable
    mutating func serve(_ li: Int) {
        guard laneHasWork(li) else { return }
        let (peer, p) = split(li)
        refreshSourceScale()
        let rate = Self.laneRate(grantFresh: peers[peer].grantFresh, grant: feedback[li].grant,
                                 sourceScale: sourceScale[p], safeRate: profile(peer).safeRate,
                                 flowControl: flowControlEnabled, txBandwidth: txBandwidth,
                                 limit: rateLimits.isEmpty ? .infinity : rateLimits[peer])
        let burst = Double(config.rateBurstBytes)
        lanes[li].tokens = min(burst, lanes[li].tokens + rate * Double(now - lanes[li].refilledAt) * 1e-9)
        lanes[li].refilledAt = now
        if lanes[li].tokens <= 0 {
            // Wait for tokens; with no rate at all, a grant or its expiry kicks the lane.
            if rate > 0 {
                let t = now + Self.nanoseconds(-lanes[li].tokens, rate)
                lanes[li].wakeAt = t
                timers.insert(TimerEntry(time: t, index: li, kind: .laneWake))
            }
            return
        }
        var cost = 0
        if let sequence = lanes[li].resend.popFirst() {
            if let (index, segment) = lanes[li].locate(sequence),
               lanes[li].unacked[index].resendQueued & (UInt64(1) << UInt64(segment)) != 0 {
                // A run of queued segments of one train that follow in the resend queue goes as one.
                var count = 1
                let segments = Int(lanes[li].unacked[index].segments)
                while segment + count < segments, let next = lanes[li].resend.first,
                      next == sequence &+ UInt16(count),
                      lanes[li].unacked[index].resendQueued & (UInt64(1) << UInt64(segment + count)) != 0 {
                    lanes[li].resend.removeFirst()
                    count += 1
                }
                let bits = count == 64 ? UInt64.max : (UInt64(1) << UInt64(count)) - 1
                lanes[li].unacked[index].resendQueued &= ~(bits << UInt64(segment))
                lanes[li].unacked[index].sentAt = now
                if lanes[li].unacked[index].resends < .max { lanes[li].unacked[index].resends += 1 }
                let whole = lanes[li].unacked[index].payload
                let payload = count == segments ? whole : whole.segments(segment ..< segment + count)
                cost = emitData(payload, sequence: sequence, peer: peer, priority: p, retransmission: true)
                stats.retransmissions += count
            }
        } else if let head = lanes[li].voq.first {
            let segments = head.segmentCount
            if lanes[li].packetsInFlight + segments > config.maxInFlightPackets {
                lanes[li].blocked = true
                stats.windowStalls += 1
                return
            }
            let length = head.wireLength
            if resendBytes + length > config.resendMemoryBytes {
                lanes[li].blocked = true
                memoryBlocked.append(Int32(li))
                stats.resendMemoryStalls += 1
                return
            }
            lanes[li].voq.removeFirst()
            feedback[li].voqBytes -= length
            voqTotalBytes -= length
            let sequence = lanes[li].nextSequence
            lanes[li].nextSequence &+= UInt16(segments)
            lanes[li].unacked.append(Unacked(payload: head, sequence: sequence, segments: segments, sentAt: now))
            resendBytes += length
            feedback[li].unackedBytes += length
            if !lanes[li].resendArmed {
                lanes[li].resendArmed = true
                timers.insert(TimerEntry(time: now + peers[peer].rto, index: li, kind: .resend))
            }
            cost = emitData(head, sequence: sequence, peer: peer, priority: p, retransmission: false)
        }
        lanes[li].tokens -= Double(cost)
        nicTokens -= Double(cost)
        if laneHasWork(li) {
            lanes[li].listed = true
            eligible[p].append(Int32(li))
        }
    }

    /// Emits a data packet, or a train's segments (each goes with a copy of the header, numbered from
    /// `sequence` on), and returns the cost in bytes (payload and HNA headers).
    @inlinable
    mutating func emitData(_ payload: Payload, sequence: UInt16, peer: Int, priority: Int, retransmission: Bool) -> Int {
        let header = makeHeader(to: peer, next: payload.nextProtocol, priority: priority, sequence: sequence,
                                retransmission: retransmission)
        let segments = payload.segmentCount
        let cost = payload.wireLength + segments * header.encodedLength
        // Moved, not copied, into the action: a copy retains (and later releases) the NACK array.
        outbox.append(.send(peer: peer, header: consume header, payload: payload))
        stats.dataSent += segments
        stats.dataBytesSent += cost
        return cost
    }

    /// The header for anything sent to `peer` now: our queue lengths towards it, the rates we grant it,
    /// our clock, and any acks and NACKs we owe it (FIG. 5).
    @inlinable
    mutating func makeHeader(
        to peer: Int, next: HNANextProtocol, priority: Int, sequence: UInt16?, retransmission: Bool,
        forceAcks: Bool = false
    ) -> FlowHeader {
        let units = config.units
        let count = priorities
        let base = peer * count
        let rx = rxBandwidth
        let owesAcks = peers[peer].rxUnacked || forceAcks
        var q = SIMD8<UInt16>()
        var r = SIMD8<UInt16>()
        var a = SIMD8<UInt16>()
        var demand: UInt8 = 0
        var released = false
        var squeezedNow = false
        // One pass over the peer's feedback through a buffer pointer: indexing the array per field
        // would check its uniqueness on every write.
        withScalars(&grantOutstanding, &receiveBudget, &queueTotal) { outstanding, budget, columnTotal in
            for p in 0 ..< count {
                let li = base + p
                if owesAcks { a.setLane(p, to: lanes[li].rcvNext) }
                // A pair with nothing queued either way and no grant outstanding (an idle pair's
                // heartbeat): q and r are zero and nothing below would change.
                if feedback[li].pendingBytes == 0 && feedback[li].reportedQueue == 0 && feedback[li].sentGrant == 0 {
                    continue
                }
                var outstandingSum = outstanding[0]
                for k in 1 ..< count { outstandingSum += outstanding[k] }
                let qp = units.encodeQueue(bytes: UInt64(feedback[li].pendingBytes))
                q.setLane(p, to: qp)
                if qp > 0 { demand |= 1 << UInt8(p) }
                // Eq. 3, capped by what the other sources still hold from earlier grants: they computed
                // against older queue lengths, and until they hear from us they may use them.
                let old = feedback[li].sentGrant
                let room = max(0, min(budget[p] - (outstanding[p] - old), rx - (outstandingSum - old)))
                let grant = RateAllocation.grant(queue: Double(feedback[li].reportedQueue),
                                                 columnTotal: Double(columnTotal[p]), budget: budget[p])
                var code = units.encodeRate(bytesPerSecond: grant)
                if units.decodeRate(code) > room {
                    code = UInt16(min(Double(UInt16.max),
                                      (room / Double(units.rateUnitBytesPerSecond)).rounded(.down)))
                    squeezedNow = true
                }
                r.setLane(p, to: code)
                let new = units.decodeRate(code)
                if new < old { released = true }
                outstanding[p] += new - old
                feedback[li].sentGrant = new
            }
        }
        if squeezedNow && !peers[peer].squeezed {
            peers[peer].squeezed = true
            squeezed.append(Int32(peer))
        }
        if released {
            while let s = squeezed.popFirst() {
                peers[Int(s)].squeezed = false
                if Int(s) != peer { signal(Int(s)) }
            }
        }
        let acks: SIMD8<UInt16>? = owesAcks ? a : nil
        var nackCount = 0
        let now = now
        if owesAcks {
            peers[peer].rxUnacked = false
            peers[peer].rxBytesSinceAck = 0
        }
        if !peers[peer].pendingNacks.isEmpty {
            // The list waits beside the outbox: every header made here is queued right after.
            var nacks: [HNANack] = []
            swap(&nacks, &peers[peer].pendingNacks)
            nackCount = nacks.count
            outboxNacks.append(nacks)
        }
        peers[peer].lastSentAt = now
        peers[peer].demandReported = demand
        peers[peer].signalPending = false
        stats.nackEntriesSent += nackCount
        let header = FlowHeader(nextProtocol: next, priority: UInt8(priority),
                                timestamp: UInt32(truncatingIfNeeded: now / 1000), priorityCount: count,
                                queueLengths: q, grantedRates: r, sequence: sequence, acks: acks, nackCount: nackCount,
                                isRetransmission: retransmission)
        if header.carriesNews { touchSpan(peer) }
        return header
    }

    /// Standalone acks and NACKs for peers that are owed them and got no piggybacked ones.
    @inlinable
    mutating func flushControl() {
        while let raw = controlQueue.popFirst() {
            let peer = Int(raw)
            peers[peer].controlQueued = false
            guard peers[peer].rxUnacked || !peers[peer].pendingNacks.isEmpty || peers[peer].signalPending else {
                continue
            }
            let header = makeHeader(to: peer, next: .none, priority: 0, sequence: nil, retransmission: false,
                                    forceAcks: true)
            nicTokens -= Double(header.encodedLength + config.heartbeatFrameOverhead)
            outbox.append(.send(peer: peer, header: consume header, payload: nil))
            stats.controlSent += 1
        }
    }

    /// Whether a lane towards `peer` has packets and a positive rate, so that its next data packet will
    /// carry the feedback: such a pair is paced, not idle. Its heartbeats would reach the destination
    /// uncharged by the grant (the lab measured 4,000 a second per source at 9 Mbit/s, ten percent on top
    /// of what the destination granted), so it gets none; a lane that waits for a grant, or is stalled
    /// on its window or memory, still does.
    @inlinable @inline(__always)
    func pacingData(to peer: Int) -> Bool {
        for li in peer * priorities ..< (peer + 1) * priorities
        where laneHasWork(li) && !lanes[li].blocked && effectiveRate(li) > 0 { return true }
        return false
    }

    /// Heartbeats for idle pairs, within the heartbeat budget.
    @inlinable
    mutating func flushHeartbeats() {
        heartbeatTokens = min(heartbeatDepth,
                              heartbeatTokens + heartbeatRate * Double(now - heartbeatRefilledAt) * 1e-9)
        heartbeatRefilledAt = now
        if !flowControlEnabled {
            // Nothing to report without flow control; acks go out on their own timer.
            while let raw = heartbeatQueue.popFirst() { peers[Int(raw)].heartbeatQueued = false }
            return
        }
        while let raw = heartbeatQueue.first {
            let peer = Int(raw)
            if peers[peer].lastSentAt >= peers[peer].heartbeatQueuedAt {
                // Something else carried the feedback since the pair went idle.
                heartbeatQueue.removeFirst()
                peers[peer].heartbeatQueued = false
                continue
            }
            let frame = Double(heartbeatFrameLength(acks: peers[peer].rxUnacked))
            if heartbeatTokens < frame { break }
            heartbeatQueue.removeFirst()
            peers[peer].heartbeatQueued = false
            let header = makeHeader(to: peer, next: .none, priority: 0, sequence: nil, retransmission: false)
            let bytes = Double(header.encodedLength + config.heartbeatFrameOverhead)
            outbox.append(.send(peer: peer, header: consume header, payload: nil))
            heartbeatTokens -= bytes
            nicTokens -= bytes
            stats.heartbeatsSent += 1
            stats.heartbeatBytesSent += Int(bytes)
        }
    }
}

// MARK: - State

/// Runs `body` with scalar pointers into per-priority vectors (the controller's own, passed inout, so
/// they are not copied in and out either). Indexing a SIMD value by a run-time priority makes the
/// compiler spill the whole vector to the stack and reload it on every access; the hot loops index
/// these vectors several times per priority.
@inlinable @inline(__always)
func withScalars<A: SIMDScalar, B: SIMDScalar, R>(
    _ a: inout SIMD8<A>, _ b: inout SIMD8<B>, _ body: (UnsafeMutablePointer<A>, UnsafeMutablePointer<B>) -> R
) -> R {
    withUnsafeMutablePointer(to: &a) { pa in
        withUnsafeMutablePointer(to: &b) { pb in
            pa.withMemoryRebound(to: A.self, capacity: 8) { a in
                pb.withMemoryRebound(to: B.self, capacity: 8) { b in body(a, b) }
            }
        }
    }
}

@inlinable @inline(__always)
func withScalars<A: SIMDScalar, B: SIMDScalar, C: SIMDScalar, R>(
    _ a: inout SIMD8<A>, _ b: inout SIMD8<B>, _ c: inout SIMD8<C>,
    _ body: (UnsafeMutablePointer<A>, UnsafeMutablePointer<B>, UnsafeMutablePointer<C>) -> R
) -> R {
    withScalars(&a, &b) { a, b in
        withUnsafeMutablePointer(to: &c) { pc in
            pc.withMemoryRebound(to: C.self, capacity: 8) { c in body(a, b, c) }
        }
    }
}

/// One packet (or train) sent and not yet acknowledged. A train's segments carry sequence numbers
/// `sequence ..< sequence + segments`.
@usableFromInline
struct Unacked<Payload> {
    @usableFromInline var payload: Payload
    /// Bit k: segment k is queued for resending.
    @usableFromInline var resendQueued: UInt64 = 0
    @usableFromInline var sentAt: UInt64
    @usableFromInline var sequence: UInt16
    @usableFromInline var segments: UInt8
    /// Times this packet was resent: its round trip is ambiguous once it is positive (Karn), and its
    /// timeout doubles with each.
    @usableFromInline var resends: UInt8 = 0

    @inlinable init(payload: Payload, sequence: UInt16, segments: Int, sentAt: UInt64) {
        self.payload = payload
        self.sequence = sequence
        self.segments = UInt8(segments)
        self.sentAt = sentAt
    }

    /// Every segment from `first` on is queued for resending.
    @inlinable @inline(__always)
    func allQueued(from first: Int) -> Bool {
        let all = segments == 64 ? UInt64.max : (UInt64(1) << UInt64(segments)) - 1
        let wanted = all & ~((UInt64(1) << UInt64(first)) - 1)
        return resendQueued & wanted == wanted
    }
}

/// What the headers to and from a peer carry for one (peer, priority): the queue length we report and
/// the one it reported, the grants both ways. Kept apart from `Lane` so that the per-priority loops over
/// a peer (every header sent and received) read two or three cache lines instead of one or two per lane.
@usableFromInline
struct PairFeedback {
    /// Bytes in the VOQ towards the peer.
    @usableFromInline var voqBytes = 0
    /// Bytes sent to the peer and not yet acknowledged.
    @usableFromInline var unackedBytes = 0
    /// q_ji the peer last reported towards us (bytes).
    @usableFromInline var reportedQueue: UInt64 = 0
    /// r_ij the peer granted us (bytes/s), meaningful while the peer's grant is fresh.
    @usableFromInline var grant: Double = 0
    /// The grant we last sent the peer for this priority (bytes/s, as the peer decodes it).
    @usableFromInline var sentGrant: Double = 0

    @inlinable init() {}

    /// What we report as q: bytes queued plus bytes sent and not yet acknowledged, i.e. everything the
    /// destination has yet to receive. Counting in-flight bytes keeps a pair's grant positive while its
    /// packets (or their resends) are under way, so a light flow is not re-negotiated packet by packet.
    @inlinable var pendingBytes: Int { voqBytes + unackedBytes }
}

/// Everything about one (peer, priority): the VOQ and sender state towards the peer, and the receiver
/// state for what the peer sends us at this priority (rate feedback: `PairFeedback`).
@usableFromInline
struct Lane<Payload> {
    // Field order is layout: in `ControllerMemory` a lane follows its `PairFeedback` (40 bytes), and
    // what a header touches (rcvNext, the flags) and the token bucket end that cache line; the queues
    // and timers of sending (the VOQ and resend queue) are on the next, the unacknowledged packets and
    // the reorder buffer on the third. The queues are inline rings (`RawRing`), so the lane's lines
    // are all an access loads before the element itself.
    @usableFromInline var rcvNext: UInt16 = 0
    /// Segments of the oldest unacked train already acked (0 for packets).
    @usableFromInline var headAcked: UInt8 = 0
    @usableFromInline var listed = false
    @usableFromInline var blocked = false
    @usableFromInline var resendArmed = false
    @usableFromInline var nextSequence: UInt16 = 0
    @usableFromInline var tokens: Double
    @usableFromInline var refilledAt: UInt64
    @usableFromInline var voq = RawRing<Payload>()
    @usableFromInline var resend = RawRing<UInt16>()
    @usableFromInline var wakeAt: UInt64 = 0
    /// When the lane's NACK timer is due (0: not armed).
    @usableFromInline var nackAt: UInt64 = 0
    @usableFromInline var unacked = RawRing<Unacked<Payload>>()
    /// Index k holds sequence rcvNext + k (index 0 is always the missing packet).
    @usableFromInline var reorder = RawRing<Payload?>()
    @usableFromInline var reorderCount = 0

    @inlinable init(tokens: Double, at time: UInt64) {
        self.tokens = tokens
        refilledAt = time
    }

    @inlinable var hasWork: Bool { !resend.isEmpty || !voq.isEmpty }

    /// The lane with its own queue buffers (`ControllerMemory.copy`).
    @usableFromInline
    func copy() -> Lane {
        var c = self
        c.voq = voq.copy()
        c.resend = resend.copy()
        c.unacked = unacked.copy()
        c.reorder = reorder.copy()
        return c
    }

    /// Frees the queues' buffers (the lane's memory is being released).
    @usableFromInline
    mutating func release() {
        voq.release()
        resend.release()
        unacked.release()
        reorder.release()
    }

    /// The oldest sequence number sent and not acked (the next one to send when none is).
    @inlinable var una: UInt16 {
        guard let first = unacked.first else { return nextSequence }
        return first.sequence &+ UInt16(headAcked)
    }

    /// Datagrams sent and not yet acked.
    @inlinable var packetsInFlight: Int { Int(nextSequence &- una) }

    /// The unacked entry holding `sequence` and the segment of it (nil when that number is acked or
    /// was never sent). Packets only: the entry's index is the distance; with trains, a binary search.
    @inlinable
    func locate(_ sequence: UInt16) -> (index: Int, segment: Int)? {
        guard let first = unacked.first?.sequence else { return nil }
        let d = Int(sequence &- first)
        let span = Int(nextSequence &- first)
        guard d < span, d >= Int(headAcked) else { return nil }
        if span == unacked.count { return (d, 0) }
        var lo = 0
        var hi = unacked.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if Int(unacked[mid].sequence &- first) <= d { lo = mid } else { hi = mid - 1 }
        }
        return (lo, d - Int(unacked[lo].sequence &- first))
    }

}

/// What a peer shares with others like it: the controller keeps one copy per distinct profile, so a
/// peer's own record stays within one cache line.
@usableFromInline
struct PeerProfile: Hashable {
    @usableFromInline let units: FlowUnits
    @usableFromInline let safeRate: Double
    /// This pair's heartbeat period (see `FlowController.heartbeatInterval`).
    @usableFromInline let heartbeatInterval: UInt64
    /// The peer's heartbeat period towards this HNA, as the peer computes it: grants from it live four.
    @usableFromInline let heardInterval: UInt64

    @inlinable init(units: FlowUnits, safeRate: Double, heartbeatInterval: UInt64, heardInterval: UInt64) {
        self.units = units
        self.safeRate = safeRate
        self.heartbeatInterval = heartbeatInterval
        self.heardInterval = heardInterval
    }
}

@usableFromInline
struct Peer {
    // Field order is layout: everything a header sent to or received from the peer touches fills the
    // first 64 bytes (one cache line of `ControllerMemory`); the round-trip state, which only acks and
    // resends touch, follows on the next line.
    @usableFromInline var lastSentAt: UInt64
    @usableFromInline var grantAt: UInt64 = 0
    @usableFromInline var heartbeatQueuedAt: UInt64 = 0
    /// How long a grant from the peer stays fresh (`FlowController.lifetime`), kept up to date by
    /// `sampleRoundTrip`.
    @usableFromInline var grantLife: UInt64
    @usableFromInline var rxBytesSinceAck = 0
    @usableFromInline var pendingNacks: [HNANack] = []
    @usableFromInline var heardTimestamp: UInt32 = 0
    /// Index of the peer's `PeerProfile`.
    @usableFromInline let profile: UInt32
    /// Priorities whose last report to the peer had a non-zero queue length.
    @usableFromInline var demandReported: UInt8 = 0
    @usableFromInline var flags: UInt16 = 0
    /// RFC 6298 state towards the peer (ns): smoothed RTT (0 until the first sample), its variation,
    /// and the retransmission timeout derived from them.
    @usableFromInline var srtt: UInt64 = 0
    @usableFromInline var rttvar: UInt64 = 0
    @usableFromInline var rto: UInt64
    /// Until when the pair is in the span (`FlowControlConfig.heartbeatSpanPeriods`): written on
    /// packets that carry news, read by the sweep, which visits only peers in the span.
    @usableFromInline var spanUntil: UInt64 = 0

    @inlinable init(profile: UInt32, grantLife: UInt64, rto: UInt64, at time: UInt64) {
        self.profile = profile
        self.grantLife = grantLife
        self.rto = rto
        lastSentAt = time
    }

    @inlinable @inline(__always)
    func flag(_ bit: UInt16) -> Bool { flags & bit != 0 }

    @inlinable @inline(__always)
    mutating func setFlag(_ bit: UInt16, _ on: Bool) { flags = on ? flags | bit : flags & ~bit }

    @inlinable var heard: Bool {
        @inline(__always) get { flag(1 << 0) }
        @inline(__always) set { setFlag(1 << 0, newValue) }
    }
    @inlinable var grantFresh: Bool {
        @inline(__always) get { flag(1 << 1) }
        @inline(__always) set { setFlag(1 << 1, newValue) }
    }
    @inlinable var grantTimerArmed: Bool {
        @inline(__always) get { flag(1 << 2) }
        @inline(__always) set { setFlag(1 << 2, newValue) }
    }
    @inlinable var rxUnacked: Bool {
        @inline(__always) get { flag(1 << 3) }
        @inline(__always) set { setFlag(1 << 3, newValue) }
    }
    @inlinable var ackTimerArmed: Bool {
        @inline(__always) get { flag(1 << 4) }
        @inline(__always) set { setFlag(1 << 4, newValue) }
    }
    @inlinable var controlQueued: Bool {
        @inline(__always) get { flag(1 << 5) }
        @inline(__always) set { setFlag(1 << 5, newValue) }
    }
    @inlinable var heartbeatQueued: Bool {
        @inline(__always) get { flag(1 << 6) }
        @inline(__always) set { setFlag(1 << 6, newValue) }
    }
    @inlinable var signalPending: Bool {
        @inline(__always) get { flag(1 << 7) }
        @inline(__always) set { setFlag(1 << 7, newValue) }
    }
    @inlinable var squeezed: Bool {
        @inline(__always) get { flag(1 << 8) }
        @inline(__always) set { setFlag(1 << 8, newValue) }
    }
    @inlinable var grantRefreshArmed: Bool {
        @inline(__always) get { flag(1 << 9) }
        @inline(__always) set { setFlag(1 << 9, newValue) }
    }
    /// Listed in the span ring (`ControlBlock.span`).
    @inlinable var inSpan: Bool {
        @inline(__always) get { flag(1 << 10) }
        @inline(__always) set { setFlag(1 << 10, newValue) }
    }
}

@usableFromInline
enum TimerKind: UInt64, CaseIterable {
    case laneWake, resend, nack, ack, heartbeat, grantExpiry, grantRefresh
}

/// A deadline in the controller's single timer heap. Entries are never removed early: each is checked
/// against the state it belongs to when it comes due, and ignored if superseded.
@usableFromInline
struct TimerEntry: Comparable {
    @usableFromInline var time: UInt64
    @usableFromInline var code: UInt64

    @inlinable init(time: UInt64, index: Int, kind: TimerKind) {
        self.time = time
        code = UInt64(index) << 3 | kind.rawValue
    }

    @inlinable init(time: UInt64, code: UInt64) {
        self.time = time
        self.code = code
    }

    /// Sorts after every real entry; marks "no entry" in `TimerQueue`.
    @inlinable static var none: TimerEntry { TimerEntry(time: .max, code: .max) }

    @inlinable var index: Int { @inline(__always) get { Int(code >> 3) } }
    @inlinable var kind: TimerKind { @inline(__always) get { TimerKind(rawValue: code & 7)! } }

    @inlinable static func < (a: TimerEntry, b: TimerEntry) -> Bool {
        a.time != b.time ? a.time < b.time : a.code < b.code
    }
}
