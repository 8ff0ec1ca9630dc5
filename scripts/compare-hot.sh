#!/usr/bin/env bash
# Hot data served by one edge, side by side with nginx and Varnish: the
# throughput of cached 1 MiB random ranges (and, optionally, whole 2 MiB
# segments) through
#   origin       nginx serving the files itself (sendfile): the ceiling
#   nginx-slice  nginx's slice cache in front of that origin
#   varnish      Varnish, objects in memory, in front of the same origin
#   edgecache    one edge in front of the same origin, --cache-size 1GiB
# with wrk and the scripts in scripts/compare/. Every target is warmed and
# checked first (a second pass must be all hits), so the runs measure hits.
#
#   scripts/compare-hot.sh
#
# Modes: "free", every process on both cores; "pinned", the servers
# started on core 1 (one nginx worker, one Varnish thread pool, and
# GOMAXPROCS 1 for the edge, as taskset gives it) and wrk on core 0, which
# compares what each server does with one core.
#
# Environment (defaults in brackets): REPS [3] runs of each cell, the
# median reported; DURATION [10s] of each run; MODES ["free pinned"];
# CONCS ["t1c16 t2c64"], wrk's -t and -c; WORKLOADS ["range1m"], add
# "segments" for whole objects; TARGETS ["origin nginx-slice varnish
# edgecache"]; SERVER_CORE [1] and WRK_CORE [0] for pinned runs; and
# those of scripts/compare/lib.sh (DATA, OUT, BASE_PORT, KEEP_WORK).
#
# It installs nginx, varnish, wrk and curl from Debian's packages if they
# are missing (as root). The runs take REPS × modes × workloads × CONCS ×
# targets × DURATION, plus half a minute or more per mode to start and
# warm: 9–10 minutes with the defaults. Results: one line per run in $OUT/runs.tsv,
# the medians in $OUT/summary.txt and as a Markdown table at the end.
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

REPS=${REPS:-3}
DURATION=${DURATION:-10s}
MODES=${MODES:-free pinned}
CONCS=${CONCS:-t1c16 t2c64}
WORKLOADS=${WORKLOADS:-range1m}
TARGETS=${TARGETS:-origin nginx-slice varnish edgecache}
SERVER_CORE=${SERVER_CORE:-1}
WRK_CORE=${WRK_CORE:-0}

need nginx:nginx varnish:varnishd wrk:wrk curl:curl
setup compare-hot
build
make_data
versions | tee "$OUT/summary.txt"

declare -A hp
take_port
p_origin=$PORT
take_port
p_slice=$PORT
take_port
p_varnish=$PORT
take_port
p_edge=$PORT
take_port
p_edge_peer=$PORT
take_port
p_edge_admin=$PORT
hp=([origin]=127.0.0.1:$p_origin [nginx-slice]=127.0.0.1:$p_slice [varnish]=127.0.0.1:$p_varnish [edgecache]=127.0.0.1:$p_edge)

tsv=$OUT/runs.tsv
printf 'mode\ttarget\tworkload\tconc\trep\treq_s\tmib_s\tp50_ms\tp99_ms\terrors\tbytes_per_req\tserver_cores\twrk_cores\tidle_cores\n' >"$tsv"

for mode in $MODES; do
  case $mode in
  free) ON=() WRK_ON=() workers=2 ;;
  pinned) ON=(taskset -c "$SERVER_CORE") WRK_ON=(taskset -c "$WRK_CORE") workers=1 ;;
  *) echo "unknown mode $mode: free or pinned" >&2; exit 2 ;;
  esac
  # The origin is always started: the caches fetch from it.
  start_nginx "origin-$mode" nginx-origin.conf "$workers" "$p_origin" "@DATA@=$DATA"
  declare -A pid=([origin]=$(pid_of_daemon "origin-$mode"))
  for t in $TARGETS; do
    case $t in
    origin) ;;
    nginx-slice)
      start_nginx "slice-$mode" nginx-slice.conf "$workers" "$p_slice" "@ORIGIN@=127.0.0.1:$p_origin"
      pid[$t]=$(pid_of_daemon "slice-$mode")
      ;;
    varnish)
      start_varnish "varnish-$mode" "$p_varnish" "127.0.0.1:$p_origin" "$workers"
      pid[$t]=$(pid_of_daemon "varnish-$mode")
      ;;
    edgecache)
      start_edge "edge-$mode" --origin "http://127.0.0.1:$p_origin" --listen "127.0.0.1:$p_edge" \
        --peer-listen "127.0.0.1:$p_edge_peer" --admin-listen "127.0.0.1:$p_edge_admin" --cache-size 1GiB
      pid[$t]=$!
      wait_http "http://127.0.0.1:$p_edge_admin/readyz"
      ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
    esac
  done
  for t in $TARGETS; do warm "${hp[$t]}" | sed "s/^/# $mode $t: /" | tee -a "$OUT/summary.txt"; done

  for rep in $(seq "$REPS"); do
    for wl in $WORKLOADS; do
      for conc in $CONCS; do
        threads=${conc#t} threads=${threads%c*} conns=${conc#*c}
        for t in $TARGETS; do
          row=$(measure "${hp[$t]}" "${pid[$t]}" "$wl" "$threads" "$conns" "$DURATION")
          printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$t" "$wl" "$conc" "$rep" "$row" >>"$tsv"
          printf '%-6s %-11s %-8s %-5s rep %s: %s\n' "$mode" "$t" "$wl" "$conc" "$rep" "$(echo "$row" | awk -F'\t' '{printf "%s MiB/s, p99 %s ms, server %s cores, wrk %s, idle %s", $2, $4, $7, $8, $9}')"
        done
      done
    done
  done
  stop_edges
  stop_daemons
  unset pid
done

# col MODE TARGET WORKLOAD CONC COLUMN: the median of a column over reps.
col() {
  awk -F'\t' -v m="$1" -v t="$2" -v w="$3" -v c="$4" -v k="$5" 'NR > 1 && $1 == m && $2 == t && $3 == w && $4 == c {print $k}' "$tsv" | median
}
{
  echo
  echo "# medians of $REPS runs of $DURATION; MiB/s, then p99 latency and the server's CPU cores"
  for mode in $MODES; do
    for wl in $WORKLOADS; do
      for conc in $CONCS; do
        for t in $TARGETS; do
          printf '%-6s %-8s %-5s %-11s %8.0f MiB/s  p99 %7.1f ms  server %4.2f cores  wrk %4.2f  idle %4.2f  errors %s\n' \
            "$mode" "$wl" "$conc" "$t" "$(col "$mode" "$t" "$wl" "$conc" 7)" "$(col "$mode" "$t" "$wl" "$conc" 9)" \
            "$(col "$mode" "$t" "$wl" "$conc" 12)" "$(col "$mode" "$t" "$wl" "$conc" 13)" \
            "$(col "$mode" "$t" "$wl" "$conc" 14)" "$(awk -F'\t' -v m="$mode" -v t="$t" -v w="$wl" -v c="$conc" 'NR > 1 && $1 == m && $2 == t && $3 == w && $4 == c {s += $10} END {print s + 0}' "$tsv")"
        done
      done
    done
  done
  echo
  header="| mode | workload | wrk |"
  rule="|---|---|---|"
  for t in $TARGETS; do header+=" $t |"; rule+="---:|"; done
  if [[ " $TARGETS " == *" edgecache "* ]]; then header+=" edgecache CPU |"; rule+="---:|"; fi
  echo "$header"
  echo "$rule"
  for mode in $MODES; do
    for wl in $WORKLOADS; do
      for conc in $CONCS; do
        th=${conc#t}
        line="| $mode | $wl | -t${th%c*} -c${conc#*c} |"
        for t in $TARGETS; do line+=" $(printf '%.0f' "$(col "$mode" "$t" "$wl" "$conc" 7)") MiB/s |"; done
        if [[ " $TARGETS " == *" edgecache "* ]]; then
          line+=" $(printf '%.2f' "$(col "$mode" edgecache "$wl" "$conc" 12)") core |"
        fi
        echo "$line"
      done
    done
  done
} | tee -a "$OUT/summary.txt"
echo "# results in $OUT"
