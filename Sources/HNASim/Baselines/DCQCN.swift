import HNACore

/// The DCQCN-like baseline (Zhu et al., SIGCOMM 2015), per destination: switches mark ECN on queues
/// over a threshold, the receiver sends a congestion notification to the source at most once per
/// `notifyInterval`, and the source cuts its rate towards that destination by alpha/2 and recovers in
/// fast-recovery then additive steps. The result is a rate limit handed to HNACore's controller, whose
/// queues, scheduler and reliability do the rest, exactly as for HNA.
public struct DCQCN: Sendable {
    /// Parameters as published for DCQCN, with the rate steps scaled to the line rate.
    public struct Parameters: Sendable {
        public var g = 1.0 / 256
        public var timer: SimTime = 55_000
        public var notifyInterval: SimTime = 50_000
        public var fastRecoverySteps = 5
        /// Additive increase as a fraction of line rate (40 Mb/s at 40 Gb/s in the paper).
        public var additiveIncrease = 0.001
        public var minimumRate = 0.001
        public init() {}
    }

    struct Flow: Sendable {
        var current: Double
        var target: Double
        var alpha = 1.0
        var steps = 0
        var cutSince = false
    }

    public let parameters: Parameters
    let lineRate: Double
    /// Per destination, the rate state while it is below line rate; `limited` lists those destinations
    /// in the order they were first cut (a fixed order keeps runs reproducible).
    var flows: [Flow?]
    var limited: [Int] = []
    /// Per source, when this host (as receiver) last notified it.
    var lastNotified: [SimTime]
    public private(set) var nextTick: SimTime = .max
    public var active: Bool { !limited.isEmpty }

    public init(lineRate: Double, hosts: Int, parameters: Parameters = Parameters()) {
        self.lineRate = lineRate
        self.parameters = parameters
        lastNotified = [SimTime](repeating: 0, count: hosts)
        flows = [Flow?](repeating: nil, count: hosts)
    }

    /// Receiver side: whether a CE-marked packet from `src` earns it a notification now.
    public mutating func shouldNotify(_ src: Int, now: SimTime) -> Bool {
        if lastNotified[src] != 0 && now - lastNotified[src] < parameters.notifyInterval { return false }
        lastNotified[src] = now == 0 ? 1 : now
        return true
    }

    /// Source side: a notification from destination `dst`: cut, and remember the old rate as target.
    public mutating func notified(by dst: Int, now: SimTime, controller: inout FlowController<SimPayload>) {
        if flows[dst] == nil { limited.append(dst) }
        var f = flows[dst] ?? Flow(current: lineRate, target: lineRate)
        f.target = f.current
        f.current = max(f.current * (1 - f.alpha / 2), lineRate * parameters.minimumRate)
        f.alpha = (1 - parameters.g) * f.alpha + parameters.g
        f.steps = 0
        f.cutSince = true
        flows[dst] = f
        controller.setRateLimit(f.current, toPeer: dst)
        if nextTick == .max { nextTick = now + parameters.timer }
    }

    /// The periodic timer: alpha decays without notifications, rates recover.
    public mutating func tick(now: SimTime, controller: inout FlowController<SimPayload>) {
        var kept = 0
        for k in 0 ..< limited.count {
            let dst = limited[k]
            guard var f = flows[dst] else { continue }
            if !f.cutSince { f.alpha *= 1 - parameters.g }
            f.cutSince = false
            if f.steps >= parameters.fastRecoverySteps {
                f.target = min(lineRate, f.target + lineRate * parameters.additiveIncrease)
            }
            f.steps += 1
            f.current = min(lineRate, (f.current + f.target) / 2)
            if f.current >= lineRate * 0.999 {
                flows[dst] = nil
                controller.setRateLimit(nil, toPeer: dst)
            } else {
                flows[dst] = f
                controller.setRateLimit(f.current, toPeer: dst)
                limited[kept] = dst
                kept += 1
            }
        }
        limited.removeLast(limited.count - kept)
        nextTick = limited.isEmpty ? .max : now + parameters.timer
    }
}
