#!/usr/bin/env bash
# The disk tier across restarts: six edge processes on loopback in front of
# the reference origin's synthetic objects, each edge with its own disk.
#
#   1. fill: every object of the working set is read whole once, object i
#      through edge i mod 6, and the edges are left until their disks stop
#      growing (the write queues are empty);
#   2. kill -9: edge 3 is killed (SIGKILL) and started again on its disk:
#      the entries its disk index holds before and after, the time from the
#      start to /readyz, and then every object read whole through edge 3
#      and checked against the origin's bytes, with the origin's bytes and
#      edge 3's disk reads during that pass;
#   3. rolling restart: the bench's video workload on all six edges for
#      DURATION while every edge in turn is stopped (SIGTERM, its drain),
#      started again on its disk and waited for until ready, PAUSE apart:
#      the bench's errors, failovers (requests a refusing edge passed to
#      the next, as a player moves off a node that is down), wrong bytes
#      (the bench checks every byte of a synthetic object) and the origin's
#      bytes during the run.
#
#   scripts/disk-restart.sh
#
# Environment (defaults in brackets): OBJECTS [48] of OBJECT_MIB [32] MiB,
# the working set; CACHE [64MiB] of memory and DISK [1GiB] of disk per
# edge; DURATION [60s] and CONCURRENCY [24] of the video run; PAUSE [3] s
# between restarts; and those of scripts/compare/lib.sh (OUT, BASE_PORT,
# KEEP_WORK). The working set, 1.5 GiB with the defaults, is several times
# the ring's memory (6 × 64 MiB) and within its disks. Takes 2–3 minutes.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

OBJECTS=${OBJECTS:-48}
OBJECT_MIB=${OBJECT_MIB:-32}
CACHE=${CACHE:-64MiB}
DISK=${DISK:-1GiB}
DURATION=${DURATION:-60s}
CONCURRENCY=${CONCURRENCY:-24}
PAUSE=${PAUSE:-3}
N=6

need curl:curl python3:python3
setup disk-restart
# The rolling restart starts edges in a subshell: stop those too.
trap '[ -f "$WORK/pids" ] && while read -r p; do stop_pid "$p"; done <"$WORK/pids"; stop_all' EXIT
build

size=$((OBJECT_MIB * MiB))
take_port
p_origin=$PORT
origin="http://127.0.0.1:$p_origin"
"$BIN" origin --synthetic --listen "127.0.0.1:$p_origin" 2>"$WORK/origin.log" &
PIDS+=($!)
wait_http "$origin/.edgecache/stats"

export EDGECACHE_CLUSTER_SECRET=disk-restart-secret-0123456789
declare -a client peer admin pid
for i in $(seq 1 $N); do
  take_port
  client[i]=127.0.0.1:$PORT
  take_port
  peer[i]=127.0.0.1:$PORT
  take_port
  admin[i]=127.0.0.1:$PORT
done
peers=$(IFS=,; echo "${peer[*]}")

# edge I: starts edge I (1 to N) on its disk; its pid is pid[I].
edge() {
  "$BIN" edge --origin "$origin" --listen "${client[$1]}" --peer-listen "${peer[$1]}" \
    --admin-listen "${admin[$1]}" --peers "$peers" --node-name "edge$1" \
    --cache-size "$CACHE" --disk-path "$WORK/disk$1" --disk-size "$DISK" 2>>"$WORK/edge$1.log" &
  pid[$1]=$!
  PIDS+=($!)
  echo $! >>"$WORK/pids"
}
# gone PID: waits until process PID has exited (it may be another shell's
# child, which wait cannot wait for).
gone() { while alive "$1"; do sleep 0.1; done; }
# ready I: waits for edge I's /readyz.
ready() { wait_http "http://${admin[$1]}/readyz"; }
# origin_bytes: body bytes the origin has sent so far.
origin_bytes() { curl -sf "$origin/.edgecache/stats" | sed -E 's/.*"body_bytes":([0-9]+).*/\1/'; }
# disk_entries I: entries edge I's disk index holds.
disk_entries() {
  curl -sf "http://${admin[$1]}/status.json" | python3 -c 'import json, sys; print(sum(d["entries"] for d in json.load(sys.stdin)["disks"]))'
}
# metric I NAME: the sum of edge I's samples of metric NAME.
metric() {
  curl -sf "http://${admin[$1]}/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}'
}
path() { echo "/synthetic/$size/obj-$1.bin"; }

for i in $(seq 1 $N); do edge "$i"; done
for i in $(seq 1 $N); do ready "$i"; done
echo "six edges: --cache-size $CACHE --disk-size $DISK each; working set $OBJECTS × $OBJECT_MIB MiB"

# 1. fill
o0=$(origin_bytes)
for j in $(seq 0 $((OBJECTS - 1))); do
  e=$((j % N + 1))
  got=$(curl -sf -o /dev/null -w '%{size_download}' "http://${client[$e]}$(path "$j")")
  [ "$got" = "$size" ] || { echo "fill: object $j through edge $e: $got bytes, want $size" >&2; exit 1; }
done
# settled: waits until no edge's disk entries changed for 2 s.
settled() {
  local before now
  before=$(for i in $(seq 1 $N); do disk_entries "$i"; done | tr '\n' ' ')
  for _ in $(seq 30); do
    sleep 2
    now=$(for i in $(seq 1 $N); do disk_entries "$i"; done | tr '\n' ' ')
    [ "$now" = "$before" ] && return 0
    before=$now
  done
}
settled
echo "fill: origin sent $(( ($(origin_bytes) - o0) / MiB )) MiB for $((OBJECTS * OBJECT_MIB)) MiB of objects; disk entries per edge: $(for i in $(seq 1 $N); do disk_entries "$i"; done | tr '\n' ' ')"

# 2. kill -9 of edge 3
before=$(disk_entries 3)
kill -KILL "${pid[3]}"
gone "${pid[3]}"
t0=$(date +%s.%N)
edge 3
ready 3
t1=$(date +%s.%N)
after=$(disk_entries 3)
# Its two stores' lines: shards, then decoded chunks.
rebuild=$(grep "disk store open" "$WORK/edge3.log" | tail -2 | grep -o "entries=[0-9]* .*rebuild=[^ ]*" | sed 's/ direct=[a-z]*//' | paste -sd ';' || true)
o0=$(origin_bytes)
reads0=$(metric 3 edgecache_disk_reads_total)
wrong=0
for j in $(seq 0 $((OBJECTS - 1))); do
  a=$(curl -sf "http://${client[3]}$(path "$j")" | sha256sum)
  b=$(curl -sf "$origin$(path "$j")" | sha256sum)
  [ "$a" = "$b" ] || wrong=$((wrong + 1))
done
# The reference reads above went straight to the origin: take them off.
refetched=$(( $(origin_bytes) - o0 - OBJECTS * size ))
awk -v b="$before" -v a="$after" -v t="$(echo "$t1 - $t0" | bc)" -v o="$refetched" -v w="$wrong" \
  -v r="$(( $(metric 3 edgecache_disk_reads_total) - reads0 ))" -v rb="$rebuild" 'BEGIN {
  printf "kill -9: edge 3 held %d disk entries, %d after its restart (%.2f%%); ready %.2f s after start (%s)\n", b, a, 100 * a / b, t, rb
  printf "kill -9: every object read through edge 3: %d wrong, origin sent %d bytes for them, edge 3 read %d records from its disk\n", w, o, r
}'

# 3. rolling restart under the video workload
(
  sleep 5
  for i in $(seq 1 $N); do
    kill -TERM "${pid[$i]}"
    gone "${pid[$i]}"
    edge "$i"
    ready "$i"
    echo "rolling: edge $i back at $(date -u +%T)" >>"$WORK/rolling.log"
    sleep "$PAUSE"
  done
) &
roller=$!
targets=$(for i in $(seq 1 $N); do printf 'http://%s,' "${client[$i]}"; done)
"$BIN" bench --target "${targets%,}" --origin-stats "$origin" --workload video \
  --objects "$OBJECTS" --object-size "${OBJECT_MIB}MiB" --concurrency "$CONCURRENCY" \
  --duration "$DURATION" --json "$OUT/rolling.json" >"$OUT/rolling.txt"
wait "$roller"
cat "$WORK/rolling.log"
grep -E "^(requests|errors|failovers|origin|bytes by source|verified)" "$OUT/rolling.txt" | sed 's/^/rolling: /' || cat "$OUT/rolling.txt"
echo "results in $OUT"
