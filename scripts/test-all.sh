#!/usr/bin/env bash
# Every test of the project: unit, engine behaviour, gateway, end-to-end tests
# that run the real binary; with a Docker engine, the same engine cases again
# on the Docker backend plus the Docker-only tests. The command CI runs.
#
# Docker: used when `docker version` answers (CI=true makes it mandatory).
# SANDPORT_DOCKER_RESTART_TEST=1 also runs the test that stops and restarts
# dockerd (CI sets it: it owns that engine).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins --quiet

docker=0
if docker version >/dev/null 2>&1; then
  docker=1
elif [ "${CI:-}" = true ]; then
  echo "CI=true but no Docker engine answers" >&2
  exit 1
else
  echo "note: no Docker engine answers; the Docker backend tests are skipped" >&2
fi

if [ "$docker" = 1 ]; then
  # No agent build: the plain binary is its own agent in the container
  # (docs/architecture.md, "The agent binary"); only the offline images.
  bash tests/docker/images.sh
fi

status=0
cargo test --workspace --no-fail-fast || status=1

echo "== Neovim plugin (headless Neovim 0.11 against the real server)"
bash editors/nvim/run_tests.sh || status=1

echo "== VS Code extension (code-server + headless Chromium against the real server)"
bash editors/vscode/test/run.sh || status=1

if [ "$docker" = 1 ]; then
  echo "== the engine's and the language server's cases on the docker backend"
  SANDPORT_TEST_BACKEND=docker cargo test --no-fail-fast -p sandport --test engine || status=1
  SANDPORT_TEST_BACKEND=docker cargo test --no-fail-fast -p sandport-e2e \
    --test lsp_flows --test lsp_commands --test lsp_retention || status=1
  if [ "${SANDPORT_DOCKER_RESTART_TEST:-}" = 1 ]; then
    echo "== docker engine stopped and restarted mid-session"
    cargo test -p sandport --test docker_restart || status=1
  fi
fi
exit $status
