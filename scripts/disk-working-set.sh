#!/usr/bin/env bash
# A working set four times the ring's memory, kept by the edges' disk
# tiers: `edgecache bench --local EDGES` with MEM of memory and DISK of
# disk tier per edge, and a synthetic catalogue of 4 × EDGES × MEM bytes
# (objects of OBJECT_SIZE, uniform popularity) read whole by video
# viewers, unpaced. The warmup is the first pass, which fills the ring;
# the measured run is the second. The edges' disk tiers are made under
# the working directory (--disk-dir) and removed with it.
#
#   scripts/disk-working-set.sh [EDGES] [MEM] [DISK] [DURATION]
#                               (defaults 3, 32MiB, 1GiB and 30s)
#
# It prints the bench's report, then:
#   - the origin's egress over both passes against the unique bytes the
#     viewers asked for (the bench's working_set): each byte should leave
#     the origin about once, target at most 1.05×;
#   - where the edges found the bytes they sent in the measured pass
#     (their own counters: memory, disk, peers, origin), and the share
#     the ring's memory and disks served (memory, disk and peers, whose
#     shards are in their memory or on their disks), target at least 90%.
#
# Environment: WARMUP [60s] (the first pass), OBJECT_SIZE [32MiB],
# CONCURRENCY [the number of objects], and those of scripts/compare/lib.sh
# (OUT, KEEP_WORK). Installs jq from Debian's packages if missing (as
# root). The bench's report is kept in $OUT/report.json.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

EDGES=${1:-3}
MEM=${2:-32MiB}
DISK=${3:-1GiB}
DURATION=${4:-30s}
WARMUP=${WARMUP:-60s}
OBJECT_SIZE=${OBJECT_SIZE:-32MiB}

# bytes SIZE: SIZE (KiB, MiB or GiB, or plain bytes) in bytes.
bytes() {
  case $1 in
  *GiB) echo $((${1%GiB} << 30)) ;;
  *MiB) echo $((${1%MiB} << 20)) ;;
  *KiB) echo $((${1%KiB} << 10)) ;;
  *) echo "$1" ;;
  esac
}
ring_memory=$((EDGES * $(bytes "$MEM")))
objects=$((4 * ring_memory / $(bytes "$OBJECT_SIZE")))
CONCURRENCY=${CONCURRENCY:-$objects}

need jq:jq
setup disk-working-set
build
{
  versions
  echo "# $EDGES edges, $MEM of memory and $DISK of disk each; $objects objects of $OBJECT_SIZE" \
    "($((objects * $(bytes "$OBJECT_SIZE") / MiB)) MiB, 4× the ring's $((ring_memory / MiB)) MiB of memory);" \
    "$CONCURRENCY viewers, a $WARMUP first pass, a $DURATION measured one"
} | tee "$OUT/summary.txt"

"$BIN" bench --local "$EDGES" --cache-size "$MEM" --disk-size "$DISK" --disk-dir "$WORK" \
  --workload video --objects "$objects" --object-size "$OBJECT_SIZE" --zipf 0 \
  --concurrency "$CONCURRENCY" --warmup "$WARMUP" --duration "$DURATION" \
  --json "$OUT/report.json" 2>"$WORK/bench.log" | tee -a "$OUT/summary.txt" ||
  { cat "$WORK/bench.log" >&2; exit 1; }

jq -r '.runs[0] as $r | $r.summary.tiers as $t | $r.working_set as $w
  | ($t.memory + $t.disk + $t.peer + $t.origin) as $all
  | def pct(x): if $all > 0 then (1000 * x / $all | round) / 10 else 0 end;
  "origin egress, both passes: \($w.origin_bytes / 1048576 | floor) MiB for \($w.unique_bytes / 1048576 | floor) MiB of unique bytes asked: \(($w.egress_ratio * 1000 | round) / 1000)× (target at most 1.05×)",
  "measured pass, by the edges: memory \(pct($t.memory))%, disk \(pct($t.disk))%, peers \(pct($t.peer))%, origin \(pct($t.origin))% of \($all / 1048576 | floor) MiB",
  "from the ring'"'"'s memory and disks: \(pct($t.memory + $t.disk + $t.peer))% (target at least 90%)"' \
  "$OUT/report.json" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
