#!/usr/bin/env bash
# The disk store against the device, in one run, on one file:
#   1. fills a store of SIZE (default 2GiB) in DIR (default a new directory
#      under /tmp) with 1 MiB values, once (BenchmarkDiskOpen), and reports
#      how long Open takes to rebuild its index;
#   2. REPS times (default 5), three passes over the store's values in the
#      order they were written, four Gets in flight: GetValue with O_DIRECT
#      (BenchmarkDiskGetSequential_1MiB), the same buffered with
#      fadvise(DONTNEED), and Get with O_DIRECT, whose values the caller
#      keeps (BenchmarkDiskGetSequentialKept_1MiB); before the first and
#      after each, a sequential read of the store's file by dd iflag=direct
#      (1 MiB blocks). Each pass is given as MB/s and as a share of the mean
#      of the dd's just before and after it, with the load average and how
#      much the page cache of this cgroup grew (memory.stat: what
#      Kubernetes charges the pod; /proc/meminfo is not per container).
#      The file's pages are dropped before every pass, so no pass reads
#      another's cache;
#   3. dd's median MB/s and each pass's median share of dd, with their
#      ranges over the reps;
#   4. one plain buffered dd over the same bytes: the page cache a store
#      that used neither O_DIRECT nor DONTNEED would leave behind.
#
#   scripts/disk-vs-dd.sh [SIZE] [DIR] [REPS]
#
# SIZE takes MiB or GiB. The store's file stays in DIR (delete it by
# hand), so that a second run skips the fill.
set -euo pipefail
SIZE=${1:-2GiB}
DIR=${2:-$(mktemp -d /tmp/edgecache-disk.XXXXXX)}
REPS=${3:-5}
GO=${GO:-go}
cd "$(dirname "$0")/.."
bin=$(mktemp /tmp/edgecache-disk-test.XXXXXX)
shares=$(mktemp /tmp/edgecache-disk-shares.XXXXXX)
trap 'rm -f "$bin" "$shares"' EXIT
$GO test -c -o "$bin" ./chunk/disk

case $SIZE in
  *GiB) mib=$(( ${SIZE%GiB} * 1024 )) ;;
  *MiB) mib=${SIZE%MiB} ;;
  *) echo "SIZE must end in MiB or GiB" >&2; exit 2 ;;
esac
# A full store of 16 MiB regions holds 15 values of 1 MiB per region, all
# regions but the one the writer would open next.
values=$(( (mib / 16 - 1) * 15 ))
file=$DIR/seq/edgecache.disk
export EDGECACHE_DISK_BENCH_DIR=$DIR EDGECACHE_DISK_BENCH_SIZE=$SIZE

# cached prints the page cache charged to this cgroup, in bytes.
cached() {
  if [ -f /sys/fs/cgroup/memory.stat ]; then
    awk '$1 == "file" {print $2}' /sys/fs/cgroup/memory.stat
  else
    awk '$1 == "cache" {print $2}' "/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)/memory.stat"
  fi
}
# uncache drops the file's pages (posix_fadvise DONTNEED on all of it).
uncache() { dd if="$file" iflag=nocache count=0 status=none; }
mbs() { awk '/MB\/s/ {for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i}'; }

echo "store: $SIZE in $file, $values values of 1 MiB"
"$bin" -test.run '^$' -test.bench '^BenchmarkDiskOpen$' -test.benchtime 3x |
  awk '/BenchmarkDiskOpen/ {for (i = 1; i <= NF; i++) if ($(i+1) == "rebuild-ms") r = $i; print "open: " r " ms to rebuild the index (mean of 3)"}'

# inmib prints a byte count in MiB, signed.
inmib() { printf "%+d MiB" $(( $1 / 1048576 )); }
# dd_pass reads the store's file with dd iflag=direct and sets dd_mbs and
# dd_line.
dd_pass() {
  uncache
  local before
  before=$(cached)
  dd_mbs=$(dd if="$file" of=/dev/null bs=1M count="$values" iflag=direct 2>&1 | tail -1 |
    awk '{printf "%.0f", $(NF-1) * ($NF == "GB/s" ? 1000 : 1)}')
  echo "dd $dd_mbs" >>"$shares"
  dd_line="rep $rep: dd iflag=direct ${dd_mbs} MB/s (cache $(inmib $(( $(cached) - before ))); load $(cut -d' ' -f1 /proc/loadavg))"
}
# pass NAME BENCH BUFFERED runs one pass of the store and then one of dd,
# prints both, and files the pass's share of the mean of the dd's just
# before and after it, so that a device whose speed drifts during the run
# is compared with itself.
pass() {
  local before store_mbs line share dd_before=$dd_mbs
  uncache
  before=$(cached)
  store_mbs=$(EDGECACHE_DISK_BENCH_BUFFERED=$3 "$bin" -test.run '^$' \
    -test.bench "^$2\$" -test.benchtime "${values}x" | mbs)
  line="rep $rep: $1 ${store_mbs} MB/s (cache $(inmib $(( $(cached) - before ))); load $(cut -d' ' -f1 /proc/loadavg))"
  dd_pass
  share=$(awk -v s="$store_mbs" -v a="$dd_before" -v b="$dd_mbs" 'BEGIN {printf "%.0f", 200 * s / (a + b)}')
  echo "$1 $share" >>"$shares"
  echo "$line = ${share}% of the dd's around it"
  echo "$dd_line"
}
rep=1
dd_pass
echo "$dd_line"
for rep in $(seq "$REPS"); do
  pass "GetValue direct" BenchmarkDiskGetSequential_1MiB 0
  pass "GetValue buffered" BenchmarkDiskGetSequential_1MiB 1
  pass "Get direct" BenchmarkDiskGetSequentialKept_1MiB 0
done
# summary NAME UNIT prints the median and range of NAME's figures.
summary() {
  grep "^$1 " "$shares" | awk '{print $NF}' | sort -n |
    awk -v p="$1" -v u="$2" '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s: median %.0f%s, range %d-%d%s over %d runs\n", p, m, u, v[1], v[NR], u, NR}'
}
summary dd " MB/s"
for p in "GetValue direct" "GetValue buffered" "Get direct"; do summary "$p" "% of dd"; done

uncache
before=$(cached)
dd if="$file" of=/dev/null bs=1M count="$values" 2>/dev/null
echo "plain buffered dd over the same bytes: cache $(inmib $(( $(cached) - before )))"
uncache
