#!/usr/bin/env bash
# VM→VM datapath figures: two `hna run` daemons (HNA peers, flow control on) vs two Linux kernel VXLAN
# devices vs a bare veth, with iperf3 between two "VM" namespaces. Builds everything in namespaces it
# names with a random tag and removes them whatever happens; traffic never leaves those namespaces.
#
#   scripts/perf-daemon.sh [hna|kernel|veth|all]      (default all; needs root, iperf3, python3)
#
# Environment: HNA (the hna binary, default .build/release/hna), SECONDS_PER_TEST (default 5),
# REPEAT (runs per test, default 2), PIN=1 (iperf3 client and daemon A on CPU 0, server and daemon B on
# CPU 1), GBPS (the daemons' bandwidthGbps, default 40), MTU (the VMs' MTU, default 1400, which fits
# the HNA tunnel's 1500-byte underlay with room for the HNA header), OFFLOAD (passed to the daemons as
# HNA_OFFLOAD, "on" unless set to "off": TAP offloads and UDP GSO/GRO), FLOWCONTROL (true|false, default true),
# BURST (the daemons' burstBytes and nicBurstBytes; default: derived from the bandwidth), DAEMON_PREFIX (a
# command the daemons run under, e.g. "nice -n -10" or "chrt -f 5"), IPERF_ARGS (more arguments for the
# TCP client, e.g. "-C cubic" or "-P 2"), VM_LINK_ARGS (more `ip link set` arguments for the VMs' ports in
# hna mode, e.g. "gso_max_size 60000").
# Prints one line per run: mode, test, figure.
#
# CALLGRIND=N (hna mode only): instead of the timed runs, send N 64-byte UDP frames from VM 1 at 1 Mbit/s
# of payload (RATE to change it) with daemon h1 under callgrind, counting only the instructions of
# HNANode.finish (the node's pipeline after the router: VOQs, controller, headers, sends), and print
# them per packet: a repeatable figure on a busy machine, for before/after comparisons. Needs valgrind;
# runs a copy of the binary without DWARF debug information, which valgrind 3.19 cannot read.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-all}
HNA=${HNA:-$PWD/.build/release/hna}
T=${SECONDS_PER_TEST:-5}
REPEAT=${REPEAT:-2}
GBPS=${GBPS:-40}
MTU=${MTU:-1400}
TAG=$(printf '%04x' $((RANDOM)))
HA=pdha-$TAG HB=pdhb-$TAG VA=pdva-$TAG VB=pdvb-$TAG
DIR=$(mktemp -d /tmp/hna-perf-XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  PIDS=()
  for n in $HA $HB $VA $VB; do ip netns del "$n" 2>/dev/null || true; done
}
trap 'cleanup; rm -rf "$DIR"' EXIT

pin() { if [ "${PIN:-0}" = 1 ]; then echo "taskset -c $1"; fi; }

namespaces() {
  for n in $HA $HB $VA $VB; do ip netns add "$n"; ip -n "$n" link set lo up; done
}

underlay() {
  ip link add ul0 netns $HA type veth peer name ul0 netns $HB
  ip -n $HA addr add 10.99.0.1/24 dev ul0 && ip -n $HA link set ul0 up
  ip -n $HB addr add 10.99.0.2/24 dev ul0 && ip -n $HB link set ul0 up
}

hna_config() {  # $1 = 1|2
  local i=$1 o=$((3 - $1))
  cat <<EOF
hna:
  name: h$i
  underlay: 10.99.0.$i
  control: $DIR/h$i.sock
  bandwidthGbps: $GBPS
${BURST:+  burstBytes: $BURST
  nicBurstBytes: $BURST
}  flowControl: ${FLOWCONTROL:-true}
  logLevel: warning
peers:
  - {name: h$o, underlay: 10.99.0.$o}
networks:
  - {name: blue, vrf: 1, vni: 5001, label: 1001, subnets: [192.168.77.0/24], gateway: [192.168.77.254]}
ports:
  - {name: pt$i-$TAG, network: blue, mac: "02:00:00:00:0$i:01", ip: [192.168.77.$i]}
endpoints:
  - {network: blue, ip: [192.168.77.$o], mac: "02:00:00:00:0$o:01", peer: h$o}
EOF
}

setup_hna() {
  namespaces; underlay
  local cpus=(0 1)
  for i in 1 2; do
    local host=$HA; [ $i = 2 ] && host=$HB
    hna_config $i > "$DIR/h$i.yaml"
    local run=("$HNA")
    if [ $i = 1 ] && [ -n "${CALLGRIND:-}" ]; then
      cp "$HNA" "$DIR/hna-nodebug" && strip --strip-debug "$DIR/hna-nodebug"
      run=(valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.out" '--toggle-collect=*HNANodeAAV6finish*'
           "$DIR/hna-nodebug")
    fi
    HNA_OFFLOAD=${OFFLOAD:-on} ip netns exec $host $(pin ${cpus[$((i - 1))]}) ${DAEMON_PREFIX:-} "${run[@]}" run --config "$DIR/h$i.yaml" \
      2> "$DIR/h$i.log" &
    PIDS+=($!)
  done
  for i in 1 2; do
    for _ in $(seq 600); do [ -S "$DIR/h$i.sock" ] && break; sleep 0.05; done
    [ -S "$DIR/h$i.sock" ] || { echo "daemon h$i did not start:"; cat "$DIR/h$i.log"; exit 1; }
  done
  for i in 1 2; do
    local host=$HA vm=$VA; [ $i = 2 ] && host=$HB vm=$VB
    ip -n $host link set pt$i-$TAG netns $vm
    ip -n $vm link set pt$i-$TAG name eth0
    ip -n $vm link set eth0 address 02:00:00:00:0$i:01 mtu "$MTU" ${VM_LINK_ARGS:-} up
    ip -n $vm addr add 192.168.77.$i/24 dev eth0
  done
}

setup_kernel() {
  namespaces; underlay
  for i in 1 2; do
    local host=$HA vm=$VA o=$((3 - i)); [ $i = 2 ] && host=$HB vm=$VB
    ip -n $host link add vx0 type vxlan id 5001 local 10.99.0.$i remote 10.99.0.$o dstport 4789
    ip -n $host link add br0 type bridge
    ip -n $host link add vm0 type veth peer name eth0 netns $vm
    ip -n $host link set vx0 master br0 up
    ip -n $host link set vm0 master br0 mtu "$MTU" up
    ip -n $host link set br0 up
    ip -n $vm link set eth0 mtu "$MTU" up
    ip -n $vm addr add 192.168.77.$i/24 dev eth0
  done
}

setup_veth() {
  namespaces
  ip link add eth0 netns $VA type veth peer name eth0 netns $VB
  for i in 1 2; do
    local vm=$VA; [ $i = 2 ] && vm=$VB
    ip -n $vm link set eth0 mtu "$MTU" up
    ip -n $vm addr add 192.168.77.$i/24 dev eth0
  done
}

count_instructions() {  # CALLGRIND mode: instructions of HNANode.finish per packet sent by VM 1
  ip netns exec $VB iperf3 -s -D -p 5201 --pidfile "$DIR/iperf.pid" >/dev/null
  sleep 2
  ip netns exec $VA iperf3 -c 192.168.77.2 -p 5201 -u -l 18 -b "${RATE:-1M}" -n $((CALLGRIND * 18)) -J > "$DIR/udp.json" || true
  sleep 1
  "$HNA" show stats --json --control "$DIR/h1.sock" > "$DIR/stats1.json"
  kill "$(cat "$DIR/iperf.pid")" 2>/dev/null || true
  kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
  python3 - "$DIR" <<'EOF'
import json, re, subprocess, sys
d = sys.argv[1]
s = json.load(open(f"{d}/udp.json"))["end"]["sum"]
queued = json.load(open(f"{d}/stats1.json"))["controller"]["enqueued"]
out = subprocess.run(["callgrind_annotate", f"{d}/callgrind.out"], capture_output=True, text=True).stdout
total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", out).group(1).replace(",", ""))
print(f"hna\tnode-instructions\t{total / max(queued, 1):.0f} per packet\t(sent {s['packets']}, lost {s['lost_packets']}, "
      f"queued at h1 {queued}, {total} instructions in HNANode.finish)")
EOF
}

measure() {  # $1 = mode label
  ip netns exec $VB $(pin 1) iperf3 -s -D -p 5201 --pidfile "$DIR/iperf.pid" >/dev/null
  sleep 0.3
  ip netns exec $VA ping -c 3 -i 0.2 -W 2 192.168.77.2 >/dev/null || { echo "$1: no connectivity"; return 1; }
  for r in $(seq "$REPEAT"); do
    ip netns exec $VA $(pin 0) iperf3 -c 192.168.77.2 -p 5201 ${IPERF_ARGS:-} -t "$T" -J > "$DIR/tcp.json" || true
    python3 - "$1" "$DIR/tcp.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
if "error" in d: print(f"{sys.argv[1]}\ttcp\terror: {d['error']}"); sys.exit()
bps = d["end"]["sum_received"]["bits_per_second"]
rt = d["end"]["sum_sent"].get("retransmits", 0)
print(f"{sys.argv[1]}\ttcp-1-stream\t{bps/1e9:.2f} Gb/s\t(retransmits {rt})")
EOF
    ip netns exec $VA $(pin 0) iperf3 -c 192.168.77.2 -p 5201 -u -l 18 -b 0 -t "$T" -J > "$DIR/udp.json" || true
    python3 - "$1" "$DIR/udp.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[2]))
if "error" in d: print(f"{sys.argv[1]}\tudp\terror: {d['error']}"); sys.exit()
s = d["end"]["sum"]
sent = s["packets"]; lost = s["lost_packets"]; secs = s["seconds"]
print(f"{sys.argv[1]}\tudp-64B\t{(sent-lost)/secs/1e6:.3f} Mpps received\t(sent {sent/secs/1e6:.3f} Mpps, lost {lost})")
EOF
  done
  kill "$(cat "$DIR/iperf.pid")" 2>/dev/null || true
}

run_mode() {
  case $1 in
    hna) [ -x "$HNA" ] || { echo "no hna binary at $HNA (swift build -c release --product hna)"; exit 1; }
         setup_hna
         if [ -n "${CALLGRIND:-}" ]; then count_instructions; cleanup; return; fi
         measure "hna(offload=${OFFLOAD:-on})"
         for i in 1 2; do "$HNA" show drops --json --control "$DIR/h$i.sock" > "$DIR/drops$i.json" 2>/dev/null || true; done
         [ "${SHOW_DROPS:-0}" = 1 ] && cat "$DIR/drops1.json" "$DIR/drops2.json" ;;
    kernel) setup_kernel; measure kernel-vxlan ;;
    veth) setup_veth; measure veth ;;
  esac
  cleanup
}

echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${T}s per test, VM MTU $MTU"
if [ "$MODE" = all ]; then for m in veth kernel hna; do run_mode $m; done; else run_mode "$MODE"; fi
