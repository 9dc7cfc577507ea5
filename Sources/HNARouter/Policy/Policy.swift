import HNAWire

/// One security-group-style rule: the first rule that matches a new flow decides it.
public struct PolicyRule: Hashable, Sendable {
    public enum Action: UInt8, Sendable { case allow, deny }

    public var action: Action
    /// Nil matches every protocol.
    public var proto: IPProtocol?
    /// A v4 prefix matches only IPv4 flows and a v6 prefix only IPv6 flows.
    public var source: IPPrefix
    public var destination: IPPrefix
    public var sourcePorts: ClosedRange<UInt16>
    public var destinationPorts: ClosedRange<UInt16>

    public init(_ action: Action, proto: IPProtocol? = nil, source: IPPrefix = .anyV4, destination: IPPrefix = .anyV4,
                sourcePorts: ClosedRange<UInt16> = 0 ... .max, destinationPorts: ClosedRange<UInt16> = 0 ... .max) {
        self.action = action
        self.proto = proto
        self.source = source
        self.destination = destination
        self.sourcePorts = sourcePorts
        self.destinationPorts = destinationPorts
    }

    /// Ports are compared only for protocols that have them (TCP, UDP); for others a rule's port ranges
    /// must be the full range to match, so a "tcp/22" rule never matches ICMP by accident.
    public func matches(_ key: FlowKey) -> Bool {
        if let proto, proto != key.proto { return false }
        guard Self.contains(source, key.source), Self.contains(destination, key.destination) else { return false }
        let hasPorts = key.proto == .tcp || key.proto == .udp
        if hasPorts {
            return sourcePorts.contains(key.sourcePort) && destinationPorts.contains(key.destinationPort)
        }
        return sourcePorts == 0 ... .max && destinationPorts == 0 ... .max
    }

    static func contains(_ prefix: IPPrefix, _ a: IPAddress) -> Bool {
        switch (prefix, a) {
        case let (.v4(p), .v4(x)): return p.contains(x)
        case let (.v6(p), .v6(x)): return p.contains(x)
        default: return false
        }
    }
}

/// A VRF's ordered rule list. A flow no rule matches gets `defaultAction`. The decision covers both
/// directions of the connection: the reverse entry installed with it carries the same action, so return
/// traffic of an allowed flow is allowed (stateful, like security groups).
public struct Policy: Hashable, Sendable {
    public var rules: [PolicyRule]
    public var defaultAction: PolicyRule.Action

    public init(rules: [PolicyRule] = [], defaultAction: PolicyRule.Action = .allow) {
        self.rules = rules
        self.defaultAction = defaultAction
    }

    /// Allows everything: a VRF without configured policy forwards (isolation comes from VRFs).
    public static let allowAll = Policy()

    public func evaluate(_ key: FlowKey) -> PolicyRule.Action {
        for r in rules where r.matches(key) { return r.action }
        return defaultAction
    }

    /// The index of the rule that decides `key` (nil: the default action), for traces.
    public func decidingRule(_ key: FlowKey) -> Int? {
        rules.firstIndex { $0.matches(key) }
    }
}
