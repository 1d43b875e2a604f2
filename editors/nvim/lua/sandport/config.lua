-- Settings of the plugin: the contract's `sandport` section (sent to the
-- server) plus the plugin's own options.
local M = {}

local defaults = {
  -- The contract's `sandport` section (nil: the server's default).
  backend = nil, -- "local" | "docker"
  sandboxId = nil,
  docker = { image = nil, host = nil, mounts = nil },
  gateway = {
    listen = nil,
    domain = nil,
    publicUrl = nil,
    tls = { cert = nil, key = nil },
    hostHeader = nil,
  },
  onExpose = nil, -- "notify" | "openBrowser" | "silent"
  -- Retention (contract v2): ended processes kept (0–100000) and the bound
  -- of their logs together (bytes), applied live.
  processes = { keepEnded = nil, endedLogBytes = nil },

  -- Plugin options.
  server = {
    -- Full command (list); when nil: { path, 'lsp' }.
    cmd = nil,
    -- Binary; when nil: $SANDPORT_SERVER, else `sandport` on PATH.
    path = nil,
  },
  open_browser = false, -- open a newly exposed URL with vim.ui.open
  log_max_lines = 10000, -- bound of each log buffer
  list_style = 'float', -- "float" | "quickfix"
  progress = true, -- echo wait progress
}

M.defaults = vim.deepcopy(defaults)
M.options = vim.deepcopy(defaults)

local SECTION_KEYS = { 'backend', 'sandboxId', 'docker', 'gateway', 'onExpose', 'processes' }

--- Merge user options into the current ones.
local function merge(dst, src)
  for k, v in pairs(src) do
    if type(v) == 'table' and not vim.islist(v) and type(dst[k]) == 'table' then
      merge(dst[k], v)
    else
      -- Scalars and lists (docker.mounts, server.cmd) are replaced whole.
      dst[k] = vim.deepcopy(v)
    end
  end
  return dst
end

function M.set(opts)
  merge(M.options, opts or {})
  return M.options
end

function M.reset()
  M.options = vim.deepcopy(defaults)
end

--- The binary the server is started from.
function M.server_path()
  local o = M.options.server or {}
  if o.cmd and o.cmd[1] then
    return o.cmd[1]
  end
  if o.path and o.path ~= '' then
    return o.path
  end
  local env = vim.env.SANDPORT_SERVER
  if env and env ~= '' then
    return env
  end
  return 'sandport'
end

--- The command that starts the language server.
function M.server_cmd()
  local o = M.options.server or {}
  if o.cmd and o.cmd[1] then
    return vim.deepcopy(o.cmd)
  end
  return { M.server_path(), 'lsp' }
end

--- The contract's `sandport` section: only the keys the user set.
function M.section()
  local s = {}
  for _, k in ipairs(SECTION_KEYS) do
    local v = M.options[k]
    if v ~= nil then
      s[k] = vim.deepcopy(v)
    end
  end
  -- Drop empty tables (the server keeps its defaults for absent keys).
  local function prune(t)
    if type(t) ~= 'table' or (vim.islist(t) and next(t) ~= nil) then
      return t
    end
    for k, v in pairs(t) do
      local pv = prune(v)
      if type(pv) == 'table' and next(pv) == nil then
        pv = nil
      end
      t[k] = pv
    end
    return t
  end
  return prune(s)
end

local function one_of(choices)
  return function(v)
    return v == nil or vim.tbl_contains(choices, v), 'one of ' .. table.concat(choices, ', ')
  end
end

local function opt_type(ty)
  return function(v)
    return v == nil or type(v) == ty, ty
  end
end

local function host_port(v)
  if v == nil then
    return true
  end
  if type(v) ~= 'string' then
    return false, '"host:port"'
  end
  local host, port = v:match('^%[?([^%]]*)%]?:(%d+)$')
  port = tonumber(port)
  return host ~= nil and host ~= '' and port ~= nil and port <= 65535, '"host:port"'
end

--- Check the options; returns a list of problems (empty when valid).
function M.validate(o)
  o = o or M.options
  local problems = {}
  local function check(name, value, pred)
    local ok, expected = pred(value)
    if not ok then
      table.insert(problems, ('%s: expected %s, got %s'):format(name, expected, vim.inspect(value)))
    end
  end
  local docker = o.docker or {}
  local gw = o.gateway or {}
  local tls = gw.tls or {}
  check('backend', o.backend, one_of({ 'local', 'docker' }))
  check('sandboxId', o.sandboxId, function(v)
    return v == nil or (type(v) == 'string' and v:match('^[a-z0-9][a-z0-9-]*$') ~= nil),
      'a DNS-safe string ([a-z0-9-])'
  end)
  check('docker.image', docker.image, opt_type('string'))
  check('docker.host', docker.host, opt_type('string'))
  check('docker.mounts', docker.mounts, function(v)
    if v == nil then
      return true
    end
    if type(v) ~= 'table' or not vim.islist(v) then
      return false, 'a list of "host:container[:ro]"'
    end
    for _, m in ipairs(v) do
      if type(m) ~= 'string' or not m:match('^[^:]+:[^:]+') then
        return false, 'a list of "host:container[:ro]"'
      end
    end
    return true
  end)
  check('gateway.listen', gw.listen, host_port)
  check('gateway.domain', gw.domain, opt_type('string'))
  check('gateway.publicUrl', gw.publicUrl, function(v)
    return v == nil or (type(v) == 'string' and (v == '' or v:match('^https?://') ~= nil)),
      'a URL starting with http:// or https://'
  end)
  check('gateway.tls.cert', tls.cert, opt_type('string'))
  check('gateway.tls.key', tls.key, opt_type('string'))
  if (tls.cert == nil) ~= (tls.key == nil) then
    table.insert(problems, 'gateway.tls: cert and key must be set together')
  end
  check('gateway.hostHeader', gw.hostHeader, one_of({ 'localhost', 'preserve' }))
  check('onExpose', o.onExpose, one_of({ 'notify', 'openBrowser', 'silent' }))
  local procs = o.processes or {}
  local function int_in(lo, hi)
    return function(v)
      return v == nil or (type(v) == 'number' and v == math.floor(v) and v >= lo and (not hi or v <= hi)),
        hi and ('an integer %d–%d'):format(lo, hi) or ('an integer >= %d'):format(lo)
    end
  end
  check('processes.keepEnded', procs.keepEnded, int_in(0, 100000))
  check('processes.endedLogBytes', procs.endedLogBytes, int_in(0, nil))
  local server = o.server or {}
  check('server.cmd', server.cmd, function(v)
    return v == nil or (type(v) == 'table' and type(v[1]) == 'string'), 'a list of strings'
  end)
  check('server.path', server.path, opt_type('string'))
  check('open_browser', o.open_browser, opt_type('boolean'))
  check('log_max_lines', o.log_max_lines, function(v)
    return type(v) == 'number' and v >= 10, 'a number >= 10'
  end)
  check('list_style', o.list_style, one_of({ 'float', 'quickfix' }))
  check('progress', o.progress, opt_type('boolean'))
  return problems
end

return M
