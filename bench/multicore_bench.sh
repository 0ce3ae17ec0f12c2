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
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }

cargo build --release --quiet --example hello
cargo build --release --quiet -p tornado-bench --bin hyper_hello
TARGET=${CARGO_TARGET_DIR:-target}/release

names=(1-process 2-processes 2-threads hyper-2-threads)
cmds=("$TARGET/examples/hello --port $BASE_PORT"
      "$TARGET/examples/hello --processes 2 --port $((BASE_PORT + 1))"
      "$TARGET/examples/hello --threads 2 --port $((BASE_PORT + 2))"
      "$TARGET/hyper_hello --threads 2 --port $((BASE_PORT + 3))")
ports=("$BASE_PORT" "$((BASE_PORT + 1))" "$((BASE_PORT + 2))" "$((BASE_PORT + 3))")

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    RUST_LOG=warn ${cmds[$i]} >/dev/null &
    pids+=($!)
    wait_port "${ports[$i]}"
done
sleep 0.3   # the second worker of --processes 2

CLK_TCK=$(getconf CLK_TCK)
# CPU ticks of a server: its own process and its children (the workers).
cpu_ticks() {
    local all
    all="$1 $(pgrep -P "$1" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    for p in $all; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done |
        awk '{s += $1} END {print s + 0}'
}

# One wrk run against server i: prints "requests req/s cpu_us_per_req".
run_one() {
    local i=$1 dur=$2 before after out reqs rps
    before=$(cpu_ticks "${pids[$i]}")
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$dur" "http://127.0.0.1:${ports[$i]}/")
    after=$(cpu_ticks "${pids[$i]}")
    if grep -q -e "Non-2xx" -e "Socket errors" <<<"$out"; then
        echo "warning: ${names[$i]}: $(grep -e Non-2xx -e 'Socket errors' <<<"$out")" >&2
    fi
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    awk -v r="$reqs" -v q="$rps" -v t=$((after - before)) -v hz="$CLK_TCK" \
        'BEGIN { printf "%d %.0f %.2f\n", r, q, (r > 0 ? t / hz * 1e6 / r : 0) }'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
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

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
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
