#!/usr/bin/env bash
# Throughput of 1 MiB ranges rebuilt from peers (X-Cache: PEER) against local
# hits, in one run: six edge processes on loopback in front of the anchors'
# nginx origin (127.0.0.1:9100, ../shared/anchors/start-anchors.sh). Edge 0
# has room for every chunk whole, so it serves hits; edges 1..5 have room
# for their shards and little more, so edge 1 rebuilds most chunks from its
# peers. wrk drives both with the anchors' range1m.lua, alternating.
#
#   scripts/peer-vs-hit.sh [REPS] [DURATION]
#
# PIN=1 pins edges 0 and 1 and wrk to core 0 and the other four edges to
# core 1: the serving peers then stand in for other machines, whose CPU the
# reading edge does not share (edge 0 still serves its own shards from
# core 0, which only penalises the peer path).
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
peers=$(for i in 0 1 2 3 4 5; do printf '127.0.0.1:%d,' $((9410+i)); done); peers=${peers%,}
# exec, so that $! of a backgrounded call is the program itself (for the trap).
pin() { if [ "${PIN:-}" = 1 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
for i in 0 1 2 3 4 5; do
  cache=80MiB; [ "$i" = 0 ] && cache=1GiB
  core=1; [ "$i" -le 1 ] && core=0
  pin $core "$work/edgecache" edge --origin http://127.0.0.1:9100 --listen 127.0.0.1:$((9400+i)) \
    --peer-listen 127.0.0.1:$((9410+i)) --admin-listen 127.0.0.1:$((9420+i)) --peers "$peers" \
    --cache-size $cache 2>"$work/edge$i.log" & pids+=($!)
done
for i in 0 1 2 3 4 5; do
  until curl -sf -o /dev/null http://127.0.0.1:$((9420+i))/readyz; do sleep 0.1; done
done
# Warm through edge 0: it leads or fetches every chunk, and the shards land
# on their owners.
for c in $(seq 0 255); do
  curl -sf -o /dev/null -r $((c<<20))-$(( (c+1<<20) - 1 )) http://127.0.0.1:9400/big.bin
done
sleep 2
stats() { curl -s http://127.0.0.1:$1/stats; }
for rep in $(seq 1 "$REPS"); do
  for port in 9400 9401; do
    before=$(stats $((port+20)))
    r=$(pin 0 wrk -t1 -c16 -d"$DURATION" -s "$ANCHORS/range1m.lua" http://127.0.0.1:$port | grep RESULT)
    after=$(stats $((port+20)))
    python3 - "$port" "$r" "$before" "$after" <<'PY'
import json, sys
port, r, b, a = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
d = {k: a[k] - b[k] for k in ("SentHit", "SentPeer", "SentOrigin")}
tot = sum(d.values()) or 1
kv = dict(x.split("=") for x in r.split()[1:])
print(f"edge {'hits ' if port=='9400' else 'peers'} {float(kv['mib_s']):8.1f} MiB/s  p50 {kv['p50_ms']} ms  p99 {kv['p99_ms']} ms  "
      f"bytes: HIT {100*d['SentHit']/tot:.0f}%  PEER {100*d['SentPeer']/tot:.0f}%  MISS {100*d['SentOrigin']/tot:.0f}%")
PY
  done
done
