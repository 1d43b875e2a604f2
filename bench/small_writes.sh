#!/usr/bin/env bash
# Per-request time of a service that writes its response head and body in
# two writes (Python's http.server with keep-alive, Nagle on), not a test:
# directly on a fresh connection per request, directly on one keep-alive
# connection, through nginx (keep-alive upstream) and through the real
# binary's gateway (`sandport run --expose`). Interleaved rounds; sequential
# requests, so the figures are latencies (p50 / p90 / max in ms).
#
#   bench/small_writes.sh [SANDPORT_BINARY]   (default: this tree's release build)
#
# Needs: nginx, python3, cargo. Knobs: ROUNDS (3), N (200 requests a round).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
N=${N:-200}
BIN=${1:-}
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -q -p sandport --bin sandport)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sandport"
fi
PY="$ROOT/bench/lib/two_write.py"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 never opened" >&2; exit 1
}

SVC=$(free_port)
python3 "$PY" serve "$SVC" &
PIDS+=($!)
PX=$(free_port)
mkdir -p "$WORK/tmp"
cat >"$WORK/px.conf" <<CONF
daemon off;
master_process on;
user root;
pid $WORK/px.pid;
error_log $WORK/px.err warn;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off; tcp_nodelay on;
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp; uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    upstream svc { server 127.0.0.1:$SVC; keepalive 16; }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass http://svc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
CONF
nginx -c "$WORK/px.conf" -e "$WORK/px.err" &
PIDS+=($!)
wait_port "$SVC"
wait_port "$PX"

mkdir -p "$WORK/ws"
"$BIN" run --workspace "$WORK/ws" --json --gateway-listen 127.0.0.1:0 --expose "$SVC" -- sleep 100000 >"$WORK/run.out" 2>"$WORK/run.err" &
PIDS+=($!)
for _ in $(seq 1 200); do grep -q '"exposed"' "$WORK/run.out" && break; sleep 0.05; done
URL=$(python3 -c 'import json,sys; [print(e["url"]) for e in map(json.loads, open(sys.argv[1])) if e.get("event")=="exposed"]' "$WORK/run.out")
[ -n "$URL" ] || { echo "sandport run did not expose: $(cat "$WORK/run.err")" >&2; exit 1; }
GWHOST=$(echo "$URL" | sed -E 's#^https?://##; s#/$##')
GWADDR="127.0.0.1:${GWHOST##*:}"

echo "# two-write service — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $ROUNDS rounds x $N sequential GETs; p50 / p90 / max ms per request; gateway = $BIN"
NAMES=(direct-fresh direct-keepalive nginx gateway)
run() {
    case $1 in
        direct-fresh) python3 "$PY" client "127.0.0.1:$SVC" "localhost:$SVC" "$N" fresh ;;
        direct-keepalive) python3 "$PY" client "127.0.0.1:$SVC" "localhost:$SVC" "$N" keepalive ;;
        nginx) python3 "$PY" client "127.0.0.1:$PX" "localhost:$PX" "$N" keepalive ;;
        gateway) python3 "$PY" client "$GWADDR" "$GWHOST" "$N" keepalive ;;
    esac
}
: >"$WORK/res"
for r in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2 3; do
        name=${NAMES[$(( (k + r) % 4 ))]}
        read -r p50 p90 mx < <(run "$name")
        echo "$name $p50 $p90 $mx" >>"$WORK/res"
        printf 'round %d %-17s p50 %8s  p90 %8s  max %8s ms\n' "$r" "$name" "$p50" "$p90" "$mx"
    done
done
median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
echo "# medians over $ROUNDS rounds"
for name in "${NAMES[@]}"; do
    printf '%-17s p50 %8s  p90 %8s  max %8s ms\n' "$name" \
        "$(awk -v n="$name" '$1==n {print $2}' "$WORK/res" | median)" \
        "$(awk -v n="$name" '$1==n {print $3}' "$WORK/res" | median)" \
        "$(awk -v n="$name" '$1==n {print $4}' "$WORK/res" | median)"
done
