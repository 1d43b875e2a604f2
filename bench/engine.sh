#!/usr/bin/env bash
# Engine figures for docs/performance.md: readiness latency, log capture
# overhead, memory. Prints figures side by side; asserts nothing.
#   bash bench/engine.sh            (TRIALS=40 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example bench_engine -p sandport
echo "# engine bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
./target/release/examples/bench_engine
if command -v hyperfine >/dev/null; then
  cargo build --release --quiet -p sandport
  ws=$(mktemp -d)
  w="yes 'a line of output that is 48 bytes long .......' | head -c 200000000"
  echo "# end to end: sandport run printing 200 MB vs the writer alone (both to /dev/null)"
  hyperfine --warmup 1 --runs 5 -N --style basic \
    "sh -c \"$w > /dev/null\"" \
    "./target/release/sandport run --workspace $ws -- \"$w\"" 2>&1 | grep -E "Time|±|faster|Benchmark" || true
  rm -rf "$ws"
fi
