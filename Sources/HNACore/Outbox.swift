import HNAWire

/// An HNA header as the controller builds it: the fields of `HNAHeader` with the per-priority vectors
/// as plain SIMD values and no references, so that building, queueing and handing over a header moves
/// a few registers (an `HNAHeader` is 121 bytes with three wrapped vectors, optionals and an array, and
/// a `FlowAction` holding one 186 bytes, moved by `memcpy` calls and retained and released). The rare
/// NACK lists wait beside the outbox, in the same order (`ControlBlock.outboxNacks`). `header` makes
/// the `HNAHeader` value.
@usableFromInline
struct OutgoingHeader {
    @usableFromInline var queueLengths: SIMD8<UInt16>
    @usableFromInline var grantedRates: SIMD8<UInt16>
    /// Meaningful with `hasAcks`.
    @usableFromInline var acks: SIMD8<UInt16>
    @usableFromInline var timestamp: UInt32
    /// Meaningful with `hasSequence`.
    @usableFromInline var sequence: UInt16
    @usableFromInline var priorityCount: UInt8
    @usableFromInline var priority: UInt8
    @usableFromInline var nextProtocol: HNANextProtocol
    @usableFromInline var flags: UInt8
    /// NACK entries the header carries (their list is in `ControlBlock.outboxNacks`).
    @usableFromInline var nackCount: UInt8

    @usableFromInline static var hasSequence: UInt8 { 1 }
    @usableFromInline static var hasAcks: UInt8 { 2 }
    @usableFromInline static var retransmission: UInt8 { 4 }

    @inlinable
    init(nextProtocol: HNANextProtocol, priority: UInt8, timestamp: UInt32, priorityCount: Int,
         queueLengths: SIMD8<UInt16>, grantedRates: SIMD8<UInt16>, sequence: UInt16?, acks: SIMD8<UInt16>?,
         nackCount: Int, isRetransmission: Bool) {
        self.queueLengths = queueLengths
        self.grantedRates = grantedRates
        self.acks = acks ?? SIMD8()
        self.nackCount = UInt8(truncatingIfNeeded: nackCount)
        self.timestamp = timestamp
        self.sequence = sequence ?? 0
        self.priorityCount = UInt8(truncatingIfNeeded: priorityCount)
        self.priority = priority
        self.nextProtocol = nextProtocol
        flags = (sequence != nil ? Self.hasSequence : 0) | (acks != nil ? Self.hasAcks : 0)
            | (isRetransmission ? Self.retransmission : 0)
    }

    /// The header's length on the wire (`HNAHeader.encodedLength`).
    @inlinable
    var encodedLength: Int {
        HNAHeader.length(priorities: Int(priorityCount), data: flags & Self.hasSequence != 0,
                         acks: flags & Self.hasAcks != 0, nacks: Int(nackCount))
    }

    /// The header as an `HNAHeader` value, with its NACKs.
    @inlinable
    func header(nacks: [HNANack]) -> HNAHeader {
        let n = Int(priorityCount)
        var q = PriorityVector(count: n), r = PriorityVector(count: n)
        var a: PriorityVector?
        for i in 0 ..< n {
            q[i] = queueLengths[i]
            r[i] = grantedRates[i]
        }
        if flags & Self.hasAcks != 0 {
            var v = PriorityVector(count: n)
            for i in 0 ..< n { v[i] = acks[i] }
            a = v
        }
        return HNAHeader(nextProtocol: nextProtocol, priority: priority, timestamp: timestamp, queueLengths: q,
                         grantedRates: r, sequence: flags & Self.hasSequence != 0 ? sequence : nil, acks: a,
                         nacks: nacks, isRetransmission: flags & Self.retransmission != 0)
    }
}

/// One action waiting in the controller's outbox: a packet to send (`header`, and the payload for
/// data) or a payload to deliver (`header.priority` is its priority). `FlowAction` values are made
/// only when a driver asks for them (`FlowController.takeActions(into:)`).
@usableFromInline
struct PendingAction<Payload> {
    @usableFromInline var header: OutgoingHeader
    @usableFromInline var payload: Payload?
    @usableFromInline var peer: Int
    @usableFromInline var isDelivery: Bool

    @inlinable
    static func send(peer: Int, header: consuming OutgoingHeader, payload: Payload?) -> PendingAction {
        PendingAction(header: header, payload: payload, peer: peer, isDelivery: false)
    }

    @inlinable
    static func deliver(peer: Int, priority: Int, payload: Payload) -> PendingAction {
        PendingAction(header: OutgoingHeader(nextProtocol: .none, priority: UInt8(truncatingIfNeeded: priority),
                                             timestamp: 0, priorityCount: 0, queueLengths: SIMD8(),
                                             grantedRates: SIMD8(), sequence: nil, acks: nil, nackCount: 0,
                                             isRetransmission: false),
                      payload: payload, peer: peer, isDelivery: true)
    }

    @inlinable
    init(header: consuming OutgoingHeader, payload: Payload?, peer: Int, isDelivery: Bool) {
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
