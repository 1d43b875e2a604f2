#!/usr/bin/env bash
# Every test of the project: unit, engine behaviour, and end-to-end tests
# that run the real binary. The same command CI runs (from .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --quiet
cargo test --workspace --no-fail-fast
