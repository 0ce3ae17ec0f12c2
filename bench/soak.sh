#!/usr/bin/env bash
# Soak and fault runs against the example servers (bench/README.md, "Soak
# and faults"). From the workspace root:
#
#   bash bench/soak.sh                  # echo, hello (and websocket if the example exists):
#                                       # 10,000 connections for 10 minutes each, then the faults
#   bash bench/soak.sh --short          # 500 connections for 30 s each, results in target/soak-short
#   bash bench/soak.sh --short --debug  # the same with debug builds (CI: `cargo test` built the examples)
#   bash bench/soak.sh echo hello       # only these servers
#   bash bench/soak.sh --no-faults ws   # the soak only
#   bash bench/soak.sh --faults-only
#   bash bench/soak.sh --short --debug --no-plot   # what CI runs
#
# Environment: SOAK_CONNS, SOAK_DURATION, SOAK_WARMUP, SOAK_SAMPLE, SOAK_MAX_DEV override
# the soak's figures; SOAK_OUT the results directory (bench/results).
# Each run writes bench/results/soak-<server>[-<fault>].{csv,txt}; the soaks
# are plotted to .png with matplotlib, in a venv this script makes
# (target/soak-venv). Exits 1 if any run failed.
set -u
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh

short=0
profile=release
plot=1
faults=1
soaks=1
kinds=()
for a in "$@"; do
    case "$a" in
        --short) short=1 ;;
        --debug) profile=debug ;;
        --no-plot) plot=0 ;;
        --no-faults) faults=0 ;;
        --faults-only) soaks=0 ;;
        echo|hello|ws) kinds+=("$a") ;;
        *) echo "usage: bench/soak.sh [--short] [--debug] [--no-plot] [--no-faults|--faults-only] [echo] [hello] [ws]" >&2; exit 2 ;;
    esac
done

examples=(--example echo_server --example hello)
have_ws=0
if [ -f examples/websocket_echo.rs ]; then
    examples+=(--example websocket_echo)
    have_ws=1
fi
if [ ${#kinds[@]} -eq 0 ]; then
    kinds=(echo hello)
    if [ $have_ws = 1 ]; then kinds+=(ws); else echo "SKIPPED: websocket (no examples/websocket_echo.rs)"; fi
fi

if [ $short = 1 ]; then
    # Half a minute is too short for RSS to settle fully (the first large
    # echoes and messages still raise its high-water mark): a looser bound
    # that still catches a leak per request.
    conns=${SOAK_CONNS:-500}
    duration=${SOAK_DURATION:-30s}
    warmup=${SOAK_WARMUP:-15s}
    sample=${SOAK_SAMPLE:-2s}
    max_dev=${SOAK_MAX_DEV:-15}
    out=${SOAK_OUT:-target/soak-short}
    fault_conns=500
    fault_duration=30s
    fault_warmup=15s
    fault_sample=2s
else
    # About 10,000 connections open at any moment: the resetting and
    # half-closing ones (12% of the slots) spend most of their time
    # between connections.
    conns=${SOAK_CONNS:-11300}
    duration=${SOAK_DURATION:-10m}
    warmup=${SOAK_WARMUP:-60s}
    sample=${SOAK_SAMPLE:-10s}
    max_dev=${SOAK_MAX_DEV:-5}
    out=${SOAK_OUT:-bench/results}
    fault_conns=1000
    fault_duration=60s
    fault_warmup=20s
    fault_sample=5s
fi

if [ $profile = release ]; then
    cargo build --release "${examples[@]}" || exit 2
    cargo build --release -p tornado-bench --bin soak || exit 2
else
    cargo build "${examples[@]}" || exit 2
    cargo build -p tornado-bench --bin soak || exit 2
fi
soak=target/$profile/soak

# The load and the server (its child) both need a fd per connection.
raise_nofile $((conns + 200)) "set SOAK_CONNS" || exit 2

plotter=""
if [ $plot = 0 ]; then
    :
elif python3 -m venv target/soak-venv >/dev/null 2>&1 \
    && target/soak-venv/bin/pip install -q matplotlib >/dev/null 2>&1; then
    plotter=target/soak-venv/bin/python
else
    echo "SKIPPED: plots (python3 -m venv or pip install matplotlib failed)"
fi

mkdir -p "$out"
status=0
port=19300
for k in "${kinds[@]}"; do
    port=$((port + 10))
    if [ $soaks = 1 ]; then
        $soak --kind "$k" --port $port --conns "$conns" --duration "$duration" \
            --warmup "$warmup" --sample "$sample" --max-dev "$max_dev" --out "$out" || status=1
        case "$k" in echo) name="soak-echo" ;; hello) name="soak-hello" ;; ws) name="soak-websocket" ;; esac
        if [ -n "$plotter" ] && [ -f "$out/$name.csv" ]; then
            $plotter bench/soak_plot.py "$out/$name.csv" "$out/$name.png" \
                "$name: $conns connection slots, $(date -u +%F)" || status=1
        fi
    fi
    if [ $faults = 1 ]; then
        # Fds exhausted: a limit of 256, 400 connections.
        $soak --kind "$k" --port $((port + 1)) --fault emfile \
            --server-nofile 256 --conns 400 --tag emfile --out "$out" || status=1
        # Small read buffers (4 KiB): the mixed load must still be served
        # right (echo and WebSocket messages are larger than the buffer).
        $soak --kind "$k" --port $((port + 2)) --conns $fault_conns --duration $fault_duration \
            --warmup $fault_warmup --sample $fault_sample --max-dev "$max_dev" --tag smallbuf --out "$out" \
            --server-arg --max-buffer-size --server-arg 4096 || status=1
    fi
done
exit $status
