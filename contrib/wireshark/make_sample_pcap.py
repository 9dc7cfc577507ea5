#!/usr/bin/env python3
"""Writes a pcap exercising contrib/wireshark/hna.lua: HNA in front of VXLAN, MPLS-over-UDP, MPLS-over-GRE,
IPv6, Ethernet and IPv4, a heartbeat, and four headers the format refuses (truncated, version 2, reserved
bit, priority out of range). The HNA header is packed here straight from docs/wire-format.md, so the
dissector is checked against the document rather than against itself. Needs scapy.

Usage: make_sample_pcap.py OUT.pcap   (prints each HNA header in hex, for comparing with the Swift emitter)
"""
import struct, sys
from scapy.all import Ether, IP, IPv6, UDP, GRE, ICMP, Raw, wrpcap
from scapy.layers.inet6 import ICMPv6EchoRequest
from scapy.layers.vxlan import VXLAN
from scapy.contrib.mpls import MPLS

def hna(next_, prio, ts, q, r, seq=None, acks=None, nacks=(), retx=False):
    p = len(q)
    c = 1 << 14
    if seq is not None: c |= 1 << 13
    if acks is not None: c |= 1 << 12
    if nacks: c |= 1 << 11
    if retx: c |= 1 << 10
    c |= next_ << 7 | prio << 4 | (p - 1) << 1
    b = struct.pack(">HI", c, ts) + struct.pack(">%dH" % p, *q) + struct.pack(">%dH" % p, *r)
    if seq is not None: b += struct.pack(">H", seq)
    if acks is not None: b += struct.pack(">%dH" % p, *acks)
    if nacks:
        b += struct.pack(">BB", len(nacks), 0)
        for (np_, first, count) in nacks: b += struct.pack(">HH", np_ << 13 | count, first)
    return b

outer = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
inner_eth = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02")
pkts = []
# 1. VXLAN with HNA: data, prio 1, seq 0x1234.
h1 = hna(1, 1, 0xDEADBEEF, [1, 2, 3, 4], [100, 200, 300, 400], seq=0x1234)
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50001, dport=6650)/Raw(h1)/
            VXLAN(flags=0x08, vni=0x123456)/inner_eth/IP(src="10.0.0.1", dst="10.0.0.2")/ICMP(id=1, seq=1))
# 2. MPLS-over-UDP with HNA: data + acks, retransmission, label 1000.
h2 = hna(2, 2, 7, [5, 6, 7, 8], [9, 10, 11, 12], seq=7, acks=[20, 21, 22, 23], retx=True)
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50002, dport=6650)/Raw(h2)/
            MPLS(label=1000, s=1, ttl=64)/IP(src="10.0.0.3", dst="10.0.0.4")/ICMP(id=2, seq=2))
# 3. MPLS-over-GRE with HNA (GRE proto 0x88B5): data + two NACKs, label 2000, inner IPv6.
h3 = hna(2, 0, 123456, [0, 0, 0, 65535], [1, 1, 1, 1], seq=65535, nacks=[(3, 100, 5), (0, 65530, 8191)])
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/GRE(proto=0x88B5)/Raw(h3)/
            MPLS(label=2000, s=1, ttl=63)/IPv6(src="2001:db8::1", dst="2001:db8::2")/ICMPv6EchoRequest(id=3, seq=3))
# 4. Heartbeat: next none, 4 priorities, no flags.
h4 = hna(0, 0, 42, [10, 20, 30, 40], [50, 60, 70, 80])
pkts.append(outer/IP(src="192.0.2.2", dst="192.0.2.1")/UDP(sport=50003, dport=6650)/Raw(h4))
# 5. HNA next=IPv6 over UDP, 8 priorities, prio 7.
h5 = hna(5, 7, 1, list(range(8)), list(range(100, 108)), seq=9)
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50004, dport=6650)/Raw(h5)/
            IPv6(src="2001:db8::5", dst="2001:db8::6")/ICMPv6EchoRequest(id=5, seq=5))
# 6. HNA next=Ethernet over GRE, 1 priority.
h6 = hna(3, 0, 2, [3], [4], seq=1)
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/GRE(proto=0x88B5)/Raw(h6)/
            inner_eth/IP(src="10.0.0.7", dst="10.0.0.8")/ICMP(id=6, seq=6))
# 7. HNA next=IPv4 over UDP, 2 priorities; 8. a standalone ack cut 3 bytes short.
h7 = hna(4, 0, 3, [0, 0], [0, 0], seq=2)
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50005, dport=6650)/Raw(h7)/
            IP(src="10.0.0.9", dst="10.0.0.10")/ICMP(id=7, seq=7))
h8 = hna(0, 0, 4, [1, 2, 3, 4], [5, 6, 7, 8], acks=[1, 2, 3, 4])
pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50006, dport=6650)/Raw(h8[:-3]))
# 9-11. Refused by HNAHeaderView: version 2, reserved bit set, priority 5 with 4 priorities.
bad_version = bytes([h4[0] ^ 0xC0]) + h4[1:]
bad_reserved = h4[:1] + bytes([h4[1] | 0x01]) + h4[2:]
bad_priority = h4[:1] + bytes([h4[1] | 0x50]) + h4[2:]
for b in (bad_version, bad_reserved, bad_priority):
    pkts.append(outer/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=50007, dport=6650)/Raw(b))
for i, pkt in enumerate(pkts):
    pkt.time = 1_700_000_000 + i  # fixed, so the file is reproducible
wrpcap(sys.argv[1], pkts)
for h in (h1, h2, h3, h4, h5, h6, h7, h8):
    print(h.hex())
