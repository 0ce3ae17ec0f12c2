#!/usr/bin/env bash
# Upload throughput side by side: one streamed PUT of SIZE bytes (1 GiB by
# default) to our `upload_sink` (a STREAM_REQUEST_BODY web handler counting
# the bytes) and to `hyper_upload` (hyper 1 on tokio current_thread reading
# the body as a stream of frames, counting too). Each server is pinned to
# CPU 0, the client (`upload_load`) to CPU 1; rounds are interleaved and the
# table shows the median of ROUNDS runs: MiB/s (client's wall time) and
# server CPU per MiB (utime+stime from /proc/<pid>/stat around the upload),
# and each server's peak RSS (VmHWM) at the end.
#
# Usage: bash bench/upload_bench.sh        (SIZE=1073741824 ROUNDS=3)
#        SIZE=$((64 << 20)) ROUNDS=1 bash bench/upload_bench.sh   (smoke run)
set -euo pipefail

SIZE=${SIZE:-1073741824}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-$((20000 + RANDOM % 20000))}

cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
need_cmd taskset util-linux

cargo build --release --quiet -p tornado-bench --bin upload_sink --bin hyper_upload --bin upload_load
TARGET=${CARGO_TARGET_DIR:-target}/release

names=(ours hyper)
cmds=("$TARGET/upload_sink --port $BASE_PORT" "$TARGET/hyper_upload --port $((BASE_PORT + 1))")
ports=("$BASE_PORT" "$((BASE_PORT + 1))")

trap stop_servers EXIT
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    start_server "${ports[$i]}" taskset -c "$SERVER_CPU" ${cmds[$i]}
done

# One upload to server i: prints "MiB/s cpu_ms_per_MiB".
run_one() {
    local i=$1 size=$2 before after out secs
    before=$(cpu_ticks "${server_pids[$i]}")
    out=$(taskset -c "$CLIENT_CPU" "$TARGET/upload_load" --port "${ports[$i]}" --bytes "$size")
    after=$(cpu_ticks "${server_pids[$i]}")
    secs=$(awk '{print $2}' <<<"$out")
    awk -v b="$size" -v s="$secs" -v t=$((after - before)) -v hz="$CLK_TCK" \
        'BEGIN { m = b / 1048576; printf "%.1f %.3f\n", m / s, t / hz * 1e3 / m }'
}

machine_line
echo "PUT of $SIZE bytes; servers on CPU $SERVER_CPU, client on CPU $CLIENT_CPU; median of $ROUNDS interleaved rounds"
for i in "${!names[@]}"; do run_one "$i" $((16 << 20)) >/dev/null; done   # warm-up

declare -A mibs cpus
for r in $(seq "$ROUNDS"); do
    for i in "${!names[@]}"; do
        read -r mbs cpu < <(run_one "$i" "$SIZE")
        echo "round $r ${names[$i]}: $mbs MiB/s, $cpu ms CPU/MiB"
        mibs[$i]+="$mbs "
        cpus[$i]+="$cpu "
    done
done

echo
printf '| %-6s | %9s | %13s | %13s | %16s |\n' server 'MiB/s' 'CPU ms/MiB' 'peak RSS MiB' 'MiB/s vs hyper'
printf '|%s|%s|%s|%s|%s|\n' -------- ----------- --------------- --------------- ------------------
hyper_mbs=$(median <<<"${mibs[1]}")
for i in "${!names[@]}"; do
    rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/${server_pids[$i]}/status")
    awk -v n="${names[$i]}" -v q="$(median <<<"${mibs[$i]}")" -v c="$(median <<<"${cpus[$i]}")" \
        -v r="$rss" -v h="$hyper_mbs" \
        'BEGIN { printf "| %-6s | %9.1f | %13.3f | %13s | %16.2f |\n", n, q, c, r, q / h }'
done
