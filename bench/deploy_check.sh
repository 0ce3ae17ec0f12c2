#!/usr/bin/env bash
# Deployment check (not a unit test): the hello example with --processes 2
# behind a real nginx, on 127.0.0.1 only.
#
#  1. installs nginx, wrk and curl if missing (apt-get, as root), else checks;
#  2. starts `hello --processes 2` and nginx in the foreground (not the
#     system service) with its own configuration and prefix in a temporary
#     directory: an upstream with keep-alive connections, X-Real-Ip and
#     X-Forwarded-For set as docs/deploy.md says;
#  3. checks that both workers answer through nginx;
#  4. kills one worker (SIGKILL) while requests go on through nginx, and
#     checks that the parent restarts it and that nginx kept answering 200;
#  5. measures wrk through nginx and against hello alone;
#  6. stops everything with SIGTERM (graceful) and checks hello exits 0.
#
# Usage: bash bench/deploy_check.sh     (DURATION=5s CONNS=50 PROFILE=release)
set -euo pipefail

DURATION=${DURATION:-5s}
CONNS=${CONNS:-50}
PROFILE=${PROFILE:-release}
APP_PORT=${APP_PORT:-18960}
NGINX_PORT=${NGINX_PORT:-18961}

cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
source bench/lib.sh

# need COMMAND PACKAGE: as need_cmd, but installs PACKAGE first when it can.
need() {
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $2 (apt-get install -y $2)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null
    fi
    command -v "$1" >/dev/null || export PATH="$PATH:/usr/sbin"
    need_cmd "$1" "$2"
}
need nginx nginx
need wrk wrk
need curl curl

if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --example hello
else
    cargo build --quiet --example hello
fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/examples/hello

TMP=$(mktemp -d /tmp/tornado-deploy.XXXXXX)
hello_pid='' nginx_pid=''
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -n "$hello_pid" ] && kill "$hello_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- hello log:" >&2; tail -n 20 "$TMP/hello.err" >&2; exit 1; }

cat >"$TMP/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/client_body;
    proxy_temp_path $TMP/proxy;
    fastcgi_temp_path $TMP/fastcgi;
    uwsgi_temp_path $TMP/uwsgi;
    scgi_temp_path $TMP/scgi;
    upstream hello {
        server 127.0.0.1:$APP_PORT;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://hello;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Real-Ip \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
        }
    }
}
CONF

# Access lines would cost the workers more than the requests themselves.
RUST_LOG=${RUST_LOG:-warn,tornado.general=info} "$BIN" --processes 2 --port "$APP_PORT" \
    >"$TMP/hello.out" 2>"$TMP/hello.err" &
hello_pid=$!
nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" &
nginx_pid=$!

wait_port "$APP_PORT" || fail "hello does not listen"
wait_port "$NGINX_PORT" || fail "nginx does not listen"
for _ in $(seq 100); do [ "$(grep -c '^hello worker' "$TMP/hello.out")" -ge 2 ] && break; sleep 0.05; done
mapfile -t workers < <(sed -n 's/^hello worker [0-9]* (pid \([0-9]*\)).*/\1/p' "$TMP/hello.out")
[ "${#workers[@]}" -eq 2 ] || fail "expected 2 workers, got: ${workers[*]}"
echo "hello parent $hello_pid, workers ${workers[*]}; nginx on 127.0.0.1:$NGINX_PORT"

# Pids answering /worker through nginx: concurrent requests make nginx open
# several upstream connections, which SO_REUSEPORT spreads over the workers.
pids_via_nginx() {
    local urls=()
    for i in $(seq 300); do urls+=("http://127.0.0.1:$NGINX_PORT/worker?$i"); done
    curl -sf --no-progress-meter --parallel --parallel-immediate --parallel-max 50 "${urls[@]}" 2>/dev/null |
        grep -o '"pid":[0-9]*' | cut -d: -f2 | sort -u | tr '\n' ' '
}
seen=$(pids_via_nginx)
for w in "${workers[@]}"; do
    [[ " $seen " == *" $w "* ]] || fail "worker $w did not answer through nginx (saw: $seen)"
done
echo "ok: both workers answer through nginx ($seen)"

# Kill worker 0 while a client keeps asking through nginx.
victim=${workers[0]}
codes="$TMP/codes"
( end=$((SECONDS + 3)); while [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$NGINX_PORT/" || echo 000
  done >"$codes" ) &
client=$!
sleep 0.5
kill -KILL "$victim"
echo "killed worker $victim"
wait "$client"
new=''
for _ in $(seq 100); do
    new=$(sed -n 's/^hello worker 0 (pid \([0-9]*\)).*/\1/p' "$TMP/hello.out" | grep -v "^$victim\$" | tail -n 1 || true)
    [ -n "$new" ] && break
    sleep 0.05
done
[ -n "$new" ] || fail "worker 0 was not restarted"
grep -q "killed by SIGKILL, restarting" "$TMP/hello.err" || fail "no restart logged"
total=$(wc -l <"$codes")
bad=$(grep -vc '^200$' "$codes" || true)
echo "restarted: worker 0 is now pid $new; nginx answered $total requests meanwhile, $bad not 200"
[ "$bad" -eq 0 ] || fail "$bad requests failed through nginx during the restart"
seen=$(pids_via_nginx)
[[ " $seen " == *" $new "* ]] || fail "the new worker $new does not answer (saw: $seen)"
echo "ok: the restarted worker answers through nginx"

wrk_rps() { wrk -t1 -c"$CONNS" -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "wrk -t1 -c$CONNS -d$DURATION; $(nproc) CPUs shared by wrk, nginx and hello (no pinning)"
direct=$(wrk_rps "http://127.0.0.1:$APP_PORT/")
proxied=$(wrk_rps "http://127.0.0.1:$NGINX_PORT/")
printf '| %-28s | %10s |\n' path 'req/s' '----------------------------' '----------'
printf '| %-28s | %10s |\n' "hello --processes 2" "$direct" "nginx -> hello --processes 2" "$proxied"

kill -TERM "$hello_pid"
status=0
wait "$hello_pid" || status=$?
hello_pid=''
[ "$status" -eq 0 ] || fail "hello exited with $status after SIGTERM"
echo "ok: hello stopped gracefully (exit 0)"
