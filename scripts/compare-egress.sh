#!/usr/bin/env bash
# Origin egress of an edgecache ring against N independent nginx slice
# caches (scripts/compare/nginx-slice.conf, one cache each), side by side in
# one run: both sit in front of the same reference origin, whose
# /.edgecache/stats counts the bytes it sends, and `edgecache bench
# --compare` drives both with the same workload and seed, spreading its
# workers over the N nodes of each. The working set fits every cache, so
# what differs is how often each byte is fetched: once for the ring, once
# per cache for independent caches.
#
#   scripts/compare-egress.sh [N] [DURATION]        (defaults 3 and 20s)
#
# Environment: OBJECTS [50] objects of SIZE_MIB [2] MiB of random bytes,
# read whole by CONCURRENCY [16] workers with uniform popularity; and those
# of scripts/compare/lib.sh (OUT, BASE_PORT, KEEP_WORK). Installs nginx and
# curl from Debian's packages if missing (as root). The bench's report is
# printed and kept in $OUT/report.json.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

N=${1:-3}
DURATION=${2:-20s}
OBJECTS=${OBJECTS:-50}
SIZE_MIB=${SIZE_MIB:-2}
CONCURRENCY=${CONCURRENCY:-16}

need nginx:nginx curl:curl
setup compare-egress
build
versions | tee "$OUT/summary.txt"

# The origin's objects, and the list the bench reads.
bytes=$((SIZE_MIB * MiB))
mkdir -p "$WORK/objects"
: >"$WORK/paths.txt"
for i in $(seq -w 1 "$OBJECTS"); do
  head -c "$bytes" /dev/urandom >"$WORK/objects/obj$i.bin"
  echo "/obj$i.bin $bytes" >>"$WORK/paths.txt"
done
chmod -R a+rX "$WORK/objects"

take_port
p_origin=$PORT
"$BIN" origin --dir "$WORK/objects" --listen "127.0.0.1:$p_origin" 2>"$WORK/origin.log" &
PIDS+=($!)
# A second origin process over the same files answers the bench's sampled
# verification, so that checking bytes is not counted as origin egress.
take_port
p_verify=$PORT
"$BIN" origin --dir "$WORK/objects" --listen "127.0.0.1:$p_verify" 2>"$WORK/verify-origin.log" &
PIDS+=($!)
wait_http "http://127.0.0.1:$p_origin/.edgecache/stats"
wait_http "http://127.0.0.1:$p_verify/.edgecache/stats"

# The edgecache ring.
export EDGECACHE_CLUSTER_SECRET=compare-egress-secret-0123456789
peers=() clients=() admins=()
for i in $(seq "$N"); do
  take_port
  p=$PORT
  peers+=("127.0.0.1:$p")
  take_port
  p=$PORT
  clients+=("http://127.0.0.1:$p")
  take_port
  p=$PORT
  admins+=("http://127.0.0.1:$p")
done
peerlist=$(IFS=,; echo "${peers[*]}")
for i in $(seq 0 $((N - 1))); do
  start_edge "edge$i" --origin "http://127.0.0.1:$p_origin" --listen "${clients[$i]#http://}" \
    --peer-listen "${peers[$i]}" --admin-listen "${admins[$i]#http://}" --peers "$peerlist" --cache-size 512MiB
done
for a in "${admins[@]}"; do wait_http "$a/readyz"; done

# N independent nginx slice caches.
caches=()
for i in $(seq "$N"); do
  take_port
  p=$PORT
  start_nginx "nginx$i" nginx-slice.conf 1 "$p" "@ORIGIN@=127.0.0.1:$p_origin"
  caches+=("http://127.0.0.1:$p")
done

"$BIN" bench \
  --compare "edgecache=$(IFS=,; echo "${clients[*]}")" \
  --compare "nginx-slice=$(IFS=,; echo "${caches[*]}")" \
  --paths "$WORK/paths.txt" --workload segments --zipf 0 --concurrency "$CONCURRENCY" \
  --duration "$DURATION" --origin-stats "http://127.0.0.1:$p_origin" \
  --verify-origin "http://127.0.0.1:$p_verify" --json "$OUT/report.json" 2>"$WORK/bench.log" | tee -a "$OUT/summary.txt" ||
  { cat "$WORK/bench.log" >&2; exit 1; }
echo "unique bytes in the working set: $((OBJECTS * bytes)) ($OBJECTS objects of $SIZE_MIB MiB); results in $OUT" | tee -a "$OUT/summary.txt"
