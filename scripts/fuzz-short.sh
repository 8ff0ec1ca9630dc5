#!/usr/bin/env bash
# Run every fuzz target of the module for FUZZTIME (default 10s). A crasher
# (go test writes it to <pkg>/testdata/fuzz and says "Failing input
# written") fails the run at once. Anything else that stops a target — the
# fuzzing engine's own "hung or terminated unexpectedly" under CPU
# pressure — is retried once, printed, and fails the run only if it
# happens again.
set -uo pipefail
FUZZTIME=${FUZZTIME:-10s}
GO=${GO:-go}
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | cut -c6-); do
    for attempt in 1 2; do
      echo "fuzz $pkg $f ($FUZZTIME, attempt $attempt)"
      if $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" >"$out" 2>&1; then
        break
      fi
      cat "$out"
      if grep -q "Failing input written" "$out" || [ "$attempt" = 2 ]; then
        exit 1
      fi
    done
  done
done
