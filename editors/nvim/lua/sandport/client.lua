-- The language server client: started on first use, shared by every
-- command, with the plugin's handlers; executeCommand with one object
-- argument; progress tokens and cancellation of pending requests.
local config = require('sandport.config')
local state = require('sandport.state')

local M = {}

M.ROOT_MARKERS = { '.sandport', '.git' }

local uv = vim.uv or vim.loop
local token_seq = 0

--- Requests in flight: request id -> {title, token, client_id, method}.
M.pending = {}

local function empty_dict_if_empty(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end

local function own_on_init(client)
  M._on_init(client)
end

--- The vim.lsp.Config of the server (used by lsp/sandport.lua and by
--- `:Sandport` when `vim.lsp.enable('sandport')` is not in use).
function M.lsp_config()
  local section = config.section()
  return {
    name = 'sandport',
    cmd = config.server_cmd(),
    root_markers = M.ROOT_MARKERS,
    -- Buffers of files only (not unnamed ones): the nearest folder with a
    -- marker, else the current directory.
    root_dir = function(bufnr, on_dir)
      if vim.api.nvim_buf_get_name(bufnr) == '' then
        return
      end
      on_dir(vim.fs.root(bufnr, M.ROOT_MARKERS) or vim.fn.getcwd())
    end,
    init_options = empty_dict_if_empty(section),
    settings = { sandport = empty_dict_if_empty(section) },
    -- The server asks for a code lens refresh when the ports in use or
    -- exposed change (Neovim 0.11 does not announce it by itself).
    capabilities = { workspace = { codeLens = { refreshSupport = true } } },
    handlers = require('sandport.handlers').handlers,
    on_init = own_on_init,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        M._on_exit(code, signal, client_id)
      end)
    end,
  }
end

--- The running, not stopped, client of this workspace (or nil).
function M.get()
  if M.client_id then
    local c = vim.lsp.get_client_by_id(M.client_id)
    if c and not c:is_stopped() then
      return c
    end
    M.client_id = nil
  end
  for _, c in ipairs(vim.lsp.get_clients({ name = 'sandport' })) do
    if not c:is_stopped() then
      M.client_id = c.id
      return c
    end
  end
end

--- The workspace root :Sandport uses.
function M.root()
  return vim.fs.root(0, M.ROOT_MARKERS) or vim.fn.getcwd()
end

local progress_au

local function setup_progress()
  if progress_au then
    return
  end
  progress_au = vim.api.nvim_create_autocmd('LspProgress', {
    group = vim.api.nvim_create_augroup('sandport_progress', { clear = true }),
    callback = function(ev)
      local data = ev.data or {}
      local c = data.client_id and vim.lsp.get_client_by_id(data.client_id)
      if not c or c.name ~= 'sandport' then
        return
      end
      require('sandport.progress').on_progress(data.params or {})
    end,
  })
end

local waiters = {}

local function flush_waiters(client, err)
  local w = waiters
  waiters = {}
  for _, cb in ipairs(w) do
    cb(client, err)
  end
end

--- At most this long from start to the answer of `initialize`.
M.INIT_TIMEOUT_MS = 30000
local init_timer

local function stop_init_timer()
  if init_timer then
    init_timer:stop()
    init_timer:close()
    init_timer = nil
  end
end

--- on_init of the client: the server answered `initialize`.
function M._on_init(c)
  stop_init_timer()
  M.client_id = c.id
  require('sandport.lens').on_client(c)
  flush_waiters(c, nil)
end

local function wait_init()
  if init_timer then
    return
  end
  init_timer = assert(uv.new_timer())
  init_timer:start(
    M.INIT_TIMEOUT_MS,
    0,
    vim.schedule_wrap(function()
      stop_init_timer()
      flush_waiters(nil, ('the sandport server did not answer initialize in %d s'):format(M.INIT_TIMEOUT_MS / 1000))
    end)
  )
end

--- Calls cb(client, err) with an initialized client, starting it if needed.
function M.ensure(cb)
  local c = M.get()
  if c and c.initialized then
    return cb(c, nil)
  end
  table.insert(waiters, cb)
  if not c then
    local exe = config.server_path()
    if vim.fn.executable(exe) ~= 1 then
      return flush_waiters(
        nil,
        ('sandport binary %q not found or not executable (set server.path or $SANDPORT_SERVER; see :checkhealth sandport)'):format(
          exe
        )
      )
    end
    setup_progress()
    local base = (vim.lsp.config and vim.lsp.config.sandport) or M.lsp_config()
    local cfg = vim.deepcopy(base)
    cfg.name = 'sandport'
    if type(cfg.root_dir) ~= 'string' then
      cfg.root_dir = M.root()
    end
    cfg.handlers = vim.tbl_extend('keep', cfg.handlers or {}, require('sandport.handlers').handlers)
    -- A user's own on_init (vim.lsp.config) runs too.
    local other = cfg.on_init
    cfg.on_init = function(client, result)
      for _, f in ipairs(type(other) == 'table' and other or { other }) do
        if type(f) == 'function' and f ~= own_on_init then
          f(client, result)
        end
      end
      M._on_init(client)
    end
    local id = vim.lsp.start(cfg, { attach = false, silent = false })
    if not id then
      return flush_waiters(nil, 'could not start the sandport server')
    end
    M.client_id = id
    c = vim.lsp.get_client_by_id(id)
    if c and c.initialized then
      return flush_waiters(c, nil)
    end
  end
  setup_progress()
  wait_init()
end

--- A readable message of a JSON-RPC error: `CODE: message`.
function M.format_error(err)
  if type(err) ~= 'table' then
    return tostring(err)
  end
  local data = type(err.data) == 'table' and err.data or {}
  local msg = data.message or err.message or vim.inspect(err)
  local text = data.code and (data.code .. ': ' .. msg) or msg
  if type(data.logTail) == 'string' and data.logTail ~= '' then
    text = text .. '\n' .. data.logTail
  elseif type(data.logTail) == 'table' then
    text = text .. '\n' .. table.concat(vim.tbl_map(tostring, data.logTail), '\n')
  end
  return text
end

--- The contract's error code of an error (`data.code`), or nil.
function M.error_code(err)
  return type(err) == 'table' and type(err.data) == 'table' and err.data.code or nil
end

--- Run `sandport.<name>` with one object argument; cb(err, result).
--- opts.progress: send a workDoneToken and track the request (cancellable).
--- opts.title: what the request is, for :Sandport cancel.
function M.command(name, params, cb, opts)
  opts = opts or {}
  cb = cb or function() end
  M.ensure(function(client, err)
    if not client then
      return cb({ message = err }, nil)
    end
    local req = {
      command = 'sandport.' .. name,
      arguments = { empty_dict_if_empty(params) },
    }
    local token
    if opts.progress then
      token_seq = token_seq + 1
      token = ('sandport-nvim-%d-%d'):format(uv.os_getpid(), token_seq)
      req.workDoneToken = token
    end
    local rid
    local ok, id = client:request('workspace/executeCommand', req, function(e, result)
      if rid then
        M.pending[rid] = nil
      end
      if token then
        require('sandport.progress').finish(token)
      end
      cb(e, result)
    end, 0)
    if not ok then
      return cb({ message = 'the sandport server is not running' }, nil)
    end
    rid = id
    if rid then
      M.pending[rid] = {
        cb = cb,
        title = opts.title or name,
        token = token,
        client_id = client.id,
        started = uv.now(),
      }
    end
    if opts.on_request then
      opts.on_request(rid)
    end
  end)
end

--- Synchronous command for completion; never starts the server.
function M.command_sync(name, params, timeout)
  local c = M.get()
  if not c or not c.initialized then
    return nil
  end
  local r = c:request_sync('workspace/executeCommand', {
    command = 'sandport.' .. name,
    arguments = { empty_dict_if_empty(params) },
  }, timeout or 500, 0)
  if r and not r.err then
    return r.result
  end
end

local CANCELLED = {
  code = -32800,
  message = 'cancelled',
  data = { code = 'CANCELLED', message = 'the request was cancelled; the process keeps running' },
}

--- Cancel a pending request ($/cancelRequest). The server answers the
--- request with a -32800 error whose data.code is CANCELLED; Neovim's RPC
--- layer keeps that answer from the handler, so the request's callback is
--- called here with that error once the answer arrived (or after 5 s).
function M.cancel(rid)
  local p = M.pending[rid]
  if not p then
    return false
  end
  local c = vim.lsp.get_client_by_id(p.client_id)
  if not c then
    M.pending[rid] = nil
    return false
  end
  p.cancelled = true
  c:cancel_request(rid)
  local started = uv.now()
  local timer = assert(uv.new_timer())
  timer:start(
    20,
    20,
    vim.schedule_wrap(function()
      local answered = c.requests[rid] == nil or c:is_stopped()
      if not answered and uv.now() - started < 5000 then
        return
      end
      timer:stop()
      timer:close()
      -- The handler ran (a result that crossed the cancel) or not.
      if M.pending[rid] == p then
        M.pending[rid] = nil
        if p.token then
          require('sandport.progress').finish(p.token)
        end
        p.cb(vim.deepcopy(CANCELLED), nil)
      end
    end)
  )
  return true
end

--- Send the current settings (workspace/didChangeConfiguration).
function M.push_settings()
  local c = M.get()
  if not c or not c.initialized then
    return false
  end
  local section = empty_dict_if_empty(config.section())
  c.settings = { sandport = section }
  c:notify('workspace/didChangeConfiguration', { settings = { sandport = section } })
  return true
end

--- Stop the client (the server stops every process it started).
function M.stop(force)
  local c = M.get()
  if c then
    c:stop(force)
  end
end

function M._on_exit(code, signal, client_id)
  if M.client_id == client_id then
    M.client_id = nil
  end
  if not M.get() then
    stop_init_timer()
    flush_waiters(nil, 'the sandport server stopped during start (see :LspLog and :checkhealth sandport)')
  end
  for rid, p in pairs(M.pending) do
    if p.client_id == client_id then
      M.pending[rid] = nil
    end
  end
  require('sandport.progress').clear()
  state.reset()
  require('sandport.logs').on_server_exit()
  if code ~= 0 and code ~= nil then
    vim.notify(
      ('Sandport: the server exited with code %s%s'):format(code, signal and signal ~= 0 and (' (signal ' .. signal .. ')') or ''),
      vim.log.levels.WARN
    )
  end
end

return M
