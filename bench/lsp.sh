#!/usr/bin/env bash
# Language-server benchmark (prints figures; not a test): the release
# `sandport lsp` driven over pipes by the e2e client
# (tests/examples/lsp_bench.rs).
#
#   - initialize round trip over fresh servers (RUNS, default 20)
#   - RSS of an idle server after initialize
#   - sandport/log delivery for `seq 1 LINES` (default 1000000)
#
# Needs: cargo, coreutils (seq).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release -q -p sandport
cargo build --release -q -p sandport-e2e --example lsp_bench
SANDPORT_BIN="$ROOT/target/release/sandport" "$ROOT/target/release/examples/lsp_bench"
