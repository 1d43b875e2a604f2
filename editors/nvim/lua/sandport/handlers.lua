-- Handlers of the server's notifications and requests.
local config = require('sandport.config')
local state = require('sandport.state')

local M = {}

local uv = vim.uv or vim.loop
local DEDUP_MS = 5000

local recently_announced = {} -- url -> time
local recently_opened = {} -- url -> time

local function recent(tbl, url)
  local now = uv.now()
  local t = tbl[url]
  tbl[url] = now
  return t ~= nil and now - t < DEDUP_MS
end

local function nonnull(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

--- The register an URL goes to: `+` when a clipboard exists, else `"`.
function M.register()
  if vim.fn.has('clipboard') == 1 then
    return '+'
  end
  return '"'
end

--- Whether a browser can be opened from here: macOS, Windows/WSL, a
--- graphical session ($DISPLAY, $WAYLAND_DISPLAY) or $BROWSER. On a
--- terminal-only machine (SSH, a container) xdg-open has nothing to open
--- the URL with, and it would fail out of sight.
function M.browser_available()
  if vim.fn.has('mac') == 1 or vim.fn.has('win32') == 1 or vim.fn.has('wsl') == 1 then
    return true
  end
  for _, v in ipairs({ 'DISPLAY', 'WAYLAND_DISPLAY', 'BROWSER' }) do
    local x = vim.env[v]
    if x and x ~= '' then
      return true
    end
  end
  return false
end

--- An URL that cannot be opened is shown and copied instead.
local function cannot_open(url, why)
  local reg = M.register()
  pcall(vim.fn.setreg, reg, url)
  vim.notify(
    ('Sandport: cannot open a browser (%s); open %s yourself [copied to register %s]'):format(why, url, reg),
    vim.log.levels.WARN,
    { title = 'Sandport' }
  )
end

--- Open an URL in the browser (vim.ui.open), at most once per few seconds;
--- when no browser can be opened, show the URL and copy it. Returns whether
--- it was opened.
function M.open_url(url)
  if recent(recently_opened, url) then
    return true
  end
  if not M.browser_available() then
    cannot_open(url, 'no graphical session or $BROWSER')
    return false
  end
  local ok, cmd, err = pcall(vim.ui.open, url)
  if not ok or (not cmd and err) then
    cannot_open(url, tostring(ok and err or cmd))
    return false
  end
  return true
end

--- Tell the user about an exposed port: notification with name, port and
--- URL; the URL in a register; opened when `open_browser` is set. Returns
--- whether the URL was opened.
function M.announce(x)
  local url = x.url
  if not url or recent(recently_announced, url) then
    return false
  end
  local name = nonnull(x.name)
  local what = name and ('%s (port %d)'):format(name, x.port) or ('port %d'):format(x.port)
  local reg = M.register()
  pcall(vim.fn.setreg, reg, url)
  local expires = nonnull(x.expiresAt)
  vim.notify(
    ('Sandport: %s exposed at %s%s [copied to register %s]'):format(
      what,
      url,
      expires and (' until ' .. expires) or '',
      reg
    ),
    vim.log.levels.INFO,
    { title = 'Sandport' }
  )
  if config.options.open_browser then
    M.open_url(url)
    return true
  end
  return false
end

--- Forget recent announcements and openings (tests).
function M._reset_dedup()
  recently_announced = {}
  recently_opened = {}
end

--- Ports whose exposePort request of ours is in flight: its result is
--- announced (it has the expiry), not the server's message.
M.exposing = {}

M.handlers = {}

M.handlers['sandport/log'] = function(_, params)
  if params then
    require('sandport.logs').on_log(params)
  end
end

M.handlers['sandport/processChanged'] = function(_, p)
  if type(p) ~= 'table' then
    return
  end
  state.set_process(p)
  require('sandport.logs').on_process(p)
  if p.status == 'failed' or p.status == 'error' then
    local exit = nonnull(p.exitCode)
    local label = state.label(p)
    local cmd = nonnull(p.command)
    vim.notify(
      ('Sandport: %s %s%s%s'):format(
        label,
        p.status,
        exit and (' with exit code ' .. exit) or '',
        (cmd and cmd ~= label) and (': ' .. cmd) or ''
      ),
      vim.log.levels.ERROR,
      { title = 'Sandport' }
    )
  end
end

-- A process was forgotten (sandport.removeProcess or the keepEnded bound):
-- it leaves the plugin's state and its log buffer goes.
M.handlers['sandport/processRemoved'] = function(_, params)
  local id = type(params) == 'table' and params.processId
  if type(id) ~= 'string' then
    return
  end
  state.remove_process(id)
  require('sandport.logs').on_removed(id)
end

M.handlers['workspace/codeLens/refresh'] = function(err, result, ctx)
  return require('sandport.lens').on_refresh_request(err, result, ctx)
end

M.handlers['sandport/portsChanged'] = function(_, params, ctx)
  if type(params) == 'table' and type(params.ports) == 'table' then
    state.ports = params.ports
    require('sandport.lists').on_ports_changed()
    -- "Expose 3000" becomes "Open preview (3000)" and back.
    require('sandport.lens').on_refresh_request(nil, nil, ctx)
  end
end

-- The server asks Open / Copy URL when a port was exposed (onExpose
-- "notify"): answered at once, without blocking the editor. The plugin
-- notifies and copies the URL itself, and opens it when `open_browser` is
-- set; the answer names what was done.
M.handlers['window/showMessageRequest'] = function(err, params, ctx, cfg)
  local msg = params and params.message or ''
  local url = msg:match('exposed at (%S+)')
  if url then
    local titles = {}
    for _, a in ipairs(params.actions or {}) do
      titles[a.title] = a
    end
    local port = tonumber(url:match('^%a+://(%d+)%-'))
    local known = port and state.port(port)
    local x = known and known.url == url and known or { port = port or 0, url = url }
    if not known then
      x.name = msg:match('^Sandport: (.-) %(port %d+%) is exposed')
    end
    if port and M.exposing[port] then
      return titles['Copy URL'] or vim.NIL
    end
    local opened = M.announce(x)
    if opened and titles['Open'] then
      -- Already opened here; the server's showDocument is deduplicated.
      return titles['Open']
    end
    return titles['Copy URL'] or vim.NIL
  end
  return vim.lsp.handlers['window/showMessageRequest'](err, params, ctx, cfg)
end

-- External documents (preview URLs) open in the browser.
M.handlers['window/showDocument'] = function(err, params, ctx, cfg)
  if params and params.external then
    local ok = M.open_url(params.uri)
    return { success = ok }
  end
  return vim.lsp.handlers['window/showDocument'](err, params, ctx, cfg)
end

return M
