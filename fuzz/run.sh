#!/usr/bin/env bash
# Runs fuzz targets with cargo-fuzz (nightly), each from its committed
# seeds plus the working corpus it grows (fuzz/corpus/, not committed).
#
#   fuzz/run.sh [-t SECONDS] [TARGET...]      default: every target, 60 s
#
# Memory is bounded (-rss_limit_mb, and per-input -malloc_limit_mb), an
# input taking over 10 s is a timeout, and a leak report fails the run
# (libFuzzer's default with AddressSanitizer). Each run's libFuzzer output
# goes to fuzz/logs/TARGET.log; its last status line (execs, cov) is
# printed. Crashing inputs land in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=60
if [ "${1:-}" = "-t" ]; then
  seconds=$2
  shift 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
mkdir -p logs
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "--- fuzz target $t for ${seconds}s"
  if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -timeout=10 -max_len=8192 -print_final_stats=1 >"logs/$t.log" 2>&1; then
    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "logs/$t.log" | tail -1 || true
    grep -E 'stat::number_of_executed_units' "logs/$t.log" || true
  else
    echo "FAILED: fuzz target $t (log: fuzz/logs/$t.log)"
    tail -40 "logs/$t.log"
    status=1
  fi
done
exit "$status"
