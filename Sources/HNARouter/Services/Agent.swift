import HNAWire

/// The slow path ([0055]-[0057]: the virtual router agent): policy evaluation and flow installation for
/// the flows the datapath missed, the held packets of those flows, and aging. Sans-I/O like the rest:
/// the driver calls `runSlowPath` and `age` between batches.
extension Router {
    /// Holds a packet of a pending flow: at most `maxHeldPerFlow` per flow and `maxHeldTotal` overall,
    /// beyond which it is dropped as `holdQueueFull` (never silently).
    mutating func hold(_ b: PacketBuffer, _ s: inout PacketState, output: inout RouterOutput) {
        let e = flows[s.flow]
        guard Int(e.heldCount) < configuration.maxHeldPerFlow, let slot = holdFree.popLast() else {
            return drop(b, &s, .holdQueueFull, output: &output)
        }
        s.next = .forward
        holdBuffers[Int(slot)] = b
        holdStates[Int(slot)] = s
        holdNext[Int(slot)] = -1
        if e.holdTail >= 0 { holdNext[Int(e.holdTail)] = slot }
        flows.setHold(s.flow, head: e.holdHead >= 0 ? e.holdHead : slot, tail: slot, count: e.heldCount + 1)
        s.next = .done
    }

    /// Takes a flow's held packets out, in arrival order.
    mutating func takeHeld(_ id: FlowID, into out: inout [(PacketBuffer, PacketState)]) {
        var slot = flows[id].holdHead
        while slot >= 0 {
            out.append((holdBuffers[Int(slot)]!, holdStates[Int(slot)]))
            holdBuffers[Int(slot)] = nil
            holdFree.append(slot)
            slot = holdNext[Int(slot)]
        }
        flows.setHold(id, head: -1, tail: -1, count: 0)
    }

    /// Sets up to `budget` queued flows: evaluates the VRF's policy on the flow's key, installs the
    /// reverse entry with the same action (paired with the forward one), activates both and sends the
    /// held packets on through the rest of the pipeline (or drops them, if denied). Returns the number
    /// of flows set up.
    @discardableResult
    public mutating func runSlowPath(now: UInt64, budget: Int = .max, output: inout RouterOutput) -> Int {
        var done = 0
        var released: [(PacketBuffer, PacketState)] = []
        while done < budget, setupHead < setupQueue.count {
            let id = setupQueue[setupHead]
            setupHead += 1
            let e = flows[id]
            guard e.state == .pending else { continue }
            let vi = Int(e.key.vrf)
            guard vi < vrfs.count, vrfs[vi] != nil else { continue }
            let decision = vrfs[vi]!.policy.evaluate(e.key)
            let action: FlowAction = decision == .allow ? .forward : .drop
            flows.activate(id, action: action)
            let rkey = e.key.reversed
            let rhash = rkey.hash
            if let r = flows.find(rkey, hash: rhash) {
                // Both directions started at once: one decision for the connection.
                if flows[r].state == .pending { flows.activate(r, action: action) } else if flows[r].reverse == .max {
                    flows.activate(r, action: action)
                }
                flows.pair(id, r)
            } else if let r = flows.insert(rkey, hash: rhash, state: .active, action: action, now: now) {
                flows.pair(id, r)
            }
            flowsSetUp &+= 1
            done += 1
            released.removeAll(keepingCapacity: true)
            takeHeld(id, into: &released)
            if let r = Optional(flows[id].reverse), r != .max, flows[r].heldCount > 0 { takeHeld(r, into: &released) }
            for (b, state) in released {
                var s = state
                trace(b, .slowPath, "flow \(s.flow) set up: \(action == .forward ? "allow" : "deny")", output: &output)
                if action == .drop { drop(b, &s, .policyDeny, output: &output) } else { forwardStage(b, &s, output: &output) }
            }
        }
        if setupHead == setupQueue.count {
            setupQueue.removeAll(keepingCapacity: true)
            setupHead = 0
        } else if setupHead > 4096, setupHead * 2 > setupQueue.count {
            setupQueue.removeFirst(setupHead)
            setupHead = 0
        }
        return done
    }

    /// Removes flows idle for `configuration.flowIdleTimeout` (both directions of a connection
    /// together), scanning at most `budget` entries. Held packets of a removed pending flow are dropped
    /// as `flowRemoved`. Returns the number of entries removed.
    @discardableResult
    public mutating func age(now: UInt64, budget: Int = 65536, output: inout RouterOutput) -> Int {
        expiredScratch.removeAll(keepingCapacity: true)
        flows.collectIdle(now: now, idleTimeout: configuration.flowIdleTimeout, budget: budget, into: &expiredScratch)
        var removed = 0
        for id in expiredScratch {
            let r = flows[id].reverse
            for f in r == .max ? [id] : [id, r] where flows[f].state != .free {
                removeFlow(f, output: &output)
                removed += 1
            }
        }
        flowsAged &+= UInt64(removed)
        return removed
    }

    /// Removes one entry, dropping its held packets.
    public mutating func removeFlow(_ id: FlowID, output: inout RouterOutput) {
        guard Int(id) < flows.entries.count, flows[id].state != .free else { return }
        if flows[id].heldCount > 0 {
            var held: [(PacketBuffer, PacketState)] = []
            takeHeld(id, into: &held)
            for (b, state) in held {
                var s = state
                drop(b, &s, .flowRemoved, output: &output)
            }
        }
        flows.remove(id)
    }
}
