import Foundation
import HNACore
import HNANode
import HNARouter
import HNAWire

/// What `show`, `stats` and `/metrics` report: read from the node between batches.
extension Daemon {
    func show(_ what: String) -> Any? {
        let c = node.configuration
        let router = node.router
        switch what {
        case "interfaces":
            return c.ports.map { p -> [String: Any] in
                let k = Int(p.id) < router.interfaceCounters.count ? router.interfaceCounters[Int(p.id)] : TrafficCounters()
                return ["name": p.name, "id": Int(p.id), "network": p.network, "mac": p.mac.description,
                        "ip": p.addresses.map(\.description), "open": ports[p.name] != nil,
                        "rxPackets": k.rxPackets, "rxBytes": k.rxBytes, "txPackets": k.txPackets, "txBytes": k.txBytes,
                        "drops": k.drops]
            }
        case "vrfs":
            return c.networks.map { n -> [String: Any] in
                let k = router.vrf(n.vrf)?.counters ?? TrafficCounters()
                return ["name": n.name, "vrf": Int(n.vrf), "vni": Int(n.vni), "label": Int(n.label),
                        "encapsulation": n.encapsulation.description, "subnets": n.subnets.map(\.description),
                        "gateway": n.gateways.map(\.description), "policyRules": n.policy.rules.count,
                        "rxPackets": k.rxPackets, "txPackets": k.txPackets, "drops": k.drops]
            }
        case "routes":
            var rows: [[String: Any]] = []
            for p in c.ports {
                for a in p.addresses { rows.append(["network": p.network, "prefix": Self.host(a), "nextHop": "interface \(p.name)"]) }
            }
            for e in c.endpoints {
                for a in e.addresses { rows.append(["network": e.network, "prefix": Self.host(a), "nextHop": "tunnel \(e.peer)"]) }
            }
            return rows
        case "nexthops":
            var rows: [[String: Any]] = []
            let table = router.nextHops
            for id in 1 ..< table.definitions.count {
                guard let nh = table.definitions[id] else { continue }
                rows.append(["id": id, "nextHop": Self.describe(nh), "packets": table.counters[id].packets,
                             "bytes": table.counters[id].bytes])
            }
            return rows
        case "flows":
            return router.flows.liveIDs.prefix(1000).map { id -> [String: Any] in
                let f = router.flows[id]
                return ["id": Int(id), "key": f.key.description, "state": "\(f.state)", "action": "\(f.action)",
                        "packets": f.packets, "bytes": f.bytes]
            }
        case "peers":
            return node.peers.map { p -> [String: Any] in
                var row: [String: Any] = ["name": p.configuration.name, "underlay": p.configuration.underlay.description,
                                          "hna": p.configuration.hna, "txPackets": p.counters.txPackets,
                                          "txBytes": p.counters.txBytes, "rxPackets": p.counters.rxPackets,
                                          "rxBytes": p.counters.rxBytes]
                if let id = p.controllerID, let ctl = node.controller {
                    row["freshGrant"] = ctl.hasFreshGrant(from: id)
                    // Whether the pair is in the span (gets heartbeats while idle; docs/flow-control.md).
                    row["inSpan"] = ctl.isInSpan(id)
                    // RFC 6298 state towards the peer, in microseconds (what `ss -i` shows for TCP).
                    row["srttMicroseconds"] = ctl.smoothedRoundTrip(to: id).map { Double($0) / 1000 } ?? 0
                    row["rtoMicroseconds"] = Double(ctl.retransmissionTimeout(to: id)) / 1000
                    row["priorities"] = (0 ..< ctl.config.priorities).map { q -> [String: Any] in
                        ["priority": q, "queueBytes": ctl.queuedBytes(to: id, priority: q),
                         "inFlight": ctl.inFlight(to: id, priority: q),
                         "grantedBytesPerSecond": ctl.grant(toSource: id, priority: q),
                         "rateBytesPerSecond": ctl.sendingRate(to: id, priority: q)]
                    }
                }
                return row
            }
        case "queues":
            guard let ctl = node.controller else { return ["freeQueueBytes": 0, "queues": [Any]()] as [String: Any] }
            var rows: [[String: Any]] = []
            for p in node.peers {
                guard let id = p.controllerID else { continue }
                for q in 0 ..< ctl.config.priorities {
                    rows.append(["peer": p.configuration.name, "priority": q, "queueBytes": ctl.queuedBytes(to: id, priority: q),
                                 "inFlight": ctl.inFlight(to: id, priority: q),
                                 "crowded": ctl.isCrowded(peer: id, priority: q)])
                }
            }
            return ["freeQueueBytes": ctl.freeQueueBytes, "crowdedQueues": ctl.crowdedQueues,
                    "pausedPorts": pausedPorts.compactMap { portByID[$0] }.sorted(),
                    "resendMemoryBytes": ctl.resendMemoryUsed,
                    "reorderMemoryBytes": ctl.reorderMemoryUsed, "queues": rows] as [String: Any]
        case "drops":
            return drops()
        default:
            return nil
        }
    }

    /// Every drop counter by name: node, router, controller and driver.
    func drops() -> [String: Any] {
        var node: [String: Any] = [:]
        for r in NodeDropReason.allCases { node[r.name] = self.node.drops(r) }
        var router: [String: Any] = [:]
        for r in DropReason.allCases { router[r.name] = self.node.router.drops[r] }
        var controller: [String: Any] = [:]
        if let k = self.node.controller?.counters {
            controller = ["duplicates": k.duplicates, "reorderOverflows": k.reorderOverflows, "badHeaders": k.badHeaders,
                          "staleFeedback": k.staleFeedback, "ignoredAcks": k.ignoredAcks]
        }
        var driver: [String: Any] = [:]
        for (k, v) in driverCounters where !Daemon.backPressureEvents.contains(k) { driver[k] = v }
        driver["controlBadRequests"] = control?.badRequests ?? 0
        return ["node": node, "router": router, "controller": controller, "driver": driver]
    }

    func stats() -> [String: Any] {
        var out: [String: Any] = ["name": configuration.node.name, "uptimeSeconds": Date().timeIntervalSince(started),
                                  "drops": drops(), "peers": show("peers") ?? [],
                                  "reloads": ["ok": reloads.ok, "refused": reloads.refused],
                                  "offload": offloadCounters,
                                  "backPressure": driverCounters.filter { Daemon.backPressureEvents.contains($0.key) },
                                  "controllerResets": node.controllerResets]
        if let k = node.controller?.counters {
            out["controller"] = ["enqueued": k.enqueued, "dataSent": k.dataSent, "dataBytesSent": k.dataBytesSent,
                                 "retransmissions": k.retransmissions, "heartbeatsSent": k.heartbeatsSent,
                                 "controlSent": k.controlSent, "delivered": k.delivered,
                                 "windowStalls": k.windowStalls, "staleGrants": k.staleGrants,
                                 "resendsByTimeout": k.resendsByTimeout, "resendsRequestedByNack": k.resendsRequestedByNack,
                                 "roundTripSamples": k.roundTripSamples, "misplacedTrains": k.misplacedTrains,
                                 "resendMemoryStalls": k.resendMemoryStalls]
        }
        return out
    }

    /// Prometheus text exposition. Names: docs/daemon.md.
    func metricsText() -> String {
        var out = ""
        let name = configuration.node.name
        func metric(_ m: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(m) \(help)\n# TYPE \(m) \(type)\n"
            for (labels, v) in samples {
                let l = labels.isEmpty ? "hna=\"\(name)\"" : "hna=\"\(name)\",\(labels)"
                out += "\(m){\(l)} \(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v))\n"
            }
        }
        metric("hna_node_drops_total", "counter", "Packets the node dropped, by reason.",
               NodeDropReason.allCases.map { ("reason=\"\($0.name)\"", Double(node.drops($0))) })
        metric("hna_router_drops_total", "counter", "Packets the virtual router dropped, by reason.",
               DropReason.allCases.map { ("reason=\"\($0.name)\"", Double(node.router.drops[$0])) })
        metric("hna_peer_tx_packets_total", "counter", "Datagrams sent to a peer.",
               node.peers.map { ("peer=\"\($0.configuration.name)\"", Double($0.counters.txPackets)) })
        metric("hna_peer_rx_packets_total", "counter", "Datagrams received from a peer.",
               node.peers.map { ("peer=\"\($0.configuration.name)\"", Double($0.counters.rxPackets)) })
        metric("hna_peer_tx_bytes_total", "counter", "UDP payload bytes sent to a peer.",
               node.peers.map { ("peer=\"\($0.configuration.name)\"", Double($0.counters.txBytes)) })
        metric("hna_peer_rx_bytes_total", "counter", "UDP payload bytes received from a peer.",
               node.peers.map { ("peer=\"\($0.configuration.name)\"", Double($0.counters.rxBytes)) })
        if let ctl = node.controller {
            var q: [(String, Double)] = [], g: [(String, Double)] = [], r: [(String, Double)] = []
            for p in node.peers {
                guard let id = p.controllerID else { continue }
                for k in 0 ..< ctl.config.priorities {
                    let l = "peer=\"\(p.configuration.name)\",priority=\"\(k)\""
                    q.append((l, Double(ctl.queuedBytes(to: id, priority: k))))
                    g.append((l, ctl.grant(toSource: id, priority: k)))
                    r.append((l, ctl.sendingRate(to: id, priority: k)))
                }
            }
            metric("hna_queue_bytes", "gauge", "Bytes queued towards a peer at a priority (q_ij).", q)
            metric("hna_granted_rate_bytes_per_second", "gauge", "Rate this HNA grants a source peer (Eq. 3).", g)
            metric("hna_sending_rate_bytes_per_second", "gauge", "Rate this HNA allows itself towards a peer (Eq. 4).", r)
            let k = ctl.counters
            metric("hna_retransmissions_total", "counter", "Data packets resent.", [("", Double(k.retransmissions))])
            metric("hna_heartbeats_sent_total", "counter", "Heartbeats sent.", [("", Double(k.heartbeatsSent))])
            metric("hna_delivered_total", "counter", "Packets delivered in order by the controller.", [("", Double(k.delivered))])
        }
        metric("hna_driver_events_total", "counter", "Driver-level events (I/O errors, pauses).",
               driverCounters.sorted { $0.key < $1.key }.map { ("event=\"\($0.key)\"", Double($0.value)) })
        metric("hna_offload_frames_total", "counter", "Super-frames segmented (tso-frames) or coalesced (gro-frames).",
               offloadCounters.sorted { $0.key < $1.key }.map { ("kind=\"\($0.key)\"", Double($0.value)) })
        metric("hna_control_bad_requests_total", "counter", "Control requests refused.", [("", Double(control?.badRequests ?? 0))])
        return out
    }

    static func host(_ a: IPAddress) -> String {
        switch a {
        case .v4: return "\(a)/32"
        case .v6: return "\(a)/128"
        }
    }

    static func describe(_ nh: NextHop) -> String {
        switch nh {
        case .discard: return "discard"
        case .receive: return "receive"
        case let .interface(i): return "interface \(i)"
        case let .tunnel(t): return "tunnel \(t.peer) \(t.encapsulation) \(t.label)"
        case let .ecmp(m): return "ecmp \(m)"
        }
    }
}
