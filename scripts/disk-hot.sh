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
#   dd      dd iflag=direct bs=1M over the part of the disk tier's file
#           the store has written, right after each disk run: the
#           device's sequential read bandwidth
#   device  chunk/disk's BenchmarkReadBuffers/hugepages in DISK_DIR right
#           after dd: four readers of 1 MiB records at random places,
#           into buffers in huge pages as the store's (dd reads into 4 KiB
#           pages, which a virtio disk takes in two requests a read; see
#           docs/design.md, "Index and memory")
# Both edges sit in front of nginx serving the data set (scripts/compare/),
# are warmed and checked first (the second pass must be all hits, a disk
# hit being one), and are measured with wrk and scripts/compare/range1m.lua,
# REPS times in turn, WRK's threads and connections.
#
#   scripts/disk-hot.sh
#
# Environment (defaults in brackets): REPS [3], DURATION [10s], WRK
# ["t2c64"], MEMORY [16MiB], DISK_DIR [a directory under /tmp: put it on
# the device to measure], DEVICE_MIBS [none: the device as it is; a
# number caps the disk edge's and dd's reads of the device to that many
# MiB/s with the cgroup v1 blkio throttle, as root, to measure where the
# device and not the CPU is the bound], and those of scripts/compare/lib.sh.
# Prints each run (with the mean time a disk read took for the edge, and
# what the device delivered meanwhile by the kernel's counters: its MiB/s
# and its own time a read) and the medians: disk MiB/s as a share of
# memory's, of dd's and of the device's into huge pages.
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
(cd "$REPO" && "$GO" test -c -o "$WORK/disk.test" ./chunk/disk/)
make_data
versions | tee "$OUT/summary.txt"

start_origin 2
origin=http://$ORIGIN_HP
start_one_edge memory "$origin" --cache-size 1GiB
mem_hp=127.0.0.1:$P_EDGE mem_pid=$! mem_admin=127.0.0.1:$P_ADMIN
# An edge alone keeps decoded chunks and no shards: give them the disk.
start_one_edge disk "$origin" --cache-size "$MEMORY" --disk-path "$DISK_DIR" --disk-size 2GiB --disk-chunk-share 0.9
disk_hp=127.0.0.1:$P_EDGE disk_pid=$! disk_admin=127.0.0.1:$P_ADMIN
mkdir -p "$DISK_DIR"
dev=$(findmnt -no SOURCE --target "$DISK_DIR")
# The kernel's counters of the block device DISK_DIR is on, if it is one:
# what the device delivered during a disk run, and its own mean latency
# per read, against the edge's (the difference is the wait of a reader
# for the CPU once its read is done).
devstat=/sys/class/block/$(basename "$dev")/stat
[ -r "$devstat" ] || devstat=/dev/null
# throttled: runs the rest of its arguments as a command, in the blkio
# cgroup when DEVICE_MIBS is set.
throttled() { "$@"; }
if [ -n "${DEVICE_MIBS:-}" ]; then
  blkio=/sys/fs/cgroup/blkio
  [ -w "$blkio" ] || { echo "DEVICE_MIBS needs root and the cgroup v1 blkio hierarchy at $blkio" >&2; exit 2; }
  parent=$(lsblk -no PKNAME "$dev" | head -1)
  [ -n "$parent" ] && dev=/dev/$parent # the throttle applies to the whole disk
  cg=$blkio/edgecache-disk-hot-$$
  mkdir "$cg"
  trap 'stop_all; rmdir "$cg" 2>/dev/null || true' EXIT
  echo "$(lsblk -dno MAJ:MIN "$dev" | tr -d ' ') $((DEVICE_MIBS * MiB))" >"$cg/blkio.throttle.read_bps_device"
  echo "$disk_pid" >"$cg/cgroup.procs"
  throttled() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }
  echo "device $dev capped at $DEVICE_MIBS MiB/s of reads for the disk edge and dd" | tee -a "$OUT/summary.txt"
fi
wait_http "http://$mem_admin/readyz"
wait_http "http://$disk_admin/readyz"
warm "$mem_hp" | tee -a "$OUT/summary.txt"
warm "$disk_hp" | tee -a "$OUT/summary.txt"

file=$DISK_DIR/chunks.edgecache # the decoded chunks: what the ranges read
# metric ADMIN NAME [SCALE]: the sum of an edge's samples of metric NAME,
# times SCALE (default 1), as a whole number.
metric() {
  curl -sf "http://$1/metrics" | awk -v m="$2" -v x="${3:-1}" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s * x}'
}
threads=${WRK#t} threads=${threads%c*} conns=${WRK#*c}
tsv=$OUT/runs.tsv
: >"$tsv"
for rep in $(seq "$REPS"); do
  row=$(measure "$mem_hp" "$mem_pid" range1m "$threads" "$conns" "$DURATION")
  echo "memory	$rep	$row" >>"$tsv"
  h0=$(metric "$disk_admin" edgecache_disk_hits_total) r0=$(metric "$disk_admin" edgecache_client_requests_total)
  n0=$(metric "$disk_admin" edgecache_disk_read_seconds_count) s0=$(metric "$disk_admin" edgecache_disk_read_seconds_sum 1000)
  d0=$(cat "$devstat") t0=$(date +%s%N)
  row=$(measure "$disk_hp" "$disk_pid" range1m "$threads" "$conns" "$DURATION")
  d1=$(cat "$devstat") t1=$(date +%s%N)
  echo "disk	$rep	$row" >>"$tsv"
  hits=$(( $(metric "$disk_admin" edgecache_disk_hits_total) - h0 ))
  reqs=$(( $(metric "$disk_admin" edgecache_client_requests_total) - r0 ))
  edge_ms=$(awk -v n=$(( $(metric "$disk_admin" edgecache_disk_read_seconds_count) - n0 )) \
    -v s=$(( $(metric "$disk_admin" edgecache_disk_read_seconds_sum 1000) - s0 )) 'BEGIN {printf "%.2f", n ? s / n : 0}')
  # Fields of the stat file: 1 reads, 3 sectors read, 4 ms reading.
  device=$(echo "$d0 $d1" | awk -v ns=$((t1 - t0)) 'NF < 34 {print "n/a"; exit}
    {k = NF / 2; r = $(k + 1) - $1
     printf "%.0f MiB/s, %.2f ms a read", ($(k + 3) - $3) * 512 / 1048576 / (ns / 1e9), r ? ($(k + 4) - $4) / r : 0}')
  # A chunk is 1 MiB and a range 1 MiB on a chunk boundary: one chunk a request.
  # Only the part of the file the store has written (the rest is
  # allocated but unwritten, and reads of it never reach the device), read
  # over and over up to 1 GiB: a short read outruns a throttle's slices.
  written=$(( $(metric "$disk_admin" edgecache_disk_bytes) / MiB ))
  dd_mbs=$(for _ in $(seq $(( (1024 + written - 1) / written ))); do
      throttled dd if="$file" of=/dev/null bs=1M count="$written" iflag=direct 2>&1 | tail -1
    done | awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "s,") s += $i; b += $1}
      END {printf "%.0f", b / s / 1048576}')
  echo "dd	$rep	$dd_mbs" >>"$tsv"
  mkdir -p "$DISK_DIR/bench"
  dev_mbs=$(EDGECACHE_DISK_BENCH_DIR=$DISK_DIR/bench throttled "$WORK/disk.test" -test.run '^$' \
      -test.bench 'ReadBuffers/hugepages' -test.benchtime 2s |
    awk '$NF == "MB/s" {printf "%.0f", $(NF - 1) * 1e6 / 1048576}')
  echo "device	$rep	$dev_mbs" >>"$tsv"
  awk -F'\t' -v r="$rep" -v d="$dd_mbs" -v b="$dev_mbs" -v h="$hits" -v q="$reqs" -v e="$edge_ms" -v dev="$device" '
    $1 == "memory" && $2 == r {m = $4} $1 == "disk" && $2 == r {k = $4; p = $6}
    END {printf "rep %d: memory %.0f MiB/s, disk %.0f MiB/s (p99 %s ms; %.0f%% of its chunks from the disk; %s ms a read for the edge, the device %s), dd iflag=direct %.0f MiB/s, device into huge pages %.0f MiB/s\n", r, m, k, p, 100 * h / (q ? q : 1), e, dev, d, b}' "$tsv" |
    tee -a "$OUT/summary.txt"
done
# col NAME FIELD: the median of a column over the reps.
col() { awk -F'\t' -v n="$1" -v k="$2" '$1 == n {print $k}' "$tsv" | median; }
awk -v m="$(col memory 4)" -v k="$(col disk 4)" -v d="$(col dd 3)" -v b="$(col device 3)" -v n="$REPS" -v w="$WRK" 'BEGIN {
  printf "medians of %d runs (wrk %s): memory %.0f MiB/s, disk %.0f MiB/s, dd %.0f MiB/s, device into huge pages %.0f MiB/s: disk = %.2f× memory, %.0f%% of dd, %.0f%% of the device into huge pages\n", n, w, m, k, d, b, k / m, 100 * k / d, 100 * k / b
}' | tee -a "$OUT/summary.txt"
echo "# results in $OUT"
