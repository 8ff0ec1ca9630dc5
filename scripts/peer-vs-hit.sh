#!/usr/bin/env bash
# Throughput of 1 MiB ranges rebuilt from peers (X-Cache: PEER) against
# local hits, in one run, in front of the comparisons' nginx origin
# (scripts/compare/nginx-origin.conf serving the data set's 256 MiB
# /big.bin):
#   - the hit edge, a single edge with room for every chunk whole, warmed
#     from the origin: it serves hits;
#   - a ring of six edges with k=4, m=2, each with room for its shards and
#     little more, warmed through edge 2: edge 1 then rebuilds most chunks
#     from its peers' shards.
# wrk drives the hit edge and edge 1 with scripts/compare/range1m.lua,
# alternating, REPS times. Each line gives the throughput, the latency,
# where the edge's bytes came from, and the CPU seconds per GiB served of
# the edge under test, of the other ring members together, and of wrk.
#
#   scripts/peer-vs-hit.sh [REPS] [DURATION]        (defaults 3 and 10s)
#
# PIN=1 puts the hit edge, edge 1 and wrk on core 0 and the other five ring
# edges on core 1: the serving peers then stand in for other machines, whose
# CPU the reading edge does not share, and each edge under test has core 0
# to itself and wrk. Environment: those of scripts/compare/lib.sh (DATA,
# OUT, BASE_PORT, KEEP_WORK). Installs nginx, wrk and curl from Debian's
# packages if missing (as root).
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

REPS=${1:-3}
DURATION=${2:-10s}

need nginx:nginx wrk:wrk curl:curl
setup peer-vs-hit
build
make_data
versions | tee "$OUT/summary.txt"
echo "# PIN=${PIN:-0}, $REPS × $DURATION" | tee -a "$OUT/summary.txt"

start_origin 1
origin=http://$ORIGIN_HP

# on CORE: places what is started next on CORE when PIN=1.
on() { if [ "${PIN:-0}" = 1 ]; then ON=(taskset -c "$1"); else ON=(); fi; }
on 0
WRK_ON=("${ON[@]}")

# Edge 0 is the hit edge; edges 1 to 6 form the ring.
client=() admin=() peer=()
for i in 0 1 2 3 4 5 6; do
  take_port
  p=$PORT
  client[i]=127.0.0.1:$p
  take_port
  p=$PORT
  admin[i]=127.0.0.1:$p
  take_port
  p=$PORT
  peer[i]=127.0.0.1:$p
done
peers=$(IFS=,; echo "${peer[*]:1}")
export EDGECACHE_CLUSTER_SECRET=peer-vs-hit-secret-0123456789
start_edge edge0 --origin "$origin" --listen "${client[0]}" --peer-listen "${peer[0]}" \
  --admin-listen "${admin[0]}" --cache-size 1GiB
for i in 1 2 3 4 5 6; do
  if [ "$i" = 1 ]; then on 0; else on 1; fi
  start_edge "edge$i" --origin "$origin" --listen "${client[i]}" --peer-listen "${peer[i]}" \
    --admin-listen "${admin[i]}" --peers "$peers" --cache-size 80MiB
done
for i in 0 1 2 3 4 5 6; do wait_http "http://${admin[i]}/readyz"; done

# Warm the hit edge from the origin, and the ring through edge 2: it leads
# or fetches every chunk, and the shards land on their owners.
for i in 0 2; do
  for c in $(seq 0 255); do
    curl -sf -o /dev/null -r $((c * MiB))-$(((c + 1) * MiB - 1)) "http://${client[i]}/big.bin"
  done
done
# A few seconds of the workload on both edges first: each run then finds
# the peer connections open and the copy cache in its steady state.
for i in 0 1; do
  "${WRK_ON[@]}" wrk -t1 -c16 -d3s -s "$COMPARE_DIR/range1m.lua" "http://${client[i]}" >/dev/null
done
sleep 1

# sent ADMIN: bytes the edge sent from memory, from peers and from the
# origin so far, from /stats.
sent() {
  curl -sf "http://$1/stats" | sed 's/[,{}]/\n/g' |
    awk -F: '/"SentHit"/ {h = $2} /"SentPeer"/ {p = $2} /"SentOrigin"/ {o = $2} END {print h + 0, p + 0, o + 0}'
}
others=("${PIDS[@]:2}")
for _ in $(seq "$REPS"); do
  for i in 0 1; do
    self=${PIDS[i]}
    b=$(sent "${admin[i]}") c0=$(cpu_ticks "$self") o0=$(cpu_ticks "${others[@]}")
    raw=$WORK/wrk.out
    t=$( { TIMEFORMAT='%U %S'; time "${WRK_ON[@]}" wrk -t1 -c16 -d"$DURATION" -s "$COMPARE_DIR/range1m.lua" \
      "http://${client[i]}" >"$raw" 2>&1; } 2>&1)
    a=$(sent "${admin[i]}") c1=$(cpu_ticks "$self") o1=$(cpu_ticks "${others[@]}")
    awk -v who="$([ "$i" = 0 ] && echo hits || echo peers)" -v b="$b" -v a="$a" -v edge=$((c1 - c0)) \
      -v others=$((o1 - o0)) -v wt="$t" -v hz="$HZ" '
      /^RESULT/ { for (k = 2; k <= NF; k++) { split($k, kv, "="); r[kv[1]] = kv[2] } }
      END {
        split(b, x, " "); split(a, y, " "); split(wt, w, " ")
        hit = y[1] - x[1]; peer = y[2] - x[2]; orig = y[3] - x[3]; tot = hit + peer + orig; if (tot == 0) tot = 1
        gib = r["bytes"] / 2^30; if (gib == 0) gib = 1
        printf "%-5s %7.1f MiB/s  p50 %5.1f ms  p99 %6.1f ms  HIT %3.0f%% PEER %3.0f%% MISS %3.0f%%  CPU s/GiB: edge %.2f  peers %.2f  wrk %.2f  errors %d\n",
          who, r["mib_s"], r["p50_ms"], r["p99_ms"], 100 * hit / tot, 100 * peer / tot, 100 * orig / tot,
          edge / hz / gib, others / hz / gib, (w[1] + w[2]) / gib, r["errors"]
      }' "$raw" | tee -a "$OUT/summary.txt"
  done
done
echo "# results in $OUT"
