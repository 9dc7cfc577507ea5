import HNAWire

/// An HNA header as plain data: every field of `HNAHeader` but the NACK list (whose length it keeps),
/// with the per-priority vectors as SIMD values (entries past `priorityCount` are zero) and no
/// references, so that building, queueing and handing one over moves a few registers. (An
/// `HNAHeader` is 121 bytes with three wrapped vectors, optionals and an array; a `FlowAction` holding
/// one is 186 bytes, moved by `memcpy` calls and retained and released.)
///
/// The controller builds its headers in this form; `takeActions(into:)` turns them into `HNAHeader`
/// values. A driver that carries headers as values rather than bytes (the simulator) can take and
/// hand back this form instead (`takeActions(send:deliver:)`, `receive(_:nacks:payload:from:now:)`).
public struct FlowHeader: Hashable, Sendable, BitwiseCopyable {
    public var queueLengths: SIMD8<UInt16>
    public var grantedRates: SIMD8<UInt16>
    /// The acks when `hasAcks` (zero otherwise).
    public var ackValues: SIMD8<UInt16>
    public var timestamp: UInt32
    /// The sequence number when `hasSequence` (zero otherwise).
    public var sequenceValue: UInt16
    public var priorityCount: UInt8
    public var priority: UInt8
    @usableFromInline var nextProtocolValue: UInt8
    @usableFromInline var flags: UInt8
    /// Entries in the header's NACK list (which travels beside it).
    public var nackCount: UInt8

    @usableFromInline static var hasSequenceFlag: UInt8 { 1 }
    @usableFromInline static var hasAcksFlag: UInt8 { 2 }
    @usableFromInline static var retransmissionFlag: UInt8 { 4 }

    @inlinable
    public init(nextProtocol: HNANextProtocol, priority: UInt8, timestamp: UInt32, priorityCount: Int,
                queueLengths: SIMD8<UInt16>, grantedRates: SIMD8<UInt16>, sequence: UInt16?, acks: SIMD8<UInt16>?,
                nackCount: Int, isRetransmission: Bool) {
        self.queueLengths = queueLengths
        self.grantedRates = grantedRates
        ackValues = acks ?? SIMD8()
        self.timestamp = timestamp
        sequenceValue = sequence ?? 0
        self.priorityCount = UInt8(truncatingIfNeeded: priorityCount)
        self.priority = priority
        nextProtocolValue = nextProtocol.rawValue
        self.nackCount = UInt8(truncatingIfNeeded: nackCount)
        flags = (sequence != nil ? Self.hasSequenceFlag : 0) | (acks != nil ? Self.hasAcksFlag : 0)
            | (isRetransmission ? Self.retransmissionFlag : 0)
    }

    /// The fields of `header` (its NACK list is not kept, only its length).
    @inlinable
    public init(_ header: HNAHeader) {
        let n = header.priorityCount
        var q = SIMD8<UInt16>(), r = SIMD8<UInt16>()
        for i in 0 ..< n {
            q.setLane(i, to: header.queueLengths[i])
            r.setLane(i, to: header.grantedRates[i])
        }
        var a: SIMD8<UInt16>?
        if let acks = header.acks {
            var v = SIMD8<UInt16>()
            for i in 0 ..< n { v.setLane(i, to: acks[i]) }
            a = v
        }
        self.init(nextProtocol: header.nextProtocol, priority: header.priority, timestamp: header.timestamp,
                  priorityCount: n, queueLengths: q, grantedRates: r, sequence: header.sequence, acks: a,
                  nackCount: header.nacks.count, isRetransmission: header.isRetransmission)
    }

    @inlinable public var nextProtocol: HNANextProtocol { HNANextProtocol(rawValue: nextProtocolValue) }
    @inlinable public var hasSequence: Bool { flags & Self.hasSequenceFlag != 0 }
    @inlinable public var hasAcks: Bool { flags & Self.hasAcksFlag != 0 }
    @inlinable public var isRetransmission: Bool { flags & Self.retransmissionFlag != 0 }
    /// The sequence number of a data packet (nil for others), as `HNAHeader.sequence`.
    @inlinable public var sequence: UInt16? { hasSequence ? sequenceValue : nil }
    /// The acks, if the header carries them, as `HNAHeader.acks`.
    @inlinable public var acks: SIMD8<UInt16>? { hasAcks ? ackValues : nil }

    /// Whether the header carries news for the span (`FlowControlConfig.heartbeatSpanPeriods`): data,
    /// or a non-zero queue length or rate at some priority.
    @inlinable public var carriesNews: Bool {
        hasSequence || queueLengths != SIMD8() || grantedRates != SIMD8()
    }

    /// The header's length on the wire (`HNAHeader.encodedLength`).
    @inlinable
    public var encodedLength: Int {
        HNAHeader.length(priorities: Int(priorityCount), data: hasSequence, acks: hasAcks, nacks: Int(nackCount))
    }

    /// The header as an `HNAHeader` value, with its NACK list (`nacks.count == nackCount`).
    @inlinable
    public func header(nacks: [HNANack]) -> HNAHeader {
        let n = Int(priorityCount)
        var q = PriorityVector(count: n), r = PriorityVector(count: n)
        var a: PriorityVector?
        for i in 0 ..< n {
            q[i] = queueLengths[i]
            r[i] = grantedRates[i]
        }
        if hasAcks {
            var v = PriorityVector(count: n)
            for i in 0 ..< n { v[i] = ackValues[i] }
            a = v
        }
        return HNAHeader(nextProtocol: nextProtocol, priority: priority, timestamp: timestamp, queueLengths: q,
                         grantedRates: r, sequence: sequence, acks: a, nacks: nacks,
                         isRetransmission: isRetransmission)
    }
}

/// One action waiting in the controller's outbox: a packet to send (`header`, and the payload for
/// data) or a payload to deliver (`header.priority` is its priority). `FlowAction` values are made
/// only when a driver asks for them (`FlowController.takeActions(into:)`).
@usableFromInline
struct PendingAction<Payload> {
    @usableFromInline var header: FlowHeader
    @usableFromInline var payload: Payload?
    @usableFromInline var peer: Int
    @usableFromInline var isDelivery: Bool

    @inlinable
    static func send(peer: Int, header: consuming FlowHeader, payload: Payload?) -> PendingAction {
        PendingAction(header: header, payload: payload, peer: peer, isDelivery: false)
    }

    @inlinable
    static func deliver(peer: Int, priority: Int, payload: Payload) -> PendingAction {
        PendingAction(header: FlowHeader(nextProtocol: .none, priority: UInt8(truncatingIfNeeded: priority),
                                             timestamp: 0, priorityCount: 0, queueLengths: SIMD8(),
                                             grantedRates: SIMD8(), sequence: nil, acks: nil, nackCount: 0,
                                             isRetransmission: false),
                      payload: payload, peer: peer, isDelivery: true)
    }

    @inlinable
    init(header: consuming FlowHeader, payload: Payload?, peer: Int, isDelivery: Bool) {
        self.header = header
        self.payload = payload
        self.peer = peer
        self.isDelivery = isDelivery
    }

    /// The action as a `FlowAction`; `nacks` are its header's.
    @inlinable
    func action(nacks: [HNANack]) -> FlowAction<Payload> {
        if isDelivery { return .deliver(peer: peer, priority: Int(header.priority), payload: payload!) }
        return .send(peer: peer, header: header.header(nacks: nacks), payload: payload)
    }
}
