/// Builds the pieces of a test network — namespaces, veth pairs, bridges, addresses, MTUs, tc tbf — and
/// remembers what it made so `teardown()` removes all of it, in reverse, even after a failure half way.
/// Nothing is removed implicitly: a lab that is meant to stay up outlives this object.
///
/// These are the steps `hna lab` composes (hosts and VMs as namespaces, a bridge as the fabric). Every
/// namespace it creates has IPv6 disabled by default, so new links start without router solicitations
/// or DAD traffic to disturb packet counts; `nil` for a namespace means the caller's own.
public final class LinkSetup {
    /// Namespaces created here, in creation order.
    public private(set) var namespaces: [Namespace] = []
    /// Links created in the caller's namespace (the ones inside created namespaces go with them).
    public private(set) var rootLinks: [String] = []

    public init() {}

    /// Takes charge of a namespace made earlier (by another process: `hna lab up`, then `hna lab down`),
    /// so `teardown()` removes it.
    public func adopt(_ ns: Namespace) {
        if !namespaces.contains(ns) { namespaces.append(ns) }
    }

    /// Takes charge of a link made earlier in the caller's namespace.
    public func adoptLink(_ link: String) {
        if !rootLinks.contains(link) { rootLinks.append(link) }
    }

    /// `ip [-n ns] arguments...`
    @discardableResult
    public static func ip(_ ns: Namespace?, _ arguments: [String]) throws(LinuxError) -> String {
        try Command.run("ip", (ns.map { ["-n", $0.name] } ?? []) + arguments)
    }

    /// Runs a tool inside `ns` (or here for nil).
    @discardableResult
    public static func exec(_ ns: Namespace?, _ tool: String, _ arguments: [String]) throws(LinuxError) -> String {
        if let ns { return try ns.run(tool, arguments) }
        return try Command.run(tool, arguments)
    }

    static func checkName(_ name: String) throws(LinuxError) {
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(" ") else {
            throw .invalidArgument(subject: "link \(name)", reason: "interface names are 1 to 15 characters without '/' or spaces")
        }
    }

    /// Creates namespace `name` with loopback up and IPv6 off for every link made in it from now on.
    @discardableResult
    public func createNamespace(_ name: String) throws(LinuxError) -> Namespace {
        guard !name.isEmpty, !name.contains("/"), !name.contains(" ") else {
            throw .invalidArgument(subject: "namespace \(name)", reason: "names are non-empty, without '/' or spaces")
        }
        try Command.run("ip", ["netns", "add", name])
        let ns = Namespace(name)
        namespaces.append(ns)
        try LinkSetup.ip(ns, ["link", "set", "lo", "up"])
        try ns.run("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        return ns
    }

    /// Creates a veth pair with one end in each namespace (both up, IPv6 off).
    public func createVethPair(_ name: String, in ns: Namespace?, peer: String, peerIn peerNS: Namespace?,
                               mtu: Int? = nil) throws(LinuxError) {
        try LinkSetup.checkName(name)
        try LinkSetup.checkName(peer)
        var args = ["link", "add", name]
        if let ns { args += ["netns", ns.name] }
        args += ["type", "veth", "peer", "name", peer]
        if let peerNS { args += ["netns", peerNS.name] }
        try Command.run("ip", args)
        // Deleting either end deletes both; remember one that lives here, if any.
        if ns == nil { rootLinks.append(name) } else if peerNS == nil { rootLinks.append(peer) }
        for (link, where_) in [(name, ns), (peer, peerNS)] {
            try disableIPv6(link, in: where_)
            if let mtu { try setMTU(mtu, link: link, in: where_) }
            try setUp(link, in: where_)
        }
    }

    /// Creates a bridge (up, IPv6 off) — the lab's stand-in for the fabric.
    public func createBridge(_ name: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.checkName(name)
        try LinkSetup.ip(ns, ["link", "add", name, "type", "bridge"])
        if ns == nil { rootLinks.append(name) }
        if let ns {
            // A bridge standing in for a switch forwards frames; it does not run them through iptables
            // (br_netfilter's hooks cost a few hundred ns per frame). Best effort: the keys exist only
            // where br_netfilter does.
            try ns.run("sysctl", ["-qew", "net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-ip6tables=0",
                                  "net.bridge.bridge-nf-call-arptables=0"])
        }
        try disableIPv6(name, in: ns)
        try setUp(name, in: ns)
    }

    /// Makes `link` a port of `bridge` (both in `ns`).
    public func attach(_ link: String, toBridge bridge: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "set", link, "master", bridge])
    }

    /// Adds an address in prefix form ("10.0.0.1/24").
    public func addAddress(_ cidr: String, to link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["addr", "add", cidr, "dev", link])
    }

    public func setMTU(_ mtu: Int, link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "set", link, "mtu", String(mtu)])
    }

    public func setUp(_ link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "set", link, "up"])
    }

    /// Sets `link`'s MAC address ("02:00:00:00:00:01").
    public func setMAC(_ mac: String, link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "set", link, "address", mac])
    }

    /// Moves `link` (a TAP device the daemon holds, say) from `ns` into `target`.
    public func moveLink(_ link: String, from ns: Namespace?, to target: Namespace) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "set", link, "netns", target.name])
        if ns == nil { rootLinks.removeAll { $0 == link } }
    }

    public func disableIPv6(_ link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.exec(ns, "sysctl", ["-qw", "net.ipv6.conf.\(link).disable_ipv6=1"])
    }

    /// Adds a route ("default" or a prefix) via a gateway and/or out of a device.
    public func addRoute(_ prefix: String, via gateway: String? = nil, dev: String? = nil,
                         in ns: Namespace?) throws(LinuxError) {
        var args = ["route", "add", prefix]
        if let gateway { args += ["via", gateway] }
        if let dev { args += ["dev", dev] }
        try LinkSetup.ip(ns, args)
    }

    /// Shapes `link`'s egress with a token bucket (tc tbf): the slow receiver of the drop-free scenario.
    public func setTokenBucket(_ link: String, in ns: Namespace?, rateBitsPerSecond: UInt64, burstBytes: Int,
                               latencyMicroseconds: Int) throws(LinuxError) {
        try LinkSetup.exec(ns, "tc", ["qdisc", "replace", "dev", link, "root", "tbf",
                                      "rate", "\(rateBitsPerSecond)bit", "burst", String(burstBytes),
                                      "latency", "\(latencyMicroseconds)us"])
    }

    /// Removes `link`'s root qdisc.
    public func clearQdisc(_ link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.exec(ns, "tc", ["qdisc", "del", "dev", link, "root"])
    }

    /// True when `link` exists in `ns`.
    public static func linkExists(_ link: String, in ns: Namespace?) -> Bool {
        (try? ip(ns, ["link", "show", "dev", link])) != nil
    }

    /// Deletes a link now (and forgets it).
    public func deleteLink(_ link: String, in ns: Namespace?) throws(LinuxError) {
        try LinkSetup.ip(ns, ["link", "del", link])
        if ns == nil { rootLinks.removeAll { $0 == link } }
    }

    /// Removes everything created here, newest first, carrying on past failures; returns them (an empty
    /// list means all is gone). Safe to call twice.
    @discardableResult
    public func teardown() -> [LinuxError] {
        var errors: [LinuxError] = []
        for link in rootLinks.reversed() where LinkSetup.linkExists(link, in: nil) {
            do throws(LinuxError) { try LinkSetup.ip(nil, ["link", "del", link]) } catch { errors.append(error) }
        }
        rootLinks.removeAll()
        for ns in namespaces.reversed() where ns.exists {
            do throws(LinuxError) { try Command.run("ip", ["netns", "del", ns.name]) } catch { errors.append(error) }
        }
        namespaces.removeAll()
        return errors
    }
}
