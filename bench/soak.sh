#!/usr/bin/env bash
# Long-session benchmark (prints figures; not a test): the release
# `sandport lsp` driven over pipes by the e2e client (tests/examples/soak.rs).
#
#   - PROCESSES (default 10000) processes `echo hi`, each started and waited for
#   - then 20 processes printing 3 MB each
#   - then every process still kept removed with sandport.removeProcess
#
# Prints the server's RSS after the first 100, after all, after removal and
# idle, and the ratio end / first 100 (target <= 1.25, idle < 20 MiB).
# Needs: cargo, coreutils (yes, head).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release -q -p sandport
cargo build --release -q -p sandport-e2e --example soak
SANDPORT_BIN="$ROOT/target/release/sandport" "$ROOT/target/release/examples/soak"
