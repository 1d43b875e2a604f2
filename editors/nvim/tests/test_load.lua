-- Loading, :help, :checkhealth and the vim.lsp.config entry.
local H = require('helpers')
local test = H.test
local root = vim.g.sandport_test_root

local function children()
  local mine = tostring(vim.uv.os_getpid())
  local kids = {}
  for _, name in ipairs(vim.fn.readdir('/proc')) do
    if name:match('^%d+$') then
      local f = io.open('/proc/' .. name .. '/stat')
      local stat = f and f:read('*a') or ''
      if f then
        f:close()
      end
      local ppid = stat:match('%) %a (%d+)')
      if ppid == mine then
        table.insert(kids, name)
      end
    end
  end
  return kids
end

test('the plugin loads without errors and starts nothing', function()
  H.eq(vim.fn.exists(':Sandport'), 2, ':Sandport defined')
  H.eq(vim.g.loaded_sandport, true)
  for _, m in ipairs({ 'sandport', 'sandport.client', 'sandport.commands', 'sandport.config' }) do
    H.eq(package.loaded[m], nil, m .. ' not loaded yet')
  end
  H.eq(#vim.lsp.get_clients({ _uninitialized = true }), 0, 'no LSP client')
  H.eq(children(), {}, 'no child process')
  local msgs = vim.api.nvim_exec2('messages', { output = true }).output
  H.eq(msgs:find('Error', 1, true), nil, 'no error message: ' .. msgs)
end)

test('completion works without starting the server', function()
  local names = vim.fn.getcompletion('Sandport e', 'cmdline')
  table.sort(names)
  H.eq(names, { 'exec', 'expose' })
  H.eq(vim.fn.getcompletion('Sandport stop ', 'cmdline'), {}, 'no ids without a server')
  H.eq(#vim.lsp.get_clients({ _uninitialized = true }), 0, 'still no client')
end)

test(':help sandport resolves (helptags generated)', function()
  vim.cmd('helptags ' .. vim.fn.fnameescape(root .. '/doc'))
  for _, tag in ipairs({ 'sandport', ':Sandport', ':Sandport-expose', 'sandport-settings', 'sandport-gateway.listen', 'sandport-open_browser', 'sandport-health' }) do
    vim.cmd('help ' .. tag)
    H.contains(vim.api.nvim_buf_get_name(0), 'sandport.txt', tag)
    vim.cmd('helpclose')
  end
end)

test('the help documents every subcommand and setting', function()
  local text = table.concat(vim.fn.readfile(root .. '/doc/sandport.txt'), '\n')
  for _, n in ipairs(require('sandport.commands').names) do
    H.contains(text, ':Sandport ' .. n, 'subcommand ' .. n)
  end
  local function walk(prefix, t)
    for k, v in pairs(t) do
      local key = prefix .. k
      if type(v) == 'table' and not vim.islist(v) and next(v) ~= nil and key ~= 'gateway.tls' then
        walk(key .. '.', v)
      else
        H.contains(text, key, 'setting ' .. key)
      end
    end
  end
  local defaults = vim.deepcopy(require('sandport.config').defaults)
  -- nil-valued keys of the section are not in the table: list them.
  for _, k in ipairs({ 'backend', 'sandboxId', 'docker.image', 'docker.host', 'docker.mounts', 'gateway.listen', 'gateway.domain', 'gateway.publicUrl', 'gateway.tls', 'gateway.hostHeader', 'onExpose', 'server.path', 'server.cmd' }) do
    H.contains(text, k, 'setting ' .. k)
  end
  walk('', defaults)
end)

local function health_text()
  vim.cmd('checkhealth sandport')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout!')
  return text
end

test(':checkhealth sandport reports OK with the real binary', function()
  require('sandport').setup({ server = { path = H.sandport_bin() } })
  local text = health_text()
  H.contains(text, 'sandport')
  H.contains(text, 'OK')
  H.contains(text, 'sandport 0.', 'the version')
  H.contains(text, 'settings are valid')
  H.eq(text:find('ERROR', 1, true), nil, 'no ERROR in:\n' .. text)
end)

test(':checkhealth sandport: a clear ERROR when the binary path is wrong', function()
  require('sandport').setup({ server = { path = '/nonexistent/sandport' } })
  local text = health_text()
  H.contains(text, 'ERROR')
  H.contains(text, '"/nonexistent/sandport" not found')
end)

test(':checkhealth sandport: invalid settings and unreachable Docker are errors', function()
  local config = require('sandport.config')
  local saved = vim.deepcopy(config.options)
  config.set({ server = { path = H.sandport_bin() }, backend = 'docker', docker = { host = 'tcp://127.0.0.1:1' }, onExpose = 'loud' })
  local text = health_text()
  config.options = saved
  H.contains(text, 'onExpose: expected one of notify, openBrowser, silent')
  H.contains(text, 'Docker engine not reachable at 127.0.0.1:1')
end)

test(':Sandport reports a wrong binary instead of failing obscurely', function()
  H.capture_notify()
  require('sandport').setup({ server = { path = '/nonexistent/sandport' } })
  vim.cmd('Sandport ps')
  local note = H.wait_note('not found', 3000)
  H.eq(note.level, vim.log.levels.ERROR)
  H.restore_notify()
end)

test("vim.lsp.enable('sandport') starts one shared client for the workspace", function()
  require('sandport').setup({ server = { path = H.sandport_bin() }, gateway = { listen = '127.0.0.1:0' } })
  local ws = H.workspace('enable')
  vim.fn.mkdir(ws .. '/.git', 'p')
  local cfg = vim.lsp.config.sandport
  H.eq(cfg.cmd, { H.sandport_bin(), 'lsp' }, 'cmd from setup()')
  H.ok(cfg.handlers['sandport/log'], 'handlers in the config')
  vim.lsp.enable('sandport')
  vim.cmd('edit ' .. vim.fn.fnameescape(ws .. '/app.py'))
  local c = H.wait(10000, function()
    local cs = vim.lsp.get_clients({ name = 'sandport', bufnr = 0 })
    return cs[1] and cs[1].initialized and cs[1]
  end, 'client attached and initialized')
  H.eq(c.root_dir, ws, 'root by .git')
  H.eq(#vim.lsp.get_clients({ name = 'sandport', _uninitialized = true }), 1, 'none for the unnamed buffer')
  H.capture_notify()
  vim.cmd('Sandport info')
  H.wait_note('workspace ' .. ws, 5000)
  H.restore_notify()
  H.eq(#vim.lsp.get_clients({ name = 'sandport' }), 1, 'one client')
  vim.lsp.enable('sandport', false)
  c:stop()
  H.wait(10000, function()
    return c:is_stopped()
  end, 'client stopped')
end)

H.finish()
