# Shared by bench/gateway.sh and bench/gateway_ab.sh (sourced, not run):
# the peers every gateway figure is compared with. `start_peers ECHO_BIN`
# starts, on free 127.0.0.1 ports, the upstream nginx serving $WORK/www/small
# (100 B) and $WORK/www/big (1 MiB) ($UP, pid $UP_PID), the WebSocket echo
# server of ECHO_BIN `ws-echo` ($WSP), and nginx as keep-alive reverse proxy
# to both with $GW_THREADS workers ($PX for HTTP, $PXW for WebSocket, pid
# $PX_PID). Everything in $PIDS is stopped and $WORK removed on exit.

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
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 never opened" >&2; exit 1
}

mkdir -p "$WORK/www" "$WORK/tmp"
head -c 100 /dev/zero | tr '\0' x >"$WORK/www/small"
head -c 1048576 /dev/zero | tr '\0' x >"$WORK/www/big"

nginx_common() {
    cat <<EOF
daemon off;
master_process on;
user root;
pid $WORK/$1.pid;
error_log $WORK/$1.err warn;
events { worker_connections 8192; }
EOF
}
temp_paths="client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp; uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;"

start_peers() {
UP=$(free_port)
{
    nginx_common up
    echo "worker_processes 1;"
    cat <<EOF
http {
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 120;
    $temp_paths
    server { listen 127.0.0.1:$UP; root $WORK/www; location / { } }
}
EOF
} >"$WORK/up.conf"
nginx -c "$WORK/up.conf" -e "$WORK/up.err" &
PIDS+=($!)
UP_PID=$!

"$1" ws-echo >"$WORK/ws.out" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q PORT= "$WORK/ws.out" && break; sleep 0.05; done
WSP=$(sed -n 's/^PORT=//p' "$WORK/ws.out")

PX=$(free_port)
PXW=$(free_port)
{
    nginx_common px
    echo "worker_processes $GW_THREADS;"
    cat <<EOF
http {
    access_log off; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 120;
    $temp_paths
    upstream up { server 127.0.0.1:$UP; keepalive 128; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$PX;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host localhost:$UP;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering off;
        }
    }
    # WebSocket (any upgrade) to the echo server, for the round-trip figures.
    server {
        listen 127.0.0.1:$PXW;
        location / {
            proxy_pass http://127.0.0.1:$WSP;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection upgrade;
            proxy_set_header Host localhost:$WSP;
            proxy_read_timeout 300s;
        }
    }
}
EOF
} >"$WORK/px.conf"
nginx -c "$WORK/px.conf" -e "$WORK/px.err" &
PIDS+=($!)
PX_PID=$!

wait_port "$UP"
wait_port "$PX"
wait_port "$PXW"
}
