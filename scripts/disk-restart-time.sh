#!/usr/bin/env bash
# How long an edge holding a full disk takes to restart: one edge in front
# of the reference origin's synthetic objects, with --disk-size SIZE
# (default 10GiB) in DISK_DIR, filled by reading objects of 64 MiB whole
# through it until its disk holds SIZE's worth (an edge alone keeps
# decoded chunks and no shards: --disk-chunk-share 0.95 gives them nearly
# all of it); then, twice (after a SIGTERM, which writes the queue out,
# and after a kill -9, which loses it), the time from starting the process
# to /readyz answering and to the first byte of an object it held, with
# the entries its index holds before and after, and the bytes the origin
# sent while the object was read whole again (the object is 64 MiB; its
# chunks come from the disk).
#
#   scripts/disk-restart-time.sh
#
# Environment (defaults in brackets): SIZE [10GiB], DISK_DIR [a directory
# under /tmp: put it on the device to measure; it needs SIZE free], and
# those of scripts/compare/lib.sh (OUT, BASE_PORT, KEEP_WORK). Filling 10
# GiB takes a minute or two.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

SIZE=${SIZE:-10GiB}
need curl:curl python3:python3
setup disk-restart-time
DISK_DIR=${DISK_DIR:-$WORK/disk}
build
case $SIZE in
  *GiB) mib=$(( ${SIZE%GiB} * 1024 )) ;;
  *MiB) mib=${SIZE%MiB} ;;
  *) echo "SIZE must end in MiB or GiB" >&2; exit 2 ;;
esac

take_port
p_origin=$PORT
origin=http://127.0.0.1:$p_origin
"$BIN" origin --synthetic --listen "127.0.0.1:$p_origin" 2>"$WORK/origin.log" &
PIDS+=($!)
wait_http "$origin/.edgecache/stats"
take_port
p_edge=$PORT
take_port
p_peer=$PORT
take_port
p_admin=$PORT
export EDGECACHE_CLUSTER_SECRET=disk-restart-time-secret-0123456789
# edge: starts the edge on its disk, as $pid.
edge() {
  "$BIN" edge --origin "$origin" --listen "127.0.0.1:$p_edge" --peer-listen "127.0.0.1:$p_peer" \
    --admin-listen "127.0.0.1:$p_admin" --cache-size 64MiB --disk-path "$DISK_DIR" --disk-size "$SIZE" \
    --disk-chunk-share 0.95 2>>"$WORK/edge.log" &
  pid=$!
  PIDS+=($!)
}
status() { curl -sf "http://127.0.0.1:$p_admin/status.json"; }
# disk_field NAME: the sum of field NAME over the disk tier's stores.
disk_field() { status | python3 -c 'import json, sys; print(sum(d[sys.argv[1]] for d in json.load(sys.stdin)["disks"]))' "$1"; }
origin_bytes() { curl -sf "$origin/.edgecache/stats" | sed -E 's/.*"body_bytes":([0-9]+).*/\1/'; }
obj=$((64 * MiB))
path() { echo "/synthetic/$obj/fill-$1.bin"; }

edge
wait_http "http://127.0.0.1:$p_admin/readyz"
t0=$SECONDS
n=0
while [ "$(disk_field bytes)" -lt $(( (mib - 256) * MiB )) ] && [ $n -lt $(( mib / 64 * 2 )) ]; do
  curl -sf -o /dev/null "http://127.0.0.1:$p_edge$(path $n)"
  n=$((n + 1))
done
sleep 3 # the write queues empty
echo "filled: $n objects of 64 MiB in $((SECONDS - t0)) s; disk holds $(( $(disk_field bytes) / MiB )) MiB in $(disk_field entries) entries of a $SIZE budget"
# The newest objects are certain to be on the disk: eviction is FIFO.
probe=$(path $((n - 1)))

# restart SIGNAL: stops the edge with SIGNAL, starts it again and prints
# the timings.
restart() {
  local before t_start t_ready t_byte o0
  before=$(disk_field entries)
  kill "-$1" "$pid"
  while alive "$pid"; do sleep 0.05; done
  t_start=$(date +%s.%N)
  edge
  wait_http "http://127.0.0.1:$p_admin/readyz"
  t_ready=$(date +%s.%N)
  o0=$(origin_bytes)
  curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$p_edge$probe"
  t_byte=$(date +%s.%N)
  curl -sf -o /dev/null "http://127.0.0.1:$p_edge$probe"
  awk -v s="$1" -v a="$t_start" -v r="$t_ready" -v b="$t_byte" -v e0="$before" -v e1="$(disk_field entries)" \
    -v o="$(( $(origin_bytes) - o0 ))" -v l="$(grep 'disk store open' "$WORK/edge.log" | tail -2 | grep -o 'rebuild=[^ ]*' | paste -sd ' ')" 'BEGIN {
    printf "after SIG%s: ready in %.2f s, first byte of a held object in %.2f s (index %s); entries %d before, %d after; origin sent %d bytes for that object\n",
      s, r - a, b - a, l, e0, e1, o
  }' | tee -a "$OUT/summary.txt"
}
restart TERM
restart KILL
echo "# results in $OUT"
