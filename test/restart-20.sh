#!/usr/bin/env bash
# Runs the PostgreSQL restart-during-COPY tests of reliability.server-faults N times in a row
# (default 20), each run on a fresh throwaway cluster, and tallies the outcomes:
# retried success / clean failure (a code) / anything else (a failed test: uncaught error, mix, hang).
#   test/restart-20.sh [N]        (after npm run -s build)
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
pattern='PostgreSQL restart while the second COPY writer connects|PostgreSQL restart during COPY with two writers'
for i in $(seq 1 "$n"); do
  log=$(mktemp)
  node --test --test-name-pattern="$pattern" dist/test/reliability.server-faults.test.js >"$log" 2>&1
  rc=$?
  pass=$(grep -m1 '^# pass' "$log" | awk '{print $3}')
  fail=$(grep -m1 '^# fail' "$log" | awk '{print $3}')
  outcomes=$(grep -m1 'outcomes:' "$log" | sed 's/.*outcomes: //')
  echo "run $i: rc=$rc pass=$pass fail=$fail ${outcomes}"
  if [ "$rc" -ne 0 ]; then grep -E 'uncaught|error:' "$log" | head -5; fi
  rm -f "$log"
done
