#!/usr/bin/env bash
# Where a server's time goes, per HTTP request or per echoed message: the
# breakdown issue 18 asks for before and after each optimisation.
#
#   bash bench/profile.sh hello     # ours (hello example), hyper, axum
#   bash bench/profile.sh echo      # ours (echo_server), raw mio, tokio
#
# For each server (pinned to CPU 0, the load to CPU 1) three separate runs
# of DURATION under the same load:
#   1. syscalls: `perf stat` on the syscall tracepoints (cheap, so the
#      server's batching is hardly changed), total and by name, per request;
#   2. allocations: uprobes on libc's malloc/calloc/realloc/free (slow: the
#      counts per request are exact, the rate is not meaningful);
#   3. top user-space and kernel symbols: `perf record` (flat, by sample).
# HTTP load is `wrk -t1 -c$CONNS`; echo load is `echo_load` with CONNS
# connections of SIZE bytes. Requests or messages are the load's own count
# over the same window as perf's. OURS=path runs that build of our server
# instead of the current one (the "before" of a change). Needs root (perf probes) and
# `apt-get install linux-perf wrk`. Writes nothing: redirect it to a file
# under bench/results/.
set -euo pipefail
export RUST_LOG=${RUST_LOG:-warn}
WHAT=${1:-hello}
DURATION=${DURATION:-4}
TOP=${TOP:-25}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18960}
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
TARGET=${CARGO_TARGET_DIR:-target}/release
LIBC=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/ {print $NF; exit}')
need_cmd perf linux-perf

case $WHAT in
hello)
    CONNS=${CONNS:-50}
    cargo build --release --quiet --example hello
    cargo build --release --quiet -p tornado-bench --bin hyper_hello --bin axum_hello
    names=(ours hyper axum)
    cmds=("${OURS:-$TARGET/examples/hello} --port $PORT" "$TARGET/hyper_hello --port $PORT"
          "$TARGET/axum_hello --port $PORT")
    unit=request
    ;;
echo)
    CONNS=${CONNS:-10}
    SIZE=${SIZE:-64}
    cargo build --release --quiet --example echo_server
    cargo build --release --quiet -p tornado-bench --bin echo_peer --bin echo_load
    names=(ours mio tokio)
    cmds=("${OURS:-$TARGET/examples/echo_server} --port $PORT"
          "$TARGET/echo_peer --kind mio --port $PORT"
          "$TARGET/echo_peer --kind tokio --port $PORT")
    unit=message
    ;;
*) echo "usage: profile.sh hello|echo" >&2; exit 2 ;;
esac

# The libc probes, once per boot (perf keeps them until `perf probe -d`).
for fn in malloc calloc realloc free; do
    perf probe -l 2>/dev/null | grep -q "probe_libc:$fn " ||
        perf probe -q -x "$LIBC" -a "$fn" >/dev/null
done

# Runs the load for DURATION seconds on CLIENT_CPU; prints the count of
# requests (wrk) or messages (echo_load) it completed.
load() {
    if [ "$WHAT" = hello ]; then
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${1}s" "http://127.0.0.1:$PORT/" |
            awk '/requests in/ {print $1}'
    else
        taskset -c "$CLIENT_CPU" "$TARGET/echo_load" --port "$PORT" --conns "$CONNS" \
            --size "$SIZE" --warmup-ms 0 --secs "$1" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p'
    fi
}

# perf attached to the server for exactly the load's window: it is started
# first and stopped (SIGINT) when the load ends.
under_perf() {
    local out=$1 n
    shift
    perf "$@" -p "$server" -o "$out" &
    local perf_pid=$!
    sleep 0.3
    n=$(load "$DURATION")
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
    echo "$n"
}

syscalls=(epoll_wait epoll_pwait epoll_ctl recvfrom read recvmsg sendto write writev sendmsg
          accept4 close shutdown setsockopt getsockopt futex ioctl brk mmap munmap madvise)
sys_events=raw_syscalls:sys_enter
for s in "${syscalls[@]}"; do sys_events+=",syscalls:sys_enter_$s"; done

tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "# profile: $WHAT, $(date -u '+%Y-%m-%d %H:%M UTC')"
machine_line
if [ "$WHAT" = hello ]; then
    echo "load: wrk -t1 -c$CONNS, ${DURATION}s per run; server on CPU $SERVER_CPU, load on CPU $CLIENT_CPU"
else
    echo "load: echo_load $CONNS conns x $SIZE B, ${DURATION}s per run; server on CPU $SERVER_CPU, load on CPU $CLIENT_CPU"
fi

for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the command line is split on purpose
    taskset -c "$SERVER_CPU" ${cmds[$i]} >/dev/null 2>&1 &
    server=$!
    wait_port "$PORT"
    load 1 >/dev/null   # warm-up

    n=$(under_perf "$tmp/sys" stat -x, -e "$sys_events")
    echo
    echo "## ${names[$i]}: syscalls per $unit ($n ${unit}s counted)"
    echo
    awk -F, -v n="$n" '
        $3 ~ /^raw_syscalls/ { total = $1 }
        $3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 {
            name = $3; sub(/syscalls:sys_enter_/, "", name)
            printf "  %-12s %8.3f\n", name, $1 / n; named += $1 }
        END { printf "  %-12s %8.3f\n  %-12s %8.3f\n", "other", (total - named) / n, "TOTAL", total / n }' "$tmp/sys"

    n=$(under_perf "$tmp/alloc" stat -x, -e probe_libc:malloc,probe_libc:calloc,probe_libc:realloc,probe_libc:free)
    echo
    echo "## ${names[$i]}: allocator calls per $unit ($n ${unit}s counted, under uprobes)"
    echo
    awk -F, -v n="$n" '$3 ~ /^probe_libc:/ { name = $3; sub(/probe_libc:/, "", name)
        printf "  %-8s %8.3f\n", name, $1 / n }' "$tmp/alloc"

    n=$(under_perf "$tmp/perf.data" record -q -F 2000)
    echo
    echo "## ${names[$i]}: top symbols ($n ${unit}s in the window; share of all samples)"
    echo
    echo "  by object (kernel, the server's binary, libc):"
    perf report -i "$tmp/perf.data" --no-children --sort dso --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n 4 | sed 's/^/  /' || true
    echo
    perf report -i "$tmp/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n "$TOP" | sed 's/^/  /' || true
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
done
