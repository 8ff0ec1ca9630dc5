#!/usr/bin/env bash
# Origin egress of an edgecache ring versus N independent nginx slice caches,
# side by side in one run: both sit in front of the same reference origin
# (whose /.edgecache/stats counts the bytes it sends), and the same bench
# workload, same seed, reads a working set that fits either deployment.
#
#   scripts/compare-egress.sh [N] [DURATION]      (needs nginx: apt-get install nginx)
#
# Everything listens on 127.0.0.1; everything it starts is stopped on exit.
set -euo pipefail
N=${1:-3}
DURATION=${2:-20s}
OBJECTS=${OBJECTS:-50}
SIZE=${SIZE:-2MiB}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/edgecache-egress.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 "$N"); do [ -f "$work/nginx$i.pid" ] && kill "$(cat "$work/nginx$i.pid")" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

go build -o "$work/edgecache" .
mkdir -p "$work/data"
# The origin's objects: OBJECTS files of SIZE random bytes, and the list the
# bench reads.
bytes=$("$work/edgecache" bench --help >/dev/null 2>&1; python3 -c "
import sys
s='$SIZE'; u={'KiB':1<<10,'MiB':1<<20,'GiB':1<<30}
for k,v in u.items():
    if s.endswith(k): print(int(float(s[:-len(k)])*v)); sys.exit()
print(int(s))")
: > "$work/paths.txt"
for i in $(seq -w 1 "$OBJECTS"); do
  head -c "$bytes" /dev/urandom > "$work/data/obj$i.bin"
  echo "/obj$i.bin $bytes" >> "$work/paths.txt"
done

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
oport=$(port)
"$work/edgecache" origin --dir "$work/data" --listen "127.0.0.1:$oport" 2>"$work/origin.log" & pids+=($!)
origin="http://127.0.0.1:$oport"
# A second origin process over the same files answers the bench's sampled
# verification, so that checking bytes does not count as origin egress.
vport=$(port)
"$work/edgecache" origin --dir "$work/data" --listen "127.0.0.1:$vport" 2>"$work/verify-origin.log" & pids+=($!)

# The edgecache ring.
export EDGECACHE_CLUSTER_SECRET=egress-compare-secret-0123456789
peers=() clients=()
for i in $(seq 1 "$N"); do peers+=("127.0.0.1:$(port)"); clients+=("http://127.0.0.1:$(port)"); done
peerlist=$(IFS=,; echo "${peers[*]}")
for i in $(seq 0 $((N-1))); do
  "$work/edgecache" edge --origin "$origin" --listen "${clients[$i]#http://}" --peer-listen "${peers[$i]}" \
    --admin-listen "127.0.0.1:$(port)" --peers "$peerlist" --cache-size 512MiB 2>"$work/edge$i.log" & pids+=($!)
done

# N independent nginx slice caches (the anchor's configuration, one cache each).
ngx=()
for i in $(seq 1 "$N"); do
  p=$(port); ngx+=("http://127.0.0.1:$p")
  mkdir -p "$work/nginx$i/cache" "$work/nginx$i/tmp"
  chmod -R a+rwx "$work/nginx$i"; chmod a+rx "$work"   # nginx workers run as nobody
  cat > "$work/nginx$i.conf" <<CONF
pid $work/nginx$i.pid;
error_log $work/nginx$i/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx$i/tmp; proxy_temp_path $work/nginx$i/tmp;
  fastcgi_temp_path $work/nginx$i/tmp; uwsgi_temp_path $work/nginx$i/tmp; scgi_temp_path $work/nginx$i/tmp;
  proxy_cache_path $work/nginx$i/cache levels=1:2 keys_zone=s$i:16m max_size=2g inactive=24h use_temp_path=off;
  upstream origin { server 127.0.0.1:$oport; keepalive 16; }
  server {
    listen 127.0.0.1:$p;
    location / {
      slice 1m; proxy_cache s$i; proxy_cache_key \$uri\$is_args\$args\$slice_range;
      proxy_set_header Range \$slice_range; proxy_cache_valid 200 206 24h; proxy_cache_lock on;
      proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://origin;
    }
  }
}
CONF
  nginx -p "$work/nginx$i" -c "$work/nginx$i.conf" -e "$work/nginx$i/error.log" -g 'worker_processes 1;'
done
sleep 1

"$work/edgecache" bench \
  --compare "edgecache=$(IFS=,; echo "${clients[*]}")" \
  --compare "nginx-slice=$(IFS=,; echo "${ngx[*]}")" \
  --paths "$work/paths.txt" --workload segments --zipf 0 --concurrency 16 \
  --duration "$DURATION" --origin-stats "$origin" --verify-origin "http://127.0.0.1:$vport" --json "$work/report.json"
echo "unique bytes in the working set: $((OBJECTS * bytes)) ($OBJECTS objects of $SIZE); report: $work/report.json"
