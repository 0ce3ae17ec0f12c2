#!/usr/bin/env bash
# Multi-core HTTP: `wrk -c50` against the hello example on 1 process,
# 2 processes (--processes 2) and 2 threads (--threads 2), and hyper on a
# 2-thread tokio runtime as the peer. Nothing is pinned: wrk shares the
# machine's cores with the server (on a 2-core machine it takes about one
# of them, so 2 workers cannot double one's throughput here; see
# bench/README.md for the measurement on a bigger machine).
#
# For each: requests/s (wrk) and server CPU per request (utime + stime of
# every process of the server, from /proc, around the wrk run, over the
# requests), median of ROUNDS interleaved rounds.
#
# Usage: bash bench/multicore_bench.sh     (DURATION=5s ROUNDS=3 CONNS=50)
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-2}
BASE_PORT=${BASE_PORT:-18970}

cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
need_cmd wrk wrk
raise_nofile $((CONNS + 64)) "set a smaller CONNS" || exit 1

cargo build --release --quiet --example hello
cargo build --release --quiet -p tornado-bench --bin hyper_hello
TARGET=${CARGO_TARGET_DIR:-target}/release

names=(1-process 2-processes 2-threads hyper-2-threads)
cmds=("$TARGET/examples/hello --port $BASE_PORT"
      "$TARGET/examples/hello --processes 2 --port $((BASE_PORT + 1))"
      "$TARGET/examples/hello --threads 2 --port $((BASE_PORT + 2))"
      "$TARGET/hyper_hello --threads 2 --port $((BASE_PORT + 3))")
ports=("$BASE_PORT" "$((BASE_PORT + 1))" "$((BASE_PORT + 2))" "$((BASE_PORT + 3))")

trap stop_servers EXIT
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    start_server "${ports[$i]}" env RUST_LOG=warn ${cmds[$i]}
done
sleep 0.3   # the second worker of --processes 2

# One wrk run against server i: prints "requests req/s cpu_us_per_req";
# cpu_ticks counts the workers of --processes 2 (the server's children).
run_one() {
    local i=$1 dur=$2
    wrk_measure "${server_pids[$i]}" "${names[$i]}" \
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"$dur" "http://127.0.0.1:${ports[$i]}/"
}

machine_line
echo "wrk -t$WRK_THREADS -c$CONNS -d$DURATION on the same CPUs as the servers (no pinning); median of $ROUNDS interleaved rounds"
for i in "${!names[@]}"; do run_one "$i" 1s >/dev/null; done   # warm-up

declare -A rps_runs cpu_runs
for r in $(seq "$ROUNDS"); do
    for i in "${!names[@]}"; do
        read -r reqs rps cpu < <(run_one "$i" "$DURATION")
        echo "round $r ${names[$i]}: $rps req/s, $cpu us CPU/req ($reqs requests)"
        rps_runs[$i]+="$rps "
        cpu_runs[$i]+="$cpu "
    done
done

declare -a med_rps med_cpu
for i in "${!names[@]}"; do
    med_rps[$i]=$(median <<<"${rps_runs[$i]}")
    med_cpu[$i]=$(median <<<"${cpu_runs[$i]}")
done

echo
printf '| %-16s | %10s | %12s | %18s | %19s |\n' server 'req/s' 'CPU us/req' 'req/s vs 1-process' 'CPU/req vs 1-process'
printf '|%s|%s|%s|%s|%s|\n' ------------------ ------------ -------------- -------------------- ---------------------
for i in "${!names[@]}"; do
    awk -v n="${names[$i]}" -v q="${med_rps[$i]}" -v c="${med_cpu[$i]}" \
        -v bq="${med_rps[0]}" -v bc="${med_cpu[0]}" \
        'BEGIN { printf "| %-16s | %10.0f | %12.2f | %18.2f | %19.2f |\n", n, q, c, q / bq, c / bc }'
done
