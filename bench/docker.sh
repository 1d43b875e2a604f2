#!/usr/bin/env bash
# Docker vs local figures for docs/performance.md. Needs a Docker engine.
# Prints figures side by side; asserts nothing.   bash bench/docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release \
  --target x86_64-unknown-linux-gnu -p sandport --bin sandport
export SANDPORT_AGENT="$PWD/target/x86_64-unknown-linux-gnu/release/sandport"
bash tests/docker/images.sh
cargo build --release --quiet --example bench_docker -p sandport
echo "# docker bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), $(docker version --format 'engine {{.Server.Version}} API {{.Server.APIVersion}}')"
./target/release/examples/bench_docker
