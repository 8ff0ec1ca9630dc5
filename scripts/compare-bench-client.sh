#!/usr/bin/env bash
# Is `edgecache bench` a fast enough client? It and wrk take turns driving
# the same server, nginx serving the data set's 256 MiB /big.bin from the
# page cache (scripts/compare/nginx-origin.conf), with the same load:
# random 1 MiB ranges over 16 connections. The bench checks every
# response's status, length and Content-Range as it goes; wrk checks
# nothing. If the bench moves as many bytes as wrk, its figures elsewhere
# measure the server, not the bench.
#
#   scripts/compare-bench-client.sh [REPS] [DURATION]     (defaults 3 and 10s)
#
# Environment: those of scripts/compare/lib.sh (DATA, OUT, BASE_PORT,
# KEEP_WORK). Installs nginx, wrk and curl from Debian's packages if missing
# (as root).
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

REPS=${1:-3}
DURATION=${2:-10s}

need nginx:nginx wrk:wrk curl:curl
setup compare-bench-client
build
make_data
versions | tee "$OUT/summary.txt"

start_origin 2
target=http://$ORIGIN_HP
echo "/big.bin $((256 * MiB))" >"$WORK/paths.txt"
warm "$ORIGIN_HP" >/dev/null

for rep in $(seq "$REPS"); do
  wrk -t1 -c16 -d"$DURATION" -s "$COMPARE_DIR/range1m.lua" "$target" |
    awk '/^RESULT/ { for (k = 2; k <= NF; k++) { split($k, kv, "="); r[kv[1]] = kv[2] }
      printf "wrk -t1 -c16 range1m.lua       %7.0f MiB/s  errors %d\n", r["mib_s"], r["errors"] }' |
    tee -a "$OUT/summary.txt"
  "$BIN" bench --target "$target" --paths "$WORK/paths.txt" --workload range --range-size 1MiB \
    --concurrency 16 --duration "$DURATION" --seed "$rep" 2>"$WORK/bench.log" >"$WORK/bench.out" ||
    { cat "$WORK/bench.out" "$WORK/bench.log" >&2; exit 1; }
  awk '/^throughput/ { mib = $(NF - 1) } /^requests/ { errors = $(NF - 1) }
    END { printf "edgecache bench --concurrency 16 %7.0f MiB/s  errors %s\n", mib, errors }' "$WORK/bench.out" |
    tee -a "$OUT/summary.txt"
done
echo "# results in $OUT"
