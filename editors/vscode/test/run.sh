#!/usr/bin/env bash
# Build the server and the extension; build the VSIX with `npm run package`
# in a fresh copy of the extension (the files git tracks or would track: no
# out/, no node_modules) with the server bundled in it; install that VSIX into
# a real VS Code (code-server) with --install-extension; then run, against the
# installed copy, (a) the tests inside the extension host and (b) a UI test
# through the command palette in headless Chromium. Ends with "N passed, N
# failed"; exits non-zero on any failure.
#
# Needs: cargo, git, node 20 + npm, python3, and apt packages chromium ripgrep
# unzip build-essential pkg-config libkrb5-dev (installed here when missing and
# running as root). Env: SANDPORT_SERVER_BIN to use another server binary;
# KEEP_TMP=1 to keep the temporary directory; ONLY=ext or ONLY=ui to run one part.
set -uo pipefail
EXT="$(cd "$(dirname "$0")/.." && pwd)"          # editors/vscode
REPO="$(cd "$EXT/../.." && pwd)"
DEPS="$EXT/.test-deps"
OUT="$EXT/test/results"
START=$(date +%s)
steps_passed=0
steps_failed=0
step() { # name, command...
  local name="$1"; shift
  local t0=$(date +%s)
  if "$@" > "$OUT/$name.log" 2>&1; then
    echo "ok - $name ($(( $(date +%s) - t0 )) s)"; steps_passed=$((steps_passed + 1)); return 0
  else
    echo "not ok - $name ($(( $(date +%s) - t0 )) s); last lines of $OUT/$name.log:"
    tail -n 25 "$OUT/$name.log" | sed 's/^/    /'
    steps_failed=$((steps_failed + 1)); return 1
  fi
}
finish() {
  echo "$steps_passed passed, $steps_failed failed"
  [ "$steps_failed" -eq 0 ]
  exit $?
}
rm -rf "$OUT" && mkdir -p "$OUT/screenshots"

# A marker in the environment of everything this run starts (code-server,
# its extension hosts, the sandport servers, their processes, chromium): the
# clean-up finds exactly those in /proc.
export SANDPORT_TEST_RUN="vscode-$$-$RANDOM$RANDOM"
TMP="$(mktemp -d /tmp/sandport-vscode-test.XXXXXX)"
ours() { # live pids carrying the marker, except this shell
  local f p
  for f in $(grep -lsxzF "SANDPORT_TEST_RUN=$SANDPORT_TEST_RUN" /proc/[0-9]*/environ 2>/dev/null); do
    p=${f#/proc/}; p=${p%/environ}
    [ "$p" = $$ ] && continue
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue   # zombies are gone
    [ -e "/proc/$p" ] && echo "$p"
  done
}
killtree() { # signal: every marked process group but ours, then marked pids
  local sig=$1 mypg p pg
  mypg=$(ps -o pgid= -p $$ | tr -d ' ')
  for p in $(ours); do
    pg=$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')
    if [ -n "$pg" ] && [ "$pg" != "$mypg" ]; then kill "-$sig" -- "-$pg" 2>/dev/null; else kill "-$sig" "$p" 2>/dev/null; fi
  done
}
cleanup() {
  local i
  [ -n "${CS_PGID:-}" ] && kill -TERM -- "-$CS_PGID" 2>/dev/null
  # sandport stops its processes when its client goes (contract: within 10 s)
  for i in $(seq 1 40); do [ -z "$(ours)" ] && break; sleep 0.25; done
  killtree TERM
  for i in $(seq 1 20); do [ -z "$(ours)" ] && break; sleep 0.25; done
  killtree KILL
  sleep 0.5
  [ "${KEEP_TMP:-}" = 1 ] || rm -rf "$TMP"
}
trap 'cleanup; exit 130' INT TERM

# ---- system packages
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
command -v unzip >/dev/null || need+=(unzip)
command -v make >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -e /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    step apt-install bash -c "DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${need[*]}" || finish
  else
    echo "not ok - missing packages: ${need[*]} (apt-get install them)"; steps_failed=$((steps_failed + 1)); finish
  fi
fi

# ---- the server
BIN="${SANDPORT_SERVER_BIN:-$REPO/target/debug/sandport}"
if [ ! -x "$BIN" ]; then
  step build-server bash -c "cd '$REPO' && cargo build --bin sandport" || finish
fi

# ---- the extension: install, lint, bundle, package
cd "$EXT"
if [ ! -f node_modules/.sandport-lock ] || ! cmp -s package-lock.json node_modules/.sandport-lock; then
  step npm-ci bash -c "npm ci --no-audit --no-fund && cp package-lock.json node_modules/.sandport-lock" || finish
fi
step lint npm run lint
step build npm run build || finish    # test/suite/index.js (the extension itself is built in the fresh copy)
step unit-tests npm run -s test:unit

# ---- the VSIX, as a user builds it: a fresh copy, npm ci, the server bundled, npm run package
FRESH="$TMP/fresh/editors/vscode"
fresh_package() ( # a subshell: the cd stays in it
  mkdir -p "$FRESH" &&
  (cd "$EXT" && git ls-files -z -co --exclude-standard . | xargs -0 cp --parents -t "$FRESH") &&
  cd "$FRESH" && [ ! -e out ] && [ ! -e node_modules ] &&
  npm ci --no-audit --no-fund --prefer-offline &&
  npm run bundle-server -- "$BIN" &&
  npm run package &&
  unzip -l sandport.vsix
)
step package-fresh-copy fresh_package || { cleanup; finish; }
VSIX="$FRESH/sandport.vsix"

# ---- the harness: code-server and playwright-core (its own node_modules)
# This npm blocks dependencies' install scripts unless allowed; code-server's
# postinstall (and the native modules of its nested install) need them.
if [ ! -f "$DEPS/.sandport-lock" ] || ! cmp -s test/deps/package-lock.json "$DEPS/.sandport-lock"; then
  rgc="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$rgc" "$DEPS"
  if [ ! -f "$rgc/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
    d=$(mktemp -d) && cp "$(command -v rg)" "$d/rg" && tar -C "$d" -czf "$rgc/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg && rm -rf "$d"
  fi
  cp test/deps/package.json test/deps/package-lock.json "$DEPS/"
  step install-code-server bash -c "cd '$DEPS' && npm_config_unsafe_perm=true npm_config_yes=true npm_config_dangerously_allow_all_scripts=true npm ci --no-audit --no-fund && cp package-lock.json .sandport-lock" || finish
fi
CS="$DEPS/node_modules/code-server/out/node/entry.js"

# ---- a VS Code profile and two workspaces
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
CS_PORT=$(free_port); GW_A=$(free_port); GW_B=$(free_port); PORT_A=$(free_port); PORT_B=$(free_port); WAIT_PORT=$(free_port)
mkdir -p "$TMP/user/User" "$TMP/exts" "$TMP/ws-a/.vscode" "$TMP/ws-b/.vscode" "$TMP/ws-c"
cat > "$TMP/config.yaml" <<YAML
bind-addr: 127.0.0.1:$CS_PORT
auth: none
cert: false
YAML
cat > "$TMP/user/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "security.workspace.trust.enabled": false,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "update.mode": "none",
  "window.commandCenter": false,
  "chat.commandCenter.enabled": false,
  "workbench.colorTheme": "Default Dark Modern"
}
JSON
for w in a b; do
  gw=$GW_A; id=exttest; [ $w = b ] && { gw=$GW_B; id=uitest; }
  cat > "$TMP/ws-$w/.vscode/settings.json" <<JSON
{ "sandport.gateway.listen": "127.0.0.1:$gw", "sandport.sandboxId": "$id" }
JSON
done
cat > "$TMP/ws-a/.sandport-test.json" <<JSON
{ "port": $PORT_A, "gatewayPort": $GW_A, "results": "$OUT/ext-host.jsonl" }
JSON
cat > "$TMP/ws-b/server.py" <<PY
# A static site served by: python3 -m http.server $PORT_B --bind 127.0.0.1
PORT = $PORT_B
PY
echo '<!doctype html><title>Sandport UI test</title><h1>Hello from the sandbox</h1>' > "$TMP/ws-b/index.html"
# ws-b has services (a Procfile): the extension activates when it opens.
echo "web: python3 -m http.server $PORT_B --bind 127.0.0.1" > "$TMP/ws-b/Procfile"
# ws-c has none: opening it must start no server.
echo '# notes: nothing for Sandport here' > "$TMP/ws-c/README.md"

CSARGS=(--config "$TMP/config.yaml" --user-data-dir "$TMP/user" --extensions-dir "$TMP/exts")
step install-vsix node "$CS" "${CSARGS[@]}" --install-extension "$VSIX" || { cleanup; finish; }
INSTALLED=$(ls -d "$TMP/exts"/sandport.sandport-* 2>/dev/null | head -1)
if [ -z "$INSTALLED" ] || [ ! -x "$INSTALLED/server/sandport" ]; then
  echo "not ok - the installed extension carries an executable server/sandport ($INSTALLED)"; steps_failed=$((steps_failed + 1)); cleanup; finish
fi
echo "ok - installed as $INSTALLED with its server"; steps_passed=$((steps_passed + 1))

# ---- code-server, in its own process group. No SANDPORT_SERVER: the
# installed extension runs the server it carries.
unset SANDPORT_SERVER
t_cs=$(date +%s)
setsid node "$CS" "${CSARGS[@]}" --bind-addr "127.0.0.1:$CS_PORT" --auth none --disable-telemetry \
  --disable-update-check --disable-workspace-trust --disable-getting-started-override "$TMP/ws-a" \
  > "$OUT/code-server.log" 2>&1 &
CS_PID=$!
CS_PGID=$CS_PID
ok=
for i in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$CS_PORT/healthz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$CS_PID" 2>/dev/null || break
  sleep 0.25
done
if [ -z "$ok" ]; then
  echo "not ok - code-server did not answer /healthz"; tail -20 "$OUT/code-server.log"; steps_failed=$((steps_failed + 1)); cleanup; finish
fi
echo "ok - code-server up ($(( $(date +%s) - t_cs )) s)"; steps_passed=$((steps_passed + 1))

# ---- the tests (bounded: the driver has its own limits; this is the last resort)
export CS_PORT CS_PID WS_A="$TMP/ws-a" WS_B="$TMP/ws-b" WS_C="$TMP/ws-c" EXT_DIR="$EXT" INSTALLED OUT GW_B PORT_B WAIT_PORT
timeout -k 5 720 node "$EXT/test/driver.mjs"
rc=$?
read -r dp df < "$OUT/driver-counts" 2>/dev/null || { dp=0; df=1; echo "not ok - the driver ended (rc $rc) without results"; }
steps_passed=$((steps_passed + dp)); steps_failed=$((steps_failed + df))

cleanup
left=$(ours)
if [ -n "$left" ]; then
  echo "not ok - processes left after clean-up: $left"; ps -o pid,pgid,stat,cmd -p $(echo $left | tr ' ' ,) | sed 's/^/    /'
  steps_failed=$((steps_failed + 1))
else
  echo "ok - nothing left running (code-server, chromium, sandport, services)"; steps_passed=$((steps_passed + 1))
fi
echo "# total $(( $(date +%s) - START )) s; screenshots in $OUT/screenshots"
finish
