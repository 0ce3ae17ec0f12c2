#!/usr/bin/env bash
# Runs the Autobahn WebSocket conformance cases against the websocket_echo
# example with kosoku (a Python 3 runner of the Autobahn case files), and
# writes the summary table to bench/results/autobahn-<date>.md.
#
#   bash bench/autobahn.sh                 # cases 1-7, 10, 12, 13 (a few minutes)
#   bash bench/autobahn.sh --all           # also case 9 (limits and performance: ~15 min)
#   bash bench/autobahn.sh 5.* 6.4.*       # only these cases
#
# It sets up its own virtual environment (bench/.venv-autobahn) on first use.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
VENV="$ROOT/bench/.venv-autobahn"
PORT=${AUTOBAHN_PORT:-9001}
OUT=$(mktemp -d)
PARALLEL=${AUTOBAHN_PARALLELISM:-2}

cases=()
if [ "$#" -eq 0 ]; then
    cases=('1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*' '10.*' '12.*' '13.*')
elif [ "$1" = "--all" ]; then
    cases=('1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*' '9.*' '10.*' '12.*' '13.*')
else
    cases=("$@")
fi

if [ ! -x "$VENV/bin/kosoku" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet kosoku
fi

cargo build --release --example websocket_echo
"$ROOT/target/release/examples/websocket_echo" --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$OUT"' EXIT
wait_port "$PORT"

args=()
for c in "${cases[@]}"; do args+=(-i "$c"); done
"$VENV/bin/kosoku" -o "$OUT/report" -p "$PARALLEL" "${args[@]}" "127.0.0.1:$PORT" | tail -3

mkdir -p "$ROOT/bench/results"
RESULT="$ROOT/bench/results/autobahn-$(date -u +%Y-%m-%d).md"
"$VENV/bin/python" - "$OUT/report/index.json" "${cases[*]}" >"$RESULT" <<'EOF'
import collections, json, sys

index = json.load(open(sys.argv[1]))
print("# Autobahn (kosoku) against examples/websocket_echo.rs")
print()
print(f"Cases selected: `{sys.argv[2]}`")
print()
for agent, cases in index.items():
    groups = collections.OrderedDict()
    for case, r in sorted(cases.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        g = groups.setdefault(case.split(".")[0], collections.Counter())
        g[r["behavior"]] += 1
    kinds = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
    print(f"Server: {agent}")
    print()
    print("| case group | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    total = collections.Counter()
    for g, c in groups.items():
        total.update(c)
        print(f"| {g} | " + " | ".join(str(c[k]) for k in kinds) + " |")
    print("| **all** | " + " | ".join(f"**{total[k]}**" for k in kinds) + " |")
    print()
    odd = [(k, r["behavior"], r.get("behaviorClose")) for k, r in cases.items() if r["behavior"] not in ("OK",)]
    if odd:
        print("Cases not OK:")
        print()
        for k, b, bc in sorted(odd, key=lambda x: [int(p) for p in x[0].split(".")]):
            print(f"- {k}: {b} (close: {bc})")
        print()
EOF
cat "$RESULT"
