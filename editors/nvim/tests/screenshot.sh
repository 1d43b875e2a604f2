#!/usr/bin/env bash
# A real Neovim (TUI in tmux) with the plugin: a file with app.listen(PORT),
# :Sandport start / wait port / expose, the code lens turning into "Open
# preview", the log buffer after a request through the preview URL. Checks
# the screen, and saves it as text and (with chromium) as a PNG.
#   bash editors/nvim/tests/screenshot.sh OUT_DIR
# Env: NVIM_BIN, SANDPORT_BIN (as run_tests.sh sets them). Exit 0 = ok.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: screenshot.sh OUT_DIR}"
mkdir -p "$OUT"
command -v tmux >/dev/null || { echo "screenshot: tmux missing (apt-get install tmux)"; exit 1; }
TMP="$(mktemp -d "${TMPDIR:-/tmp}/sandport-nvim-shot.XXXXXX")"
SOCK="sandport-shot-$$"
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WS="$TMP/demo"
mkdir -p "$WS" "$TMP/xdg"
cat >"$WS/app.js" <<JS
// A tiny web app: Sandport finds the port below.
const express = require('express');
const app = express();
app.get('/', (req, res) => res.send('hello'));
app.listen($PORT);
JS
echo '<h1>hello from the sandbox</h1>' >"$WS/index.html"
cat >"$TMP/init.lua" <<LUA
vim.opt.runtimepath:prepend('$HERE')
vim.o.termguicolors = true
vim.o.cmdheight = 2 -- notifications without a hit-enter prompt
vim.o.swapfile = false
vim.o.shadafile = 'NONE'
require('sandport').setup({
  server = { path = '$SANDPORT_BIN' },
  sandboxId = 'demo',
  gateway = { listen = '127.0.0.1:0' },
})
LUA

run() { tmux -L "$SOCK" "$@"; }
screen() { run capture-pane -p -t shot; }
wait_for() { # text, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "screenshot: timed out waiting for: $1"
  screen | sed 's/^/    | /'
  return 1
}
cmd() { run send-keys -t shot "$1" Enter; }

cd "$WS"
run new-session -d -s shot -x 120 -y 30 \
  "env XDG_CONFIG_HOME=$TMP/xdg XDG_DATA_HOME=$TMP/xdg XDG_STATE_HOME=$TMP/xdg TERM=xterm-256color \
   $NVIM_BIN -u $TMP/init.lua app.js" || exit 1
wait_for 'app.listen' 20 || exit 1
cmd ":Sandport start python3 -m http.server $PORT --bind 127.0.0.1"
wait_for "Expose $PORT" 30 || exit 1
cmd ":lua require('sandport.logs').open(next(require('sandport.state').processes))"
wait_for 'Serving HTTP' 20 || exit 1
cmd ':wincmd p'
cmd ":Sandport expose $PORT web"
wait_for "exposed at" 30 || exit 1
screen | grep -qF 'Press ENTER' && run send-keys -t shot Enter
wait_for "Open preview ($PORT)" 30 || exit 1
url="$(screen | tr -d '\n' | grep -o "http://$PORT-demo-[a-z0-9]*\.localhost:[0-9]*/" | head -n1)"
[ -n "$url" ] || { echo "screenshot: no preview URL on screen"; screen; exit 1; }
curl -s -m 5 "$url" | grep -q 'hello from the sandbox' \
  || { echo "screenshot: the preview URL does not answer: $url"; exit 1; }
wait_for 'GET / HTTP' 20 || exit 1
sleep 0.3

run capture-pane -p -t shot >"$OUT/nvim-preview.txt"
run capture-pane -p -e -t shot >"$TMP/screen.ansi"
grep -qF "Open preview ($PORT)" "$OUT/nvim-preview.txt" || { echo "screenshot: lens missing"; exit 1; }
echo "ok   - screen: lens 'Open preview ($PORT)', preview URL answered, log buffer shows the request"

# A PNG of the same screen: ANSI -> HTML (ansi2html from PyPI) -> chromium.
if command -v chromium >/dev/null; then
  A2H="$HERE/.deps/ansi2html-1.9.5"
  if [ ! -d "$A2H/ansi2html" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$A2H" "ansi2html==1.9.5" \
      >/dev/null 2>&1 || { echo "screenshot: cannot install ansi2html"; exit 1; }
  fi
  PYTHONPATH="$A2H" python3 -m ansi2html -W -f 14px <"$TMP/screen.ansi" >"$TMP/screen.html" || exit 1
  sed -i 's|</style>|body{margin:0;padding:6px;background:#1e1e1e} pre,.ansi2html-content{font-family:"DejaVu Sans Mono",monospace;line-height:1.2}</style>|' "$TMP/screen.html"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1080,560 \
    --screenshot="$OUT/nvim-preview.png" "file://$TMP/screen.html" >/dev/null 2>&1
  [ -s "$OUT/nvim-preview.png" ] || { echo "screenshot: chromium made no PNG"; exit 1; }
  echo "ok   - PNG written: $OUT/nvim-preview.png"
fi
cmd ':qa!'
sleep 1
exit 0
