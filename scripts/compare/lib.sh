# shellcheck shell=bash
# lib.sh holds what the comparison scripts (scripts/compare-*.sh,
# scripts/peer-vs-hit.sh) share: installing the tools they drive, the data
# set, starting and stopping nginx, Varnish and edges, warming a target,
# one wrk measurement with the CPU it cost, and medians. Sourced, never
# run; the caller has `set -euo pipefail`.
#
# Everything listens on 127.0.0.1, on ports from BASE_PORT up (default
# 19100) that nothing is listening on. Everything started is recorded and
# stopped by its process id when the script exits, however it exits.
#
# Environment:
#   DATA       the data set's directory (default /tmp/edgecache-compare-data;
#              656 MiB, kept between runs and reused when complete)
#   OUT        where the results are written (default
#              /tmp/edgecache-compare-results/<script>-<UTC time>)
#   BASE_PORT  first port tried (default 19100)
#   KEEP_WORK  1 keeps the working directory (configurations, logs, caches)
#   GO         the go command (default go)

COMPARE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$COMPARE_DIR/../.." && pwd)
GO=${GO:-go}
DATA=${DATA:-/tmp/edgecache-compare-data}
NEXT_PORT=${BASE_PORT:-19100}
HZ=$(getconf CLK_TCK)
MiB=1048576

# ON is the command prefix that places what is started next: empty, or
# (taskset -c CORE) for pinned runs.
ON=()
# WRK_ON places wrk the same way.
WRK_ON=()
# PIDS are the processes started in the background; PIDFILES the pid files
# of the daemons that detach (nginx, varnishd).
PIDS=()
PIDFILES=()
WORK=""

# need PACKAGE:COMMAND...: installs from Debian's packages those whose
# command is missing. Where systemd runs, Debian starts the nginx and
# Varnish system services on install; the scripts start instances of their
# own and leave those alone.
need() {
  local missing=() pc
  for pc in "$@"; do
    command -v "${pc#*:}" >/dev/null 2>&1 || missing+=("${pc%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run this as root" >&2
    exit 1
  fi
  echo "installing ${missing[*]} from Debian's packages" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}

# setup NAME: the working directory, the results directory and the exit
# trap. Call it once, before starting anything.
setup() {
  WORK=$(mktemp -d "/tmp/edgecache-$1.XXXXXX")
  # nginx's workers run as an unprivileged user when started by root: they
  # must reach their configuration, cache and temporary directories.
  chmod 755 "$WORK"
  OUT=${OUT:-/tmp/edgecache-compare-results/$1-$(date -u +%Y%m%dT%H%M%SZ)}
  mkdir -p "$OUT"
  trap stop_all EXIT
  trap 'exit 130' INT TERM
  # A failing command stops the script (set -e); say which.
  set -E
  trap 'echo "$0: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
}

# alive PID: the process exists and has not exited (a detached daemon that
# exited stays a zombie until its new parent reaps it). A killed process's
# main thread can be a zombie while its other threads still finish their
# I/O, holding its files and their locks: it is alive until they are gone.
alive() {
  [ -e "/proc/$1" ] || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null ||
    [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -gt 1 ]
}

# stop_pid PID: SIGTERM, then SIGKILL if it is still there after 10 s.
stop_pid() {
  alive "$1" || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 100); do alive "$1" || return 0; sleep 0.1; done
  echo "pid $1 did not stop on SIGTERM; killing it" >&2
  kill -KILL "$1" 2>/dev/null || true
}

# stop_daemons: stops the nginx and Varnish instances started so far.
stop_daemons() {
  local f pid exe
  for f in "${PIDFILES[@]}"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    # A pid file outliving its process must not make us stop another.
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    case "$exe" in */nginx | */varnishd) stop_pid "$pid" ;; esac
    rm -f "$f"
  done
  PIDFILES=()
}

# stop_edges: stops the processes started in the background so far.
stop_edges() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

stop_all() {
  stop_edges
  stop_daemons
  if [ -n "$WORK" ] && [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi
}

# take_port: sets PORT to a port of 127.0.0.1 that nothing listens on and
# no earlier call returned.
take_port() {
  while (: </dev/tcp/127.0.0.1/"$NEXT_PORT") 2>/dev/null; do NEXT_PORT=$((NEXT_PORT + 1)); done
  # shellcheck disable=SC2034 # the result, read by the caller
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

# wait_http URL: waits up to 30 s for URL to answer 2xx.
wait_http() {
  local i
  for i in $(seq 300); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "$1 did not answer within 30 s" >&2
  return 1
}

# build: the edgecache binary of this checkout, as $BIN.
build() {
  BIN=$WORK/edgecache
  (cd "$REPO" && CGO_ENABLED=0 "$GO" build -trimpath -o "$BIN" .)
}

# make_data: the data set, in $DATA: /big.bin (256 MiB) for range
# workloads and /seg/000.ts … /seg/199.ts (2 MiB each) for whole objects,
# all random bytes, so that nothing compresses or deduplicates them.
make_data() {
  local i f
  mkdir -p "$DATA/seg"
  if [ "$(stat -c %s "$DATA/big.bin" 2>/dev/null || echo 0)" != $((256 * MiB)) ]; then
    head -c $((256 * MiB)) /dev/urandom >"$DATA/big.bin.tmp" && mv "$DATA/big.bin.tmp" "$DATA/big.bin"
  fi
  for i in $(seq 0 199); do
    f=$(printf '%s/seg/%03d.ts' "$DATA" "$i")
    if [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" != $((2 * MiB)) ]; then
      head -c $((2 * MiB)) /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
    fi
  done
  chmod -R a+rX "$DATA"
}

# start_nginx NAME TEMPLATE WORKERS PORT [@KEY@=VALUE...]: an nginx
# instance whose prefix (configuration, logs, cache) is $WORK/NAME, from
# scripts/compare/TEMPLATE with @PORT@ and the given keys replaced. Its
# master's pid is in $WORK/NAME/nginx.pid.
start_nginx() {
  local name=$1 template=$2 workers=$3 port=$4 dir=$WORK/$1 kv subst=()
  shift 4
  subst=(-e "s|@PORT@|$port|g")
  for kv in "$@"; do subst+=(-e "s|${kv%%=*}|${kv#*=}|g"); done
  rm -rf "$dir"
  mkdir -p "$dir/logs" "$dir/tmp" "$dir/cache"
  sed "${subst[@]}" "$COMPARE_DIR/$template" >"$dir/nginx.conf"
  chmod -R a+rwX "$dir"
  "${ON[@]}" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -g "worker_processes $workers;"
  PIDFILES+=("$dir/nginx.pid")
  wait_for_port "$port"
}

# start_origin WORKERS: nginx serving the data set ($DATA) with WORKERS
# worker processes, on a port of its own; sets ORIGIN_HP to its host:port.
start_origin() {
  take_port
  start_nginx origin nginx-origin.conf "$1" "$PORT" "@DATA@=$DATA"
  # shellcheck disable=SC2034 # the result, read by the caller
  ORIGIN_HP=127.0.0.1:$PORT
}

# wait_for_port PORT: waits up to 30 s for something to listen on PORT
# (for servers whose root answers 404).
wait_for_port() {
  local i
  for i in $(seq 300); do
    (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1 after 30 s" >&2
  return 1
}

# start_varnish NAME PORT ORIGIN_HOST:PORT THREAD_POOLS: Varnish with 2 GiB
# of memory storage; its manager's pid is in $WORK/NAME/varnishd.pid.
start_varnish() {
  local name=$1 port=$2 origin=$3 pools=$4 dir=$WORK/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  sed -e "s|@ORIGIN_HOST@|${origin%:*}|g" -e "s|@ORIGIN_PORT@|${origin##*:}|g" \
    "$COMPARE_DIR/varnish.vcl" >"$dir/varnish.vcl"
  "${ON[@]}" varnishd -a "127.0.0.1:$port" -f "$dir/varnish.vcl" -s malloc,2G \
    -n "$dir/state" -P "$dir/varnishd.pid" -p thread_pools="$pools" -p default_ttl=86400 \
    >"$dir/varnishd.log" 2>&1
  PIDFILES+=("$dir/varnishd.pid")
  wait_for_port "$port"
}

# start_edge NAME ARGS...: `edgecache edge ARGS...` in the background, its
# log in $WORK/NAME.log; $! is its pid (taskset execs the program).
start_edge() {
  local name=$1
  shift
  "${ON[@]}" "$BIN" edge "$@" 2>"$WORK/$name.log" &
  PIDS+=($!)
}

# start_one_edge NAME ORIGIN_URL ARGS...: start_edge with the three
# listeners on free ports, in front of ORIGIN_URL; the client port is
# $P_EDGE, the admin port $P_ADMIN.
start_one_edge() {
  local name=$1 origin=$2 peer
  shift 2
  take_port
  P_EDGE=$PORT
  take_port
  peer=$PORT
  take_port
  P_ADMIN=$PORT
  start_edge "$name" --origin "$origin" --listen "127.0.0.1:$P_EDGE" \
    --peer-listen "127.0.0.1:$peer" --admin-listen "127.0.0.1:$P_ADMIN" "$@"
}

# pid_of_daemon NAME: the pid an nginx or Varnish instance NAME recorded.
pid_of_daemon() {
  local f i
  for i in $(seq 50); do
    for f in "$WORK/$1/nginx.pid" "$WORK/$1/varnishd.pid"; do
      if [ -s "$f" ]; then cat "$f"; return 0; fi
    done
    sleep 0.1
  done
  echo "no pid file for $1" >&2
  return 1
}

# cpu_ticks PID...: user and system clock ticks of the processes and all
# their descendants (nginx's workers, Varnish's child), from /proc.
cpu_ticks() {
  # A process may exit between the glob and its read: cat then fails,
  # and the others still count.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
    {
      pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
      parent[pid] = f[2]; ticks[pid] = f[12] + f[13]
    }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 1
      do { grew = 0
        for (p in parent) if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grew = 1 }
      } while (grew)
      for (p in mine) if (p in ticks) t += ticks[p]
      print t + 0
    }'
}

# idle_ticks: idle and iowait clock ticks of the whole machine so far.
idle_ticks() { awk '/^cpu /{print $5 + $6; exit}' /proc/stat; }

# measure HOST:PORT PIDS WORKLOAD THREADS CONNECTIONS DURATION: one wrk run
# of scripts/compare/WORKLOAD.lua, wrk placed by $WRK_ON. Prints, tab
# separated: requests/s, MiB/s, p50 ms, p99 ms, errors, bytes per request,
# the CPU cores the server (PIDS, quoted, space separated) used, the cores
# wrk used, and the machine's idle cores during the run.
measure() {
  local hp=$1 wl=$3 threads=$4 conns=$5 duration=$6 pids raw c0 c1 i0 i1 t
  read -ra pids <<<"$2"
  raw=$(mktemp "$WORK/wrk.XXXXXX")
  c0=$(cpu_ticks "${pids[@]}") i0=$(idle_ticks)
  t=$( { TIMEFORMAT='%U %S'; time "${WRK_ON[@]}" wrk -t"$threads" -c"$conns" -d"$duration" --latency \
    -s "$COMPARE_DIR/$wl.lua" "http://$hp" >"$raw" 2>&1; } 2>&1)
  c1=$(cpu_ticks "${pids[@]}") i1=$(idle_ticks)
  if ! grep -q '^RESULT' "$raw"; then
    echo "wrk against $hp printed no result:" >&2
    cat "$raw" >&2
    return 1
  fi
  awk -v c="$((c1 - c0))" -v idle="$((i1 - i0))" -v hz="$HZ" -v wt="$t" '
    /^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] } }
    END {
      secs = r["requests"] / r["req_s"]; split(wt, w, " ")
      printf "%s\t%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\n", r["req_s"], r["mib_s"], r["p50_ms"], r["p99_ms"],
        r["errors"], r["bytes"] / r["requests"], c / hz / secs, (w[1] + w[2]) / secs, idle / hz / secs
    }' "$raw"
  rm -f "$raw"
}

# warm HOST:PORT: reads everything the workloads ask for twice (every
# 1 MiB range of /big.bin and every segment whole) and checks the second
# pass: statuses, sizes, and how many answers said HIT (X-Cache or
# X-Cache-Status; "n/a" for a server that says neither). Fails on a wrong
# status or size.
warm() {
  local hp=$1 cfg i first pass2
  cfg=$(mktemp "$WORK/warm.XXXXXX")
  for i in $(seq 0 255); do
    first=$((i * MiB))
    printf 'url = "http://%s/big.bin"\nrange = "%d-%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{size_download} %%header{x-cache}%%header{x-cache-status}\\n"\nnext\n' \
      "$hp" "$first" $((first + MiB - 1)) >>"$cfg"
  done
  for i in $(seq 0 199); do
    printf 'url = "http://%s/seg/%03d.ts"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{size_download} %%header{x-cache}%%header{x-cache-status}\\n"\nnext\n' \
      "$hp" "$i" >>"$cfg"
  done
  sed -i '$ d' "$cfg" # a trailing "next" names no URL
  curl -s -K "$cfg" >/dev/null
  pass2=$(curl -s -K "$cfg")
  rm -f "$cfg"
  echo "$pass2" | awk -v hp="$hp" '
    { n++; if (!($1 == 206 && $2 == 1048576) && !($1 == 200 && $2 == 2097152)) bad++
      if (NF >= 3) { said++; if ($3 == "HIT") hit++ } }
    END {
      printf "warmed %s: %d requests, %d bad, hits %s\n", hp, n, bad, said ? hit "/" n : "n/a"
      exit (bad > 0 || n != 456)
    }'
}

# median: the median of the numbers on standard input, one a line.
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# versions: one line naming what is measured and where.
versions() {
  local v
  v="# $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, kernel $(uname -r)"
  command -v nginx >/dev/null && v+=", nginx $(nginx -v 2>&1 | sed 's|.*/||' || true)"
  command -v varnishd >/dev/null && v+=", $(varnishd -V 2>&1 | grep -o 'varnish-[0-9.]*' | head -1 || true)"
  command -v wrk >/dev/null && v+=", wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)"
  echo "$v, edgecache $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
}
