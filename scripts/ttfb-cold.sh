#!/usr/bin/env bash
# Time to first byte of whole objects no edge has seen, by size: one edge in
# front of `edgecache origin --synthetic`, and curl's time_starttransfer of
# a GET of each object, three objects of each size, every object requested
# once. An edge's headers wait for at most two chunks, so the first byte of
# a 1 GiB object should come as soon as a 1 MiB one's.
#
#   scripts/ttfb-cold.sh [SIZES...]        (default: 1MiB 100MiB 1GiB)
#
# Environment: those of scripts/compare/lib.sh (OUT, BASE_PORT, KEEP_WORK).
# Installs curl from Debian's packages if missing (as root).
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1MiB 100MiB 1GiB)

need curl:curl
setup ttfb-cold
build
versions | tee "$OUT/summary.txt"

take_port
p_origin=$PORT
"$BIN" origin --synthetic --listen "127.0.0.1:$p_origin" 2>"$WORK/origin.log" &
PIDS+=($!)
start_one_edge edge "http://127.0.0.1:$p_origin"
wait_http "http://127.0.0.1:$P_ADMIN/readyz"

# bytes SIZE: SIZE (KiB, MiB or GiB, or plain bytes) in bytes.
bytes() {
  case $1 in
  *GiB) echo $((${1%GiB} << 30)) ;;
  *MiB) echo $((${1%MiB} << 20)) ;;
  *KiB) echo $((${1%KiB} << 10)) ;;
  *) echo "$1" ;;
  esac
}
run=$(date +%s)
for size in "${sizes[@]}"; do
  n=$(bytes "$size")
  line="$size:"
  for i in 1 2 3; do
    # The whole body is read (to /dev/null): the edge serves it as a
    # player would receive it, but only the first byte is timed.
    t=$(curl -sf -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$P_EDGE/synthetic/$n/ttfb-$run-$i")
    line+=" $(awk -v t="$t" 'BEGIN {printf "%.1f ms", t * 1000}')"
  done
  echo "$line" | tee -a "$OUT/summary.txt"
done
echo "# results in $OUT"
