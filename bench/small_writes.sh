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

# WORK, PIDS, cleanup, free_port, wait_port, nginx_common, temp_paths.
source "$ROOT/bench/lib/peers.sh"

SVC=$(free_port)
python3 "$PY" serve "$SVC" &
PIDS+=($!)
PX=$(free_port)
{
    nginx_common px
    echo "worker_processes 1;"
    cat <<CONF
http {
    access_log off; tcp_nodelay on;
    $temp_paths
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
} >"$WORK/px.conf"
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
