#!/usr/bin/env bash
# Prints a bench/results/fuzz.md table row for each given target from its
# last run's log (fuzz/logs/TARGET.log, written by run.sh): when the run
# ended, execs, exec/s, cov, ft, corpus, peak RSS, and whether libFuzzer
# reported a crash, timeout, leak or memory overrun.
#
#   fuzz/summary.sh SECONDS TARGET...
set -euo pipefail
cd "$(dirname "$0")"
seconds=$1
shift
for t in "$@"; do
  log="logs/$t.log"
  last=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)
  execs=$(grep -Eo 'number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  rate=$(grep -Eo 'average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  rss=$(grep -Eo 'peak_rss_mb: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$last")
  ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$last")
  corp=$(sed -E 's/.*corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1 \/ \2/' <<<"$last")
  when=$(date -u -r "$log" '+%Y-%m-%d %H:%M')
  result=clean
  if grep -qE '^==[0-9]+== ERROR|panicked at|^SUMMARY: ' "$log"; then
    result="FAILED (see the log)"
  fi
  printf '| %s | `%s` | %s | %s | %s | %s | %s | %s | %s MB | %s |\n' \
    "$when" "$t" "$seconds" "$execs" "$rate" "$cov" "$ft" "$corp" "$rss" "$result"
done
