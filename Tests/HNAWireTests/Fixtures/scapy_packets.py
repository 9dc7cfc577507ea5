#!/usr/bin/env python3
"""Crafts packets with scapy, an independent implementation, for HNA's cross-check tests.

Usage: scapy_packets.py OUT.pcap
Writes the packets to OUT.pcap and prints, as JSON, what scapy says each packet holds, layer by layer,
using the key names of `hna decode --json`. The Swift test decodes OUT.pcap with HNA's dissector and
checks every key scapy reported.
"""
import json
import sys

from scapy.all import (ARP, GRE, ICMP, IP, TCP, UDP, VXLAN, Dot1AD, Dot1Q, Ether, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6ND_NA,
                       ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IPOption_RR, Raw, wrpcap)
from scapy.contrib.mpls import MPLS

MACS = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def layers_of(pkt):
    """Scapy's view of every layer, in the dissector's vocabulary."""
    out = []
    layer = pkt
    pending_tags = None
    eth = None
    while layer is not None and not isinstance(layer, type(None)):
        name = type(layer).__name__
        if isinstance(layer, Ether):
            eth = {"type": "ethernet", "src": layer.src, "dst": layer.dst, "etherType": layer.type}
            out.append(eth)
        elif isinstance(layer, (Dot1Q, Dot1AD)):
            # Tags belong to the Ethernet layer; its etherType is the one after the last tag.
            eth.setdefault("vlans", []).append({"vid": layer.vlan, "pcp": layer.prio})
            eth["etherType"] = layer.type
        elif isinstance(layer, ARP):
            out.append({"type": "arp", "operation": layer.op, "senderIP": layer.psrc, "targetIP": layer.pdst})
        elif isinstance(layer, IP):
            raw = bytes(layer)
            ihl = (raw[0] & 0xF) * 4
            total = 0
            for i in range(0, ihl, 2):
                total += (raw[i] << 8) | raw[i + 1]
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            out.append({"type": "ipv4", "src": layer.src, "dst": layer.dst, "ttl": layer.ttl,
                        "protocol": layer.proto, "totalLength": layer.len,
                        "checksumValid": total == 0xFFFF})
        elif isinstance(layer, IPv6):
            out.append({"type": "ipv6", "src": layer.src, "dst": layer.dst, "hopLimit": layer.hlim,
                        "nextHeader": layer.nh, "payloadLength": layer.plen})
        elif isinstance(layer, (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment)):
            pass  # skipped by the IPv6 layer, not a layer of its own
        elif isinstance(layer, UDP):
            out.append({"type": "udp", "srcPort": layer.sport, "dstPort": layer.dport, "length": layer.len})
        elif isinstance(layer, TCP):
            out.append({"type": "tcp", "srcPort": layer.sport, "dstPort": layer.dport, "flags": int(layer.flags)})
        elif isinstance(layer, ICMP):
            out.append({"type": "icmp", "icmpType": layer.type, "code": layer.code})
        elif name.startswith("ICMPv6"):
            out.append({"type": "icmpv6", "icmpType": layer.type, "code": layer.code})
            if layer.type > 4:
                break  # informational messages: the body and NDP options belong to the ICMPv6 layer
        elif isinstance(layer, GRE):
            g = {"type": "gre", "protocol": layer.proto, "checksumPresent": bool(layer.chksum_present)}
            if layer.key_present:
                g["key"] = layer.key
            if layer.seqnum_present:
                g["sequence"] = layer.seqence_number if hasattr(layer, "seqence_number") else layer.sequence_number
            out.append(g)
        elif isinstance(layer, MPLS):
            out.append({"type": "mpls", "label": layer.label, "tc": layer.cos, "bottomOfStack": bool(layer.s),
                        "ttl": layer.ttl})
        elif isinstance(layer, VXLAN):
            out.append({"type": "vxlan", "vni": layer.vni})
        elif isinstance(layer, Raw):
            out.append({"type": "payload", "length": len(layer.load)})
            break
        else:
            raise SystemExit(f"scapy_packets.py: no mapping for {name}")
        layer = layer.payload if layer.payload and type(layer.payload).__name__ != "NoPayload" else None
    return out


def packets():
    v4 = dict(src="10.1.0.1", dst="10.2.0.2")
    v6 = dict(src="2001:db8::1", dst="2001:db8:0:1::2")
    data = Raw(b"hello, overlay!")
    inner_v4 = IP(src="192.168.1.10", dst="192.168.1.20", ttl=63)
    yield Ether(**MACS) / IP(**v4) / UDP(sport=1234, dport=5678) / data
    yield Ether(**MACS) / Dot1Q(vlan=100, prio=5) / IP(**v4) / TCP(sport=443, dport=51000, flags="SA") / data
    yield Ether(**MACS) / Dot1AD(vlan=10) / Dot1Q(vlan=200) / IPv6(**v6) / UDP(sport=40053, dport=40054) / data
    yield Ether(src=MACS["src"], dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MACS["src"], psrc="10.0.0.1", pdst="10.0.0.254")
    yield Ether(**MACS) / ARP(op=2, hwsrc=MACS["src"], psrc="10.0.0.254", hwdst=MACS["dst"], pdst="10.0.0.1")
    yield Ether(**MACS) / IP(**v4) / ICMP(type=8, code=0, id=7, seq=1) / data
    yield Ether(**MACS) / IP(**v4) / ICMP(type=3, code=4, nexthopmtu=1400) / IP(**v4) / UDP(sport=40000, dport=40001)
    yield Ether(**MACS) / IPv6(**v6) / ICMPv6EchoRequest(id=1, seq=2) / data
    yield Ether(**MACS) / IPv6(src="fe80::1", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt="2001:db8::2") / ICMPv6NDOptSrcLLAddr(lladdr=MACS["src"])
    yield Ether(**MACS) / IPv6(**v6) / ICMPv6ND_NA(tgt="2001:db8::2", R=0, S=1, O=1)
    yield Ether(**MACS) / IPv6(**v6) / ICMPv6PacketTooBig(mtu=1280) / IPv6(**v6) / UDP(sport=40000, dport=40001)
    yield Ether(**MACS) / IPv6(**v6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(sport=40009, dport=40010) / data
    yield Ether(**MACS) / IPv6(**v6) / IPv6ExtHdrFragment(id=99, m=1, offset=0) / UDP(sport=40009, dport=40010) / data
    yield Ether(**MACS) / IP(options=[IPOption_RR()], **v4) / UDP(sport=40011, dport=40012) / data
    yield Ether(**MACS) / IP(chksum=0x1234, **v4) / UDP(sport=40011, dport=40012) / data
    yield Ether(**MACS) / IP(ttl=1, **v4) / UDP(sport=50000, dport=4789) / VXLAN(vni=5000) / Ether(**MACS) / inner_v4 / ICMP(type=0) / data
    yield Ether(**MACS) / IPv6(**v6) / UDP(sport=50001, dport=4789) / VXLAN(vni=0xFFFFFF) / Ether(**MACS) / IPv6(**v6) / TCP(sport=40002, dport=40003, flags="S")
    yield Ether(**MACS) / IP(**v4) / UDP(sport=50002, dport=6635) / MPLS(label=214, cos=3, s=1, ttl=64) / inner_v4 / UDP(sport=40007, dport=40008) / data
    yield Ether(**MACS) / IP(**v4) / UDP(sport=50003, dport=6635) / MPLS(label=16, s=0) / MPLS(label=1048575, s=1, ttl=1) / IPv6(**v6) / UDP(sport=40000, dport=40001) / data
    yield Ether(**MACS) / IP(**v4) / GRE(proto=0x8847) / MPLS(label=100, s=0) / MPLS(label=200, s=1) / inner_v4 / TCP(sport=40004, dport=40005, flags="PA") / data
    yield Ether(**MACS) / IP(**v4) / GRE(proto=0x6558, key_present=1, key=0x12345678, seqnum_present=1, seqence_number=7, chksum_present=1) / Ether(**MACS) / inner_v4 / UDP(sport=40000, dport=40001) / data
    yield Ether(**MACS) / IP(proto=4, **v4) / inner_v4 / UDP(sport=40013, dport=40014) / data
    yield Ether(**MACS) / IP(**v4) / IPv6(**v6) / UDP(sport=40013, dport=40014) / data


def main():
    pkts = list(packets())
    expected = []
    for p in pkts:
        p = Ether(bytes(p))  # re-dissect the bytes so computed fields (lengths, checksums) are what is on the wire
        expected.append({"layers": layers_of(p), "error": False})
    # A truncated frame: the Ethernet header is fine, the IPv4 header is cut.
    cut = bytes(Ether(**MACS) / IP(**dict(src="10.0.0.1", dst="10.0.0.2")) / UDP(sport=40000, dport=40001))[:30]
    pkts.append(Ether(cut))
    expected.append({"layers": [{"type": "ethernet", "src": MACS["src"], "dst": MACS["dst"], "etherType": 0x0800}],
                     "error": True})
    wrpcap(sys.argv[1], pkts)
    json.dump(expected, sys.stdout)


if __name__ == "__main__":
    main()
