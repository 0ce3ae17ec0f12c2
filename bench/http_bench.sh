#!/usr/bin/env bash
# HTTP "Hello, world" side by side: our `hello` example, hyper 1 on tokio
# current_thread (bin hyper_hello), axum 0.8 on tokio current_thread (bin
# axum_hello), and Tornado itself when Python has it. Each server is pinned
# to CPU 0, wrk to CPU 1 (taskset); rounds are interleaved (ours, hyper,
# axum, tornado, ours, ...) and the table shows the median of ROUNDS runs:
# requests/s and server CPU per request (utime+stime from /proc/<pid>/stat
# around the wrk run, over the requests), with ratios to hyper and to axum.
#
# Usage: bash bench/http_bench.sh            (DURATION=5s ROUNDS=3 CONNS=50 PIPELINE=1)
#        CONNS=500 bash bench/http_bench.sh  (500 connections; the fd limit is raised)
#        PIPELINE=16 bash bench/http_bench.sh
#
# PIPELINE=N (N > 1) sends N pipelined `GET /` per write through
# bench/pipeline.lua. wrk counts every response, so requests/s and CPU per
# request are per HTTP request, not per write (pipeline.lua says how).
# hyper and axum then run with --nodelay (TCP_NODELAY, which Tornado sets
# when it finishes a response): without it Nagle's algorithm holds a batch's
# later answers until wrk's delayed ACK, and the run times that timer.
#
# BEFORE_HELLO=path/to/an/older/hello adds that build as one more server
# ("before"), to compare a change against the commit before it.
# The examples log every request at `info`; the run sets RUST_LOG=warn
# (unless given) so that our server writes no access lines, as hyper.
set -euo pipefail
export RUST_LOG=${RUST_LOG:-warn}

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
PIPELINE=${PIPELINE:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18880}

cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
need_cmd wrk wrk
need_cmd taskset util-linux
[[ "$PIPELINE" =~ ^[1-9][0-9]*$ ]] || { echo "PIPELINE must be a whole number >= 1" >&2; exit 1; }
# wrk and each server hold a fd per connection, plus a few of their own.
raise_nofile $((CONNS + 64)) "set a smaller CONNS" || exit 1

peer_flags=""
[ "$PIPELINE" -gt 1 ] && peer_flags=" --nodelay"

# Only the binaries the run needs; cargo does nothing if they are fresh.
cargo build --release --quiet --example hello
cargo build --release --quiet -p tornado-bench --bin hyper_hello --bin axum_hello
TARGET=${CARGO_TARGET_DIR:-target}/release

# hyper and axum keep indexes 1 and 2: the ratio columns divide by them.
names=(ours hyper axum)
cmds=("$TARGET/examples/hello --port $BASE_PORT"
      "$TARGET/hyper_hello --port $((BASE_PORT + 1))$peer_flags"
      "$TARGET/axum_hello --port $((BASE_PORT + 2))$peer_flags")
ports=("$BASE_PORT" "$((BASE_PORT + 1))" "$((BASE_PORT + 2))")
if command -v python3 >/dev/null && python3 -c 'import tornado' 2>/dev/null; then
    names+=(tornado)
    cmds+=("python3 bench/tornado_hello.py --port $((BASE_PORT + 3))")
    ports+=("$((BASE_PORT + 3))")
else
    echo "(python3 with tornado not found: skipping Tornado; pip install tornado)" >&2
fi
if [ -n "${BEFORE_HELLO:-}" ]; then
    names+=(before)
    cmds+=("$BEFORE_HELLO --port $((BASE_PORT + 4))")
    ports+=("$((BASE_PORT + 4))")
fi

trap stop_servers EXIT
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    start_server "${ports[$i]}" taskset -c "$SERVER_CPU" ${cmds[$i]}
done

wrk_script=()
mode="$CONNS connections, no pipelining"
if [ "$PIPELINE" -gt 1 ]; then
    export PIPELINE   # pipeline.lua reads the depth from it
    wrk_script=(-s bench/pipeline.lua)
    mode="$CONNS connections, pipeline depth $PIPELINE"
fi

# One wrk run against server i: prints "requests req/s cpu_us_per_req".
run_one() {
    local i=$1 dur=$2
    wrk_measure "${server_pids[$i]}" "${names[$i]}" \
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$dur" "${wrk_script[@]}" "http://127.0.0.1:${ports[$i]}/"
}

# wrk runs on without a script that fails to load: make sure this one ran.
if [ "$PIPELINE" -gt 1 ]; then
    out=$(wrk -t1 -c1 -d1s "${wrk_script[@]}" "http://127.0.0.1:${ports[0]}/" 2>&1)
    grep -q "pipeline.lua: depth $PIPELINE," <<<"$out" ||
        { echo "wrk did not run bench/pipeline.lua:" >&2; echo "$out" >&2; exit 1; }
fi

machine_line
echo "wrk -t1 -c$CONNS -d$DURATION${wrk_script[*]:+ ${wrk_script[*]} (PIPELINE=$PIPELINE)}; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU; median of $ROUNDS interleaved rounds"
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
echo "HTTP hello, $mode (wrk -t1 -c$CONNS), median of $ROUNDS rounds of $DURATION; $(date -u +%F)"
echo
printf '| %-20s | %10s | %10s | %14s | %16s | %13s | %15s |\n' \
    "server (c$CONNS, p$PIPELINE)" 'req/s' 'CPU us/req' 'req/s vs hyper' 'CPU/req vs hyper' 'req/s vs axum' 'CPU/req vs axum'
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------------------- ------------ ------------ \
    ---------------- ------------------ --------------- -----------------
for i in "${!names[@]}"; do
    awk -v n="${names[$i]}" -v q="${med_rps[$i]}" -v c="${med_cpu[$i]}" \
        -v hq="${med_rps[1]}" -v hc="${med_cpu[1]}" -v aq="${med_rps[2]}" -v ac="${med_cpu[2]}" \
        'function r(a, b) { return b > 0 ? a / b : 0 }
         BEGIN { printf "| %-20s | %10.0f | %10.2f | %14.2f | %16.2f | %13.2f | %15.2f |\n",
                 n, q, c, r(q, hq), r(c, hc), r(q, aq), r(c, ac) }'
done
