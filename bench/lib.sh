# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts in bench/ (sourced, not run):
#
#   cd "$(dirname "$0")/.." && source bench/lib.sh   # from the workspace root
#
# Each concept has its home here, so that the scripts measure the same way:
# waiting for a server's port, starting and stopping the servers, a
# process's CPU time, a wrk run's figures, the median of rounds, the fd
# limit, and the machine line printed above every table. Every function
# works under `set -euo pipefail` and under plain `set -u`.

# need_cmd COMMAND PACKAGE: exits 1 with an install hint if COMMAND is not
# on PATH.
need_cmd() {
    command -v "$1" >/dev/null || { echo "$1 not found (apt-get install -y $2)" >&2; exit 1; }
}

# wait_port PORT: waits until something accepts on 127.0.0.1:PORT, up to
# WAIT_PORT_SECS (10) seconds; returns 1 with a message if nothing does.
wait_port() {
    local tries=$(( ${WAIT_PORT_SECS:-10} * 20 ))
    for _ in $(seq "$tries"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1 after ${WAIT_PORT_SECS:-10} s" >&2
    return 1
}

# The servers start_server started, in order: scripts index them as their
# own names and ports arrays.
server_pids=()

# start_server PORT COMMAND...: runs COMMAND in the background (stdout to
# /dev/null), records its pid in server_pids and waits for PORT. COMMAND
# should exec the server (taskset and env do), so that the pid is the
# server's own and its CPU time is what cpu_ticks reads.
start_server() {
    local port=$1
    shift
    "$@" >/dev/null &
    server_pids+=($!)
    wait_port "$port"
}

# stop_servers: SIGTERM to every server start_server started, then waits
# for them. For `trap stop_servers EXIT`.
stop_servers() {
    local p
    for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

# Clock ticks per second, the unit of /proc/<pid>/stat's utime and stime.
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of PID and of its children (the workers of
# `hello --processes N`), in CLK_TCK units; a process that is gone counts 0.
cpu_ticks() {
    local p
    # shellcheck disable=SC2046  # one pid per word
    for p in "$1" $(pgrep -P "$1" || true); do
        awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
    done | awk '{s += $1} END {print s + 0}'
}

# wrk_measure PID NAME COMMAND...: runs COMMAND (a wrk command line, maybe
# behind taskset) against the server PID and prints "requests req/s
# cpu_us_per_request": wrk's own count of responses and rate, and the
# server's CPU time over the run divided by that count. Warns on stderr,
# naming NAME, if wrk saw non-2xx answers or socket errors.
wrk_measure() {
    local pid=$1 name=$2 before after out reqs rps
    shift 2
    before=$(cpu_ticks "$pid")
    out=$("$@")
    after=$(cpu_ticks "$pid")
    if grep -q -e "Non-2xx" -e "Socket errors" <<<"$out"; then
        echo "warning: $name: $(grep -e Non-2xx -e 'Socket errors' <<<"$out" | tr '\n' ' ')" >&2
    fi
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    awk -v r="${reqs:-0}" -v q="${rps:-0}" -v t=$((after - before)) -v hz="$CLK_TCK" \
        'BEGIN { printf "%d %.0f %.2f\n", r, q, (r > 0 ? t / hz * 1e6 / r : 0) }'
}

# median: the median of the numbers on stdin (separated by spaces or
# newlines); the mean of the middle two for an even count.
median() {
    tr ' ' '\n' | grep -v '^$' | sort -g |
        awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

# raise_nofile NEED [HINT]: raises this shell's soft fd limit to the hard
# limit, which the servers and load generators it starts inherit; returns 1
# (saying so, with HINT) if the hard limit is below NEED.
raise_nofile() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$1" ]; then
        echo "fd hard limit $hard is below $1: raise it (ulimit -Hn)${2:+ or $2}" >&2
        return 1
    fi
    ulimit -n "$hard"
}

# machine_line: the line above every table, saying what the figures were
# measured on.
machine_line() {
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
}
