#!/usr/bin/env bash
# A/B comparison for the preview gateway (not a test): interleaved rounds so
# that load from other work on the machine hits every target alike; prints
# each round and the median per target.
#
#   bench/gateway_ab.sh [GATEWAY_BENCH_BINARY | run:SANDPORT_BINARY]…
#
# Targets: the upstream directly, nginx as keep-alive reverse proxy (as many
# workers as the gateway has runtime threads), and one gateway per binary
# given (default: this tree's release build of the gateway_bench example).
# `run:PATH` measures the real binary as a user runs it: `PATH run --expose`
# of the upstream's ports (its own runtime and settings; GW_THREADS does not
# apply). `run:` alone is this tree's release build of `sandport`.
# "cpu" is the CPU time (user + system) the target's own processes spent per
# request: the upstream nginx for direct, the proxy for nginx and gateways.
# Every round runs each target once (order rotated round to round) with
# wrk on FILE, then WebSocket echo round trips (direct, through nginx, and
# through each gateway).
#
# Needs: wrk, nginx (apt-get install -y wrk nginx-light), cargo.
# Knobs: ROUNDS (5), DUR (5s), FILE (small|big, small), CONNS (64),
# WRK_THREADS (1), GW_THREADS (2), WS_N (5000; 0 skips WebSocket).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5s}
FILE=${FILE:-small}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-1}
GW_THREADS=${GW_THREADS:-2}
WS_N=${WS_N:-5000}

for t in wrk nginx python3; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y wrk nginx-light)" >&2; exit 1; }
done
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BINS=("$@")
if [ ${#BINS[@]} -eq 0 ]; then
    BINS=("$TARGET/release/examples/gateway_bench")
fi
# The example serves the WebSocket echo (and ws-rtt) for every target.
ECHO="$TARGET/release/examples/gateway_bench"
(cd "$ROOT" && cargo build --release -q -p sandport --example gateway_bench)
for i in "${!BINS[@]}"; do
    if [ "${BINS[$i]}" = "run:" ]; then
        (cd "$ROOT" && cargo build --release -q -p sandport --bin sandport)
        BINS[$i]="run:$TARGET/release/sandport"
    fi
done

# shellcheck source=lib/peers.sh
. "$ROOT/bench/lib/peers.sh"
start_peers "$ECHO"

NAMES=(direct nginx)
CPU_PIDS=("$UP_PID" "$PX_PID")
URLS=("http://127.0.0.1:$UP/$FILE" "http://127.0.0.1:$PX/$FILE")
HOSTS=("localhost:$UP" "localhost:$PX")
WSADDR=()
WSHOST=()
# `sandport run --json … --expose UP --expose WSP`: the same lines as the
# example's (GATEWAY=addr, HOST_port=host) from its "exposed" events.
start_run() { # binary index
    mkdir -p "$WORK/ws$2"
    "$1" run --workspace "$WORK/ws$2" --json --gateway-listen 127.0.0.1:0 \
        --expose "$UP" --expose "$WSP" -- sleep 1000000 >"$WORK/run$2.json" 2>"$WORK/run$2.err" &
    PIDS+=($!)
    CPU_PIDS+=($!)
    for _ in $(seq 1 200); do [ "$(grep -c '"exposed"' "$WORK/run$2.json")" -ge 2 ] && break; sleep 0.05; done
    python3 - "$WORK/run$2.json" >"$WORK/gw$2.out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "exposed":
        host = e["url"].split("://")[1].rstrip("/")
        print(f"GATEWAY=127.0.0.1:{host.rsplit(':', 1)[1]}")
        print(f"HOST_{e['port']}={host}")
PY
    grep -q "HOST_$WSP=" "$WORK/gw$2.out" || { echo "sandport run did not expose: $(cat "$WORK/run$2.err")" >&2; exit 1; }
}
for i in "${!BINS[@]}"; do
    case ${BINS[$i]} in
        run:*) start_run "${BINS[$i]#run:}" "$i" ;;
        *)
            "${BINS[$i]}" gateway "$UP,$WSP" "$GW_THREADS" >"$WORK/gw$i.out" &
            PIDS+=($!)
            CPU_PIDS+=($!)
            for _ in $(seq 1 100); do grep -q "HOST_$WSP=" "$WORK/gw$i.out" && break; sleep 0.05; done
            ;;
    esac
    NAMES+=("gw$i")
    URLS+=("http://$(sed -n 's/^GATEWAY=//p' "$WORK/gw$i.out" | head -1)/$FILE")
    HOSTS+=("$(sed -n "s/^HOST_$UP=//p" "$WORK/gw$i.out")")
    WSADDR+=("$(sed -n 's/^GATEWAY=//p' "$WORK/gw$i.out" | head -1)")
    WSHOST+=("$(sed -n "s/^HOST_$WSP=//p" "$WORK/gw$i.out")")
done

# Latency figures from wrk in ms.
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }
# CPU time (user+system, clock ticks) of a process and its children (nginx
# workers), threads included.
ticks() {
    local t=0 p
    for p in "$1" $(pgrep -P "$1"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
run_wrk() { # url host pid → "req/s p50ms p99ms cpu_us_per_request"
    local out t0 t1 n
    t0=$(ticks "$3")
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DUR" --latency -H "Host: $2" "$1")
    t1=$(ticks "$3")
    if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers: $out" >&2; exit 1; fi
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$(echo "$out" | awk '/^Requests\/sec/ {print $2}')" \
        "$(ms "$(echo "$out" | awk '$1=="50%" {print $2}')")" \
        "$(ms "$(echo "$out" | awk '$1=="99%" {print $2}')")" \
        "$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')"
}

echo "# gateway A/B — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $ROUNDS rounds, wrk -t$WRK_THREADS -c$CONNS -d$DUR $FILE; gateway $GW_THREADS threads, proxy nginx $GW_THREADS workers"
for i in "${!BINS[@]}"; do echo "# gw$i = ${BINS[$i]}"; done
for i in "${!NAMES[@]}"; do wrk -t1 -c"$CONNS" -d1s -H "Host: ${HOSTS[$i]}" "${URLS[$i]}" >/dev/null; done
n=${#NAMES[@]}
: >"$WORK/res"
for r in $(seq 1 "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
        i=$(( (k + r) % n ))
        read -r rps p50 p99 cpu < <(run_wrk "${URLS[$i]}" "${HOSTS[$i]}" "${CPU_PIDS[$i]}")
        echo "${NAMES[$i]} $rps $p50 $p99 $cpu" >>"$WORK/res"
        printf 'round %d %-7s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %5s us/req\n' "$r" "${NAMES[$i]}" "$rps" "$p50" "$p99" "$cpu"
    done
    if [ "$WS_N" -gt 0 ]; then
        d=$("$ECHO" ws-rtt "127.0.0.1:$WSP" "localhost:$WSP" / "$WS_N" 32)
        echo "ws-direct $d" | tee -a "$WORK/ws"
        ng=$("$ECHO" ws-rtt "127.0.0.1:$PXW" "localhost:$PXW" / "$WS_N" 32)
        echo "ws-nginx $ng" | tee -a "$WORK/ws"
        for i in "${!BINS[@]}"; do
            g=$("$ECHO" ws-rtt "${WSADDR[$i]}" "${WSHOST[$i]}" / "$WS_N" 32)
            echo "ws-gw$i $g" | tee -a "$WORK/ws"
        done
    fi
done

median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
echo "# medians over $ROUNDS rounds"
for name in "${NAMES[@]}"; do
    printf '%-9s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %5s us/req\n' "$name" \
        "$(awk -v n="$name" '$1==n {print $2}' "$WORK/res" | median)" \
        "$(awk -v n="$name" '$1==n {print $3}' "$WORK/res" | median)" \
        "$(awk -v n="$name" '$1==n {print $4}' "$WORK/res" | median)" \
        "$(awk -v n="$name" '$1==n {print $5}' "$WORK/res" | median)"
done
if [ "$WS_N" -gt 0 ]; then
    for name in ws-direct ws-nginx $(for i in "${!BINS[@]}"; do echo "ws-gw$i"; done); do
        printf '%-9s rtt p50 %7s us  p99 %7s us\n' "$name" \
            "$(awk -v n="$name" '$1==n {split($3,a,"="); print a[2]}' "$WORK/ws" | median)" \
            "$(awk -v n="$name" '$1==n {split($4,a,"="); print a[2]}' "$WORK/ws" | median)"
    done
fi
