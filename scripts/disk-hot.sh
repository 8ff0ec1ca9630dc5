#!/usr/bin/env bash
# Hot 1 MiB ranges served from the disk tier, side by side in one run with
# the same ranges served from memory and with the device itself:
#   memory  one edge, --cache-size 1GiB: every range a memory hit
#   disk    one edge, --cache-size MEMORY (default 16MiB) and a disk tier of
#           2 GiB in DISK_DIR, 90% of it for decoded chunks (an edge alone
#           keeps no shards): nearly every chunk read from the disk (a
#           chunk read from the disk twice within the memory's turnover is
#           kept in the small memory, so a few are memory hits; the edge's
#           counters say how many)
#   dd      dd iflag=direct bs=1M over the disk tier's file, right after
#           each disk run: the device's sequential read bandwidth
# Both edges sit in front of nginx serving the data set (scripts/compare/),
# are warmed and checked first (the second pass must be all hits, a disk
# hit being one), and are measured with wrk and scripts/compare/range1m.lua,
# REPS times in turn, WRK's threads and connections.
#
#   scripts/disk-hot.sh
#
# Environment (defaults in brackets): REPS [3], DURATION [10s], WRK
# ["t2c64"], MEMORY [16MiB], DISK_DIR [a directory under /tmp: put it on
# the device to measure], and those of scripts/compare/lib.sh. Prints each
# run and the medians: disk MiB/s as a share of memory's and of dd's.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

REPS=${REPS:-3}
DURATION=${DURATION:-10s}
WRK=${WRK:-t2c64}
MEMORY=${MEMORY:-16MiB}

need nginx:nginx wrk:wrk curl:curl
setup disk-hot
DISK_DIR=${DISK_DIR:-$WORK/disk}
build
make_data
versions | tee "$OUT/summary.txt"

start_origin 2
origin=http://$ORIGIN_HP
start_one_edge memory "$origin" --cache-size 1GiB
mem_hp=127.0.0.1:$P_EDGE mem_pid=$! mem_admin=127.0.0.1:$P_ADMIN
# An edge alone keeps decoded chunks and no shards: give them the disk.
start_one_edge disk "$origin" --cache-size "$MEMORY" --disk-path "$DISK_DIR" --disk-size 2GiB --disk-chunk-share 0.9
disk_hp=127.0.0.1:$P_EDGE disk_pid=$! disk_admin=127.0.0.1:$P_ADMIN
wait_http "http://$mem_admin/readyz"
wait_http "http://$disk_admin/readyz"
warm "$mem_hp" | tee -a "$OUT/summary.txt"
warm "$disk_hp" | tee -a "$OUT/summary.txt"

file=$DISK_DIR/chunks.edgecache # the decoded chunks: what the ranges read
# metric ADMIN NAME: the sum of an edge's samples of metric NAME.
metric() {
  curl -sf "http://$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}'
}
threads=${WRK#t} threads=${threads%c*} conns=${WRK#*c}
tsv=$OUT/runs.tsv
: >"$tsv"
for rep in $(seq "$REPS"); do
  row=$(measure "$mem_hp" "$mem_pid" range1m "$threads" "$conns" "$DURATION")
  echo "memory	$rep	$row" >>"$tsv"
  h0=$(metric "$disk_admin" edgecache_disk_hits_total) r0=$(metric "$disk_admin" edgecache_client_requests_total)
  row=$(measure "$disk_hp" "$disk_pid" range1m "$threads" "$conns" "$DURATION")
  echo "disk	$rep	$row" >>"$tsv"
  hits=$(( $(metric "$disk_admin" edgecache_disk_hits_total) - h0 ))
  reqs=$(( $(metric "$disk_admin" edgecache_client_requests_total) - r0 ))
  # A chunk is 1 MiB and a range 1 MiB on a chunk boundary: one chunk a request.
  dd_mbs=$(dd if="$file" of=/dev/null bs=1M count=1024 iflag=direct 2>&1 | tail -1 |
    awk '{printf "%.0f", ($(NF-1) * ($NF == "GB/s" ? 1000 : 1)) * 1e6 / 1048576}')
  echo "dd	$rep	$dd_mbs" >>"$tsv"
  awk -F'\t' -v r="$rep" -v d="$dd_mbs" -v h="$hits" -v q="$reqs" '
    $1 == "memory" && $2 == r {m = $4} $1 == "disk" && $2 == r {k = $4; p = $6}
    END {printf "rep %d: memory %.0f MiB/s, disk %.0f MiB/s (p99 %s ms; %.0f%% of its chunks from the disk), dd iflag=direct %.0f MiB/s\n", r, m, k, p, 100 * h / (q ? q : 1), d}' "$tsv" |
    tee -a "$OUT/summary.txt"
done
# col NAME FIELD: the median of a column over the reps.
col() { awk -F'\t' -v n="$1" -v k="$2" '$1 == n {print $k}' "$tsv" | median; }
awk -v m="$(col memory 4)" -v k="$(col disk 4)" -v d="$(col dd 3)" -v n="$REPS" -v w="$WRK" 'BEGIN {
  printf "medians of %d runs (wrk %s): memory %.0f MiB/s, disk %.0f MiB/s, dd %.0f MiB/s: disk = %.2f× memory, %.0f%% of dd\n", n, w, m, k, d, k / m, 100 * k / d
}' | tee -a "$OUT/summary.txt"
echo "# results in $OUT"
