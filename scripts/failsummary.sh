#!/usr/bin/env bash
# failsummary.sh LOG CMD...: runs CMD with its output shown and kept in LOG;
# if CMD fails, it prints again, last, what failed: each "--- FAIL" line and
# the first lines of each panic or fatal error. CI shows only the end of a
# run's output, and a crashed Go test process prints its cause first and
# then every goroutine's stack, which pushes the cause out of that end.
set -uo pipefail
log=$1
shift
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "=== what failed (the whole output is in $log) ==="
  grep -nE -A12 '^(panic: |fatal error: )' "$log" | head -120
  grep -nE '^(--- FAIL|FAIL|    --- FAIL)|^ +[a-z_]+_test\.go:[0-9]+: ' "$log" | head -60
  echo "--- stack frames in test files (which tests were running) ---"
  grep -E '^'$'\t''.*_test\.go:[0-9]+' "$log" | sort | uniq -c | sort -rn | head -30
fi
exit "$status"
