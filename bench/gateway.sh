#!/usr/bin/env bash
# Preview gateway benchmark (prints figures side by side; not a test; one
# run of each — bench/gateway_ab.sh interleaves rounds and takes medians).
#
#   HTTP: wrk against (a) the upstream directly, (b) nginx as a keep-alive
#   reverse proxy with as many workers as the gateway has runtime threads,
#   (c) the Sandport gateway; small (100 B) and 1 MiB responses. The
#   upstream is nginx serving static files (one worker).
#   WebSocket: echo round trips, direct vs through nginx vs through the
#   gateway.
#
# Needs: wrk, nginx (apt-get install -y wrk nginx-light), cargo.
# Knobs: DUR (10s), CONNS (64), WRK_THREADS (1), GW_THREADS (2), WS_N (5000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-1}
GW_THREADS=${GW_THREADS:-2}
WS_N=${WS_N:-5000}

for t in wrk nginx python3 cargo; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y wrk nginx-light)" >&2; exit 1; }
done

(cd "$ROOT" && cargo build --release -q -p sandport --example gateway_bench)
BIN=$ROOT/target/release/examples/gateway_bench

# shellcheck source=lib/peers.sh
. "$ROOT/bench/lib/peers.sh"
start_peers "$BIN"

"$BIN" gateway "$UP,$WSP" "$GW_THREADS" >"$WORK/gw.out" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "HOST_$WSP=" "$WORK/gw.out" && break; sleep 0.05; done
GW=$(sed -n 's/^GATEWAY=//p' "$WORK/gw.out")
GW_HOST=$(sed -n "s/^HOST_$UP=//p" "$WORK/gw.out")
WS_HOST=$(sed -n "s/^HOST_$WSP=//p" "$WORK/gw.out")

# wrk → "req/s p50 p99 MB/s"
run_wrk() { # url host
    local out
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DUR" --latency -H "Host: $2" "$1")
    if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers: $out" >&2; exit 1; fi
    local rps p50 p99 tr
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    tr=$(echo "$out" | awk '/^Transfer\/sec/ {print $2}')
    echo "$rps $p50 $p99 $tr"
}

echo "# Sandport gateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -sr)"
echo "# wrk -t$WRK_THREADS -c$CONNS -d$DUR; nginx upstream 1 worker; proxy nginx $GW_THREADS workers; gateway $GW_THREADS threads"
printf '%-7s %-8s %12s %10s %10s %12s\n' size target req/s p50 p99 transfer
declare -A RPS P99
for f in small big; do
    for target in direct nginx gateway; do
        case $target in
            direct) url="http://127.0.0.1:$UP/$f"; host="localhost:$UP" ;;
            nginx) url="http://127.0.0.1:$PX/$f"; host="localhost:$PX" ;;
            gateway) url="http://$GW/$f"; host="$GW_HOST" ;;
        esac
        # Warm-up (pools, page cache).
        wrk -t1 -c"$CONNS" -d1s -H "Host: $host" "$url" >/dev/null
        read -r rps p50 p99 tr < <(run_wrk "$url" "$host")
        RPS[$f.$target]=$rps
        P99[$f.$target]=$p99
        printf '%-7s %-8s %12s %10s %10s %12s\n' "$f" "$target" "$rps" "$p50" "$p99" "$tr"
    done
    awk -v g="${RPS[$f.gateway]}" -v n="${RPS[$f.nginx]}" -v d="${RPS[$f.direct]}" -v f="$f" \
        'BEGIN { printf "%-7s gateway/nginx req/s = %.2f×   gateway/direct req/s = %.2f×\n", f, g/n, g/d }'
    echo "${f}: p99 gateway ${P99[$f.gateway]} vs nginx ${P99[$f.nginx]}"
done

echo
echo "# WebSocket echo, $WS_N sequential round trips of 32 B over one connection"
d=$("$BIN" ws-rtt "127.0.0.1:$WSP" "localhost:$WSP" / "$WS_N" 32)
ng=$("$BIN" ws-rtt "127.0.0.1:$PXW" "localhost:$PXW" / "$WS_N" 32)
g=$("$BIN" ws-rtt "$GW" "$WS_HOST" / "$WS_N" 32)
echo "direct:  $d"
echo "nginx:   $ng"
echo "gateway: $g"
awk -v d="$d" -v n="$ng" -v g="$g" 'BEGIN {
    split(d, a, /[ =]/); split(n, c, /[ =]/); split(g, b, /[ =]/);
    printf "ws p50 gateway/direct = %.2f×   p99 = %.2f×   (nginx/direct p50 = %.2f×   p99 = %.2f×)\n",
        b[3]/a[3], b[5]/a[5], c[3]/a[3], c[5]/a[5] }'
