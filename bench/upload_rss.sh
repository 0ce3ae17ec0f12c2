#!/usr/bin/env bash
# Peak memory of the `stream_upload` example while it takes one streamed
# upload of SIZE bytes (1 GiB by default) into a temporary directory: the
# server's VmHWM (peak RSS) must stay under LIMIT_MIB (64). Prints the peak,
# the throughput and the example's answer; exits 1 if over the limit or if
# the answer's byte count is wrong.
#
# Usage: bash bench/upload_rss.sh          (SIZE=1073741824 LIMIT_MIB=64)
#        SIZE=$((32 << 20)) bash bench/upload_rss.sh   (smoke run)
set -euo pipefail

SIZE=${SIZE:-1073741824}
LIMIT_MIB=${LIMIT_MIB:-64}
PORT=${PORT:-$((20000 + RANDOM % 20000))}

cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh
cargo build --release --quiet --example stream_upload
cargo build --release --quiet -p tornado-bench --bin upload_load
TARGET=${CARGO_TARGET_DIR:-target}/release

dir=$(mktemp -d)
"$TARGET/examples/stream_upload" --port "$PORT" --dir "$dir" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
wait_port "$PORT"

before=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
out=$("$TARGET/upload_load" --port "$PORT" --bytes "$SIZE" --path /upload/big.bin)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
read -r bytes secs answer <<<"$out"
echo "uploaded $bytes bytes in $secs s ($(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }') MiB/s): $answer"
echo "server peak RSS: $((peak / 1024)) MiB (before the upload: $((before / 1024)) MiB; limit $LIMIT_MIB MiB)"
if [ "$(stat -c %s "$dir/big.bin")" != "$SIZE" ]; then
    echo "FAIL: the file has $(stat -c %s "$dir/big.bin") bytes, not $SIZE" >&2
    exit 1
fi
if [ "$peak" -ge $((LIMIT_MIB * 1024)) ]; then
    echo "FAIL: peak RSS over $LIMIT_MIB MiB" >&2
    exit 1
fi
echo "ok"
