#!/usr/bin/env bash
# The disk store against the device, in one run, on one file:
#   1. fills a store of SIZE (default 2GiB) in DIR (default a new directory
#      under /tmp) with 1 MiB values, once (BenchmarkDiskOpen), and reports
#      how long Open takes to rebuild its index;
#   2. REPS times (default 3), alternating: sequential reads of the store's
#      file by dd iflag=direct (1 MiB blocks), and a pass over the store's
#      values in the order they were written (BenchmarkDiskGetSequential_1MiB,
#      four Gets in flight), with O_DIRECT and then buffered with
#      fadvise(DONTNEED); each line gives MB/s and how much the page cache
#      of this cgroup grew (memory.stat: what Kubernetes charges the pod;
#      /proc/meminfo is not per container). The file's pages are dropped
#      before every pass, so no pass reads another's cache;
#   3. one plain buffered dd over the same bytes: the page cache a store
#      that used neither O_DIRECT nor DONTNEED would leave behind.
#
#   scripts/disk-vs-dd.sh [SIZE] [DIR] [REPS]
#
# SIZE takes KiB, MiB or GiB. The store's file stays in DIR (delete it by
# hand), so that a second run skips the fill.
set -euo pipefail
SIZE=${1:-2GiB}
DIR=${2:-$(mktemp -d /tmp/edgecache-disk.XXXXXX)}
REPS=${3:-3}
GO=${GO:-go}
cd "$(dirname "$0")/.."
bin=$(mktemp /tmp/edgecache-disk-test.XXXXXX)
trap 'rm -f "$bin"' EXIT
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

for rep in $(seq "$REPS"); do
  uncache
  before=$(cached)
  dd_out=$(dd if="$file" of=/dev/null bs=1M count="$values" iflag=direct 2>&1 | tail -1)
  dd_mbs=$(echo "$dd_out" | awk '{printf "%.0f", $(NF-1) * ($NF == "GB/s" ? 1000 : 1)}')
  dd_grew=$(( $(cached) - before ))
  for mode in direct buffered; do
    uncache
    before=$(cached)
    buffered=0; [ "$mode" = buffered ] && buffered=1
    store_mbs=$(EDGECACHE_DISK_BENCH_BUFFERED=$buffered "$bin" -test.run '^$' \
      -test.bench '^BenchmarkDiskGetSequential_1MiB$' -test.benchtime "${values}x" | mbs)
    grew=$(( $(cached) - before ))
    echo "rep $rep: dd iflag=direct ${dd_mbs} MB/s (cache +$((dd_grew >> 20)) MiB);" \
      "store $mode ${store_mbs} MB/s = $(awk -v s="$store_mbs" -v d="$dd_mbs" 'BEGIN {printf "%.0f", 100 * s / d}')% of dd" \
      "(cache +$((grew >> 20)) MiB)"
  done
done

uncache
before=$(cached)
dd if="$file" of=/dev/null bs=1M count="$values" 2>/dev/null
echo "plain buffered dd over the same bytes: cache +$(( ($(cached) - before) >> 20 )) MiB"
uncache
