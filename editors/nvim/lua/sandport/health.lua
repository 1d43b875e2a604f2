-- :checkhealth sandport
local M = {}

local function docker_socket(host)
  host = host or vim.env.DOCKER_HOST
  if not host or host == '' then
    return 'unix', '/var/run/docker.sock'
  end
  local path = host:match('^unix://(.+)$')
  if path then
    return 'unix', path
  end
  local addr = host:match('^tcp://(.+)$') or host:match('^https?://(.+)$')
  if addr then
    return 'tcp', addr
  end
  return nil, host
end

local function check_docker(o)
  local h = vim.health
  local kind, where = docker_socket((o.docker or {}).host)
  if not kind then
    return h.error(('docker.host %q: expected unix://PATH or tcp://HOST:PORT'):format(where))
  end
  if vim.fn.executable('curl') ~= 1 then
    return h.warn('curl not found: cannot check that the Docker engine answers')
  end
  local cmd = kind == 'unix' and { 'curl', '-s', '-m', '3', '--unix-socket', where, 'http://localhost/_ping' }
    or { 'curl', '-s', '-m', '3', 'http://' .. where .. '/_ping' }
  local ok, r = pcall(function()
    return vim.system(cmd, { text = true }):wait(5000)
  end)
  if ok and r and r.code == 0 and vim.trim(r.stdout or '') == 'OK' then
    h.ok(('Docker engine reachable at %s'):format(where))
  else
    h.error(
      ('Docker engine not reachable at %s (backend is "docker")'):format(where),
      { 'Start Docker, or set docker.host / DOCKER_HOST, or use backend = "local"' }
    )
  end
end

function M.check()
  local h = vim.health
  local config = require('sandport.config')
  local o = config.options

  h.start('Neovim')
  local v = vim.version()
  local vs = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 1 then
    h.ok('Neovim ' .. vs)
  elseif vim.fn.has('nvim-0.10') == 1 then
    h.warn('Neovim ' .. vs .. ': 0.11 is needed for vim.lsp.enable("sandport"); :Sandport works')
  else
    h.error('Neovim ' .. vs .. ': Sandport needs Neovim 0.10 or later (0.11 recommended)')
  end

  h.start('sandport binary')
  local exe = config.server_path()
  local path = vim.fn.exepath(exe)
  if path == '' then
    h.error(
      ('sandport binary %q not found or not executable'):format(exe),
      { 'Put `sandport` on PATH, set $SANDPORT_SERVER, or setup({ server = { path = "/path/to/sandport" } })' }
    )
  else
    local ok, r = pcall(function()
      return vim.system({ path, '--version' }, { text = true }):wait(5000)
    end)
    local out = ok and r and vim.trim(r.stdout or '') or ''
    if ok and r and r.code == 0 and out:match('^sandport %d') then
      h.ok(('%s: %s'):format(path, out))
    elseif ok and r and r.code == 0 then
      h.error(
        ('%s is not a sandport binary: `--version` printed %s'):format(path, vim.inspect(out)),
        { 'Point server.path (or $SANDPORT_SERVER) at `sandport`; build it with `cargo build --bin sandport`' }
      )
    else
      h.error(
        ('%s --version failed: %s'):format(path, ok and r and vim.trim((r.stderr or '') .. ' exit ' .. tostring(r.code)) or tostring(r)),
        { 'Is it a sandport binary? Rebuild it with `cargo build --bin sandport`' }
      )
    end
  end
  h.info('server command: ' .. table.concat(config.server_cmd(), ' '))

  h.start('settings')
  local problems = config.validate(o)
  if #problems == 0 then
    h.ok('settings are valid')
  else
    for _, p in ipairs(problems) do
      h.error(p)
    end
  end
  local section = config.section()
  h.info('sandport section sent to the server: ' .. vim.json.encode(next(section) and section or vim.empty_dict()))

  h.start('backend')
  local backend = o.backend or 'local'
  if backend == 'docker' then
    check_docker(o)
  else
    h.ok('backend "local": processes run on this machine')
  end

  h.start('server')
  local c = package.loaded['sandport.client'] and require('sandport.client').get()
  if c then
    h.ok(('running (client %d, root %s)'):format(c.id, tostring(c.root_dir)))
  else
    h.info('not running (starts on the first :Sandport command or with vim.lsp.enable("sandport"))')
  end
end

return M
