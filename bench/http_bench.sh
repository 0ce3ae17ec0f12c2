#!/usr/bin/env bash
# HTTP "Hello, world" side by side: our `hello` example, hyper 1 on tokio
# current_thread (bin hyper_hello), and Tornado itself when Python has it.
# Each server is pinned to CPU 0, wrk to CPU 1 (taskset), 50 connections;
# rounds are interleaved (ours, hyper, tornado, ours, ...) and the table
# shows the median of ROUNDS runs: requests/s and server CPU per request
# (utime+stime from /proc/<pid>/stat around the wrk run, over requests).
#
# Usage: bash bench/http_bench.sh            (DURATION=5s ROUNDS=3 CONNS=50)
#
# BEFORE_HELLO=path/to/an/older/hello adds that build as a fourth server
# ("before"), to compare a change against the commit before it.
# The examples log every request at `info`; the run sets RUST_LOG=warn
# (unless given) so that our server writes no access lines, as hyper.
set -euo pipefail
export RUST_LOG=${RUST_LOG:-warn}

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18880}

cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }

# Only the two binaries the run needs; cargo does nothing if they are fresh.
cargo build --release --quiet --example hello
cargo build --release --quiet -p tornado-bench --bin hyper_hello
TARGET=${CARGO_TARGET_DIR:-target}/release

names=(ours hyper)
cmds=("$TARGET/examples/hello --port $BASE_PORT"
      "$TARGET/hyper_hello --port $((BASE_PORT + 1))")
ports=("$BASE_PORT" "$((BASE_PORT + 1))")
if command -v python3 >/dev/null && python3 -c 'import tornado' 2>/dev/null; then
    names+=(tornado)
    cmds+=("python3 bench/tornado_hello.py --port $((BASE_PORT + 2))")
    ports+=("$((BASE_PORT + 2))")
else
    echo "(python3 with tornado not found: skipping Tornado; pip install tornado)" >&2
fi
if [ -n "${BEFORE_HELLO:-}" ]; then
    names+=(before)
    cmds+=("$BEFORE_HELLO --port $((BASE_PORT + 3))")
    ports+=("$((BASE_PORT + 3))")
fi

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    taskset -c "$SERVER_CPU" ${cmds[$i]} >/dev/null &
    pids+=($!)
    wait_port "${ports[$i]}"
done

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One wrk run against server i: prints "requests req/s cpu_us_per_req".
run_one() {
    local i=$1 dur=$2 before after out reqs rps
    before=$(cpu_ticks "${pids[$i]}")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$dur" "http://127.0.0.1:${ports[$i]}/")
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
echo "wrk -t1 -c$CONNS -d$DURATION; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU; median of $ROUNDS interleaved rounds"
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
printf '| %-8s | %10s | %12s | %16s | %17s |\n' server 'req/s' 'CPU us/req' 'req/s vs hyper' 'CPU/req vs hyper'
printf '|%s|%s|%s|%s|%s|\n' ---------- ------------ -------------- ------------------ -------------------
for i in "${!names[@]}"; do
    awk -v n="${names[$i]}" -v q="${med_rps[$i]}" -v c="${med_cpu[$i]}" \
        -v hq="${med_rps[1]}" -v hc="${med_cpu[1]}" \
        'BEGIN { printf "| %-8s | %10.0f | %12.2f | %16.2f | %17.2f |\n", n, q, c, q / hq, c / hc }'
done
