#!/usr/bin/env bash
# Throughput of 1 MiB ranges rebuilt from peers (X-Cache: PEER) against local
# hits, in one run, in front of the anchors' nginx origin (127.0.0.1:9100,
# ../shared/anchors/start-anchors.sh):
#   - the hit edge (port 9400), a single edge with room for every chunk
#     whole, warmed from the origin: it serves hits;
#   - a ring of six edges (9401..9406) with k=4, m=2, each with room for its
#     shards and little more, warmed through edge 2: edge 1 then rebuilds
#     most chunks from its peers' shards.
# wrk drives the hit edge and edge 1 with the anchors' range1m.lua,
# alternating, REPS times. Each line gives the throughput, the latency, where
# edge 1's bytes came from, and the CPU seconds per GiB served of the edge
# under test, of the other ring members together, and of wrk
# (/proc/PID/stat and bash's time).
#
#   scripts/peer-vs-hit.sh [REPS] [DURATION]
#
# PIN=1 pins the hit edge, edge 1 and wrk to core 0 and the other five ring
# edges to core 1: the serving peers then stand in for other machines, whose
# CPU the reading edge does not share, and each edge under test has core 0
# to itself and wrk.
set -euo pipefail
REPS=${1:-3}
DURATION=${2:-10s}
ANCHORS=${ANCHORS:-$(cd "$(dirname "$0")/../.." && pwd)/shared/anchors}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/edgecache-peer.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
go build -o "$work/edgecache" .
export EDGECACHE_CLUSTER_SECRET=peer-vs-hit-secret-0123456789
peers=$(for i in 1 2 3 4 5 6; do printf '127.0.0.1:%d,' $((9410+i)); done); peers=${peers%,}
# exec, so that $! of a backgrounded call is the program itself (for the
# trap and the CPU accounting).
pin() { if [ "${PIN:-}" = 1 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
# on0 runs a command in the foreground where pin would put it on core 0
# (no exec: bash's time would lose it).
on0() { if [ "${PIN:-}" = 1 ]; then taskset -c 0 "$@"; else "$@"; fi; }
pin 0 "$work/edgecache" edge --origin http://127.0.0.1:9100 --listen 127.0.0.1:9400 \
  --admin-listen 127.0.0.1:9420 --cache-size 1GiB 2>"$work/edge0.log" & pids+=($!)
for i in 1 2 3 4 5 6; do
  core=1; [ "$i" = 1 ] && core=0
  pin $core "$work/edgecache" edge --origin http://127.0.0.1:9100 --listen 127.0.0.1:$((9400+i)) \
    --peer-listen 127.0.0.1:$((9410+i)) --admin-listen 127.0.0.1:$((9420+i)) --peers "$peers" \
    --cache-size 80MiB 2>"$work/edge$i.log" & pids+=($!)
done
for i in 0 1 2 3 4 5 6; do
  until curl -sf -o /dev/null http://127.0.0.1:$((9420+i))/readyz; do sleep 0.1; done
done
# Warm the hit edge from the origin, and the ring through edge 2: it leads
# or fetches every chunk, and the shards land on their owners.
for port in 9400 9402; do
  for c in $(seq 0 255); do
    curl -sf -o /dev/null -r $((c<<20))-$(( (c+1<<20) - 1 )) http://127.0.0.1:$port/big.bin
  done
done
# A few seconds of the workload on both edges first: each run then finds
# the peer connections open and the copy cache in its steady state.
for port in 9400 9401; do
  on0 wrk -t1 -c16 -d3s -s "$ANCHORS/range1m.lua" http://127.0.0.1:$port > /dev/null
done
sleep 1
stats() { curl -s http://127.0.0.1:$1/stats; }
# cpu PID...: user+system clock ticks of the processes.
cpu() { local f=(); for p in "$@"; do f+=("/proc/$p/stat"); done; awk '{s += $14 + $15} END {print s}' "${f[@]}"; }
tick=$(getconf CLK_TCK)
others=("${pids[@]:2}")
TIMEFORMAT='%U %S'
for rep in $(seq 1 "$REPS"); do
  for i in 0 1; do
    port=$((9400+i)) self=${pids[$i]}
    before=$(stats $((port+20))) c0=$(cpu "$self") o0=$(cpu "${others[@]}")
    { time on0 wrk -t1 -c16 -d"$DURATION" -s "$ANCHORS/range1m.lua" http://127.0.0.1:$port > "$work/wrk.out"; } 2> "$work/wrk.time"
    after=$(stats $((port+20))) c1=$(cpu "$self") o1=$(cpu "${others[@]}")
    python3 - "$i" "$(grep RESULT "$work/wrk.out")" "$before" "$after" "$(( c1-c0 ))" "$(( o1-o0 ))" "$(cat "$work/wrk.time")" "$tick" <<'PY'
import json, sys
i, r, b, a = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
edge, others, tick = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[8])
wrk = sum(float(x) for x in sys.argv[7].split())
d = {k: a[k] - b[k] for k in ("SentHit", "SentPeer", "SentOrigin")}
tot = sum(d.values()) or 1
kv = dict(x.split("=") for x in r.split()[1:])
gib = int(kv["bytes"]) / 2**30 or 1
print(f"{'hits ' if i == '0' else 'peers'} {float(kv['mib_s']):7.1f} MiB/s  p50 {float(kv['p50_ms']):5.1f} ms  p99 {float(kv['p99_ms']):6.1f} ms  "
      f"HIT {100*d['SentHit']/tot:3.0f}% PEER {100*d['SentPeer']/tot:3.0f}% MISS {100*d['SentOrigin']/tot:3.0f}%  "
      f"CPU s/GiB: edge {edge/tick/gib:.2f}  peers {others/tick/gib:.2f}  wrk {wrk/gib:.2f}")
PY
  done
done
