import HNACore
import HNAWire

/// A host that sends what it holds at line rate, round robin over destinations, and delivers what it
/// receives: no controller, no flow control and no reliability (a lost packet stays lost). It exists to
/// measure the event loop, the fabric and the application apart from HNACore's cost (`hna bench sim`);
/// it is not one of the compared schemes.
public struct PacingHost: SimHost {
    let id: Int
    let picosecondsPerByte: Double
    var queues: [[(flow: Int32, bytes: Int32)]]
    var queued: [Int]
    var heads: [Int]
    var active: [Int] = []
    var cursor = 0
    var nextSend: SimTime = 0

    public init(id: Int, fabric: Fabric) {
        self.id = id
        picosecondsPerByte = fabric.links[fabric.hostUplink(id)].picosecondsPerByte
        queues = Array(repeating: [], count: fabric.hosts)
        queued = Array(repeating: 0, count: fabric.hosts)
        heads = Array(repeating: 0, count: fabric.hosts)
    }

    public mutating func enqueue(dst: Int, flow: Int32, payloadBytes: Int, now: SimTime) -> Bool {
        if queued[dst] == 0 { active.append(dst) }
        queues[dst].append((flow, Int32(payloadBytes)))
        queued[dst] += payloadBytes
        return true
    }

    public func queuedBytes(to dst: Int) -> Int { queued[dst] }

    public mutating func receive(_ packet: Packet, now: SimTime, io: inout HostIO) {
        if packet.kind == .data { io.deliveries.append(Delivery(flow: packet.flow, bytes: packet.payloadBytes)) }
    }

    public mutating func poll(now: SimTime, io: inout HostIO) {
        guard !active.isEmpty, now >= nextSend else { return }
        if cursor >= active.count { cursor = 0 }
        let dst = active[cursor]
        let (flow, bytes) = queues[dst][heads[dst]]
        heads[dst] += 1
        queued[dst] -= Int(bytes)
        if heads[dst] == queues[dst].count {
            queues[dst].removeAll(keepingCapacity: true)
            heads[dst] = 0
            active.swapAt(cursor, active.count - 1)
            active.removeLast()
        } else {
            cursor += 1
        }
        let wire = Int(bytes) + Framing.outerHeaderBytes + Framing.innerEncapsulationBytes
        io.sends.append(Packet(src: Int32(id), dst: Int32(dst), wireBytes: Int32(wire), flow: flow,
                               payloadBytes: bytes, kind: .data, hash: UInt32(truncatingIfNeeded: Int(flow) &* 0x9E37_79B1)))
        nextSend = now + ceilToUInt64(Double(wire) * picosecondsPerByte / 1000)
    }

    public var nextDeadline: SimTime? { mutating get { active.isEmpty ? nil : nextSend } }
    public var stats: HostStats { HostStats() }
}
