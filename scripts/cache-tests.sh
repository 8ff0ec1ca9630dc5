#!/usr/bin/env bash
# The public HTTP cache conformance suite (cache-tests, the suite behind
# cache-tests.fyi) against one edge: the suite's test server is the origin,
# one `edgecache edge` stands in front of it with its defaults, and every
# request of the suite, its setup included, goes through the edge. Prints
# the counts by kind (required, optimal, check) and by suite file, then
# every required test that did not pass with the suite's message.
#
#   scripts/cache-tests.sh [EDGE_FLAGS...]
#
# Environment: CACHE_TESTS, a checkout of github.com/http-tests/cache-tests
# (default: cloned at CACHE_TESTS_REF, b55b8bd, into the working directory,
# which needs git and network); the variables of scripts/compare/lib.sh
# (OUT, BASE_PORT, KEEP_WORK). Needs node 18 or later, installed from
# Debian's packages if missing (as root). The suite's 4 interim tests need
# the npm package undici (7.x; `npm install` in the checkout); without it
# they fail, and count as not passed (Debian 12's node-undici is too old).
set -euo pipefail
# shellcheck source=compare/lib.sh
. "$(dirname "$0")/compare/lib.sh"

need nodejs:node
setup cache-tests
build
suite=${CACHE_TESTS:-}
if [ -z "$suite" ]; then
  need git:git
  suite=$WORK/cache-tests-clone
  git clone -q https://github.com/http-tests/cache-tests "$suite"
  git -C "$suite" checkout -q "${CACHE_TESTS_REF:-b55b8bd}"
fi
suite=$(cd "$suite" && pwd)

take_port
p_origin=$PORT
(cd "$suite" && npm_package_config_protocol=http npm_package_config_port=$p_origin \
  npm_package_config_pidfile="$WORK/origin.pid" exec node test-engine/server/server.mjs) \
  >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
wait_for_port "$p_origin"

start_one_edge edge "http://127.0.0.1:$p_origin" "$@"
wait_for_port "$P_EDGE"

{ versions; echo "cache-tests: $(git -C "$suite" rev-parse --short HEAD 2>/dev/null || echo "$suite")"; } | tee "$OUT/summary.txt"
(cd "$suite" && npm_config_base="http://127.0.0.1:$P_EDGE" npm_package_config_id="" timeout 1800 node --no-warnings test-engine/cli.mjs) \
  >"$OUT/results.json" 2>"$OUT/harness.log" || echo "the harness exited non-zero: $OUT/harness.log" >&2
node "$(dirname "$0")/cache-tests-summary.mjs" "$suite" "$OUT/results.json" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
