-- Run by tests/test_install.lua in a fresh headless Neovim (no test init):
--   SANDPORT_CHILD=lazy    the README's lazy.nvim spec, run the way lazy.nvim
--                          runs it, then a code lens on app.listen(PORT)
--   SANDPORT_CHILD=native  after the README's native-package lines: the
--                          plugin, :help sandport, :checkhealth sandport
-- Prints `RESULT name ok|FAIL detail` lines; exits when done (bounded).
local function result(name, ok, detail)
  io.stdout:write(('RESULT %s %s %s\n'):format(name, ok and 'ok' or 'FAIL', (detail or ''):gsub('\n', ' | ')))
  io.stdout:flush()
end

local function wait(ms, fn)
  local v
  vim.wait(ms, function()
    v = fn()
    return v ~= nil and v ~= false
  end, 50)
  return v
end

local function readme_block(after)
  local f = assert(io.open(vim.env.SANDPORT_README))
  local text = f:read('*a')
  f:close()
  local i = assert(text:find(after, 1, true), 'README: ' .. after)
  return text:match('```%w*\n(.-)\n```', i)
end

local function virt_texts(buf)
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, -1, 0, -1, { details = true })) do
    for _, chunk in ipairs((m[4] or {}).virt_text or {}) do
      table.insert(out, chunk[1])
    end
  end
  return table.concat(out, ' ')
end

local mode = vim.env.SANDPORT_CHILD
local ok, err = pcall(function()
  if mode == 'lazy' then
    local code = readme_block('lazy.nvim (a plugin spec in your config):')
    code = code:gsub('/path/to/sandport', vim.env.SANDPORT_REPO)
    local spec = assert(load('return ' .. code))()
    result('spec-parses', type(spec) == 'table' and spec.dir ~= nil, vim.inspect(spec))
    result('not-loaded-before-use', vim.fn.exists(':Sandport') == 0 and package.loaded['sandport'] == nil)
    -- What lazy.nvim does for `cmd`: a stub command that loads the plugin
    -- (dir on the runtimepath, its plugin/ files sourced), runs `config`
    -- (`opts` given: require(main).setup(opts)), then runs the command.
    vim.api.nvim_create_user_command(spec.cmd, function(o)
      vim.api.nvim_del_user_command(spec.cmd)
      vim.opt.runtimepath:prepend(spec.dir)
      for _, f in ipairs(vim.fn.glob(spec.dir .. '/plugin/**/*.{vim,lua}', false, true)) do
        vim.cmd.source(f)
      end
      if type(spec.config) == 'function' then
        spec.config(spec, spec.opts or {})
      elseif spec.config == true or spec.opts ~= nil then
        require(spec.main or spec.name).setup(spec.opts or {})
      end
      vim.cmd(spec.cmd .. ' ' .. o.args)
    end, { nargs = '*' })

    local ws = vim.env.SANDPORT_WS
    vim.fn.chdir(ws)
    local port = tonumber(vim.env.SANDPORT_PORT)
    local f = assert(io.open(ws .. '/app.js', 'w'))
    f:write("const app = require('express')();\napp.listen(" .. port .. ');\n')
    f:close()
    local notes = {}
    vim.notify = function(msg)
      table.insert(notes, msg)
    end
    -- The file is open before the server starts, and its port starts
    -- listening only later: the buffer is attached when the server is up,
    -- and the lens comes with the server's workspace/codeLens/refresh.
    vim.cmd.edit(ws .. '/app.js')
    local buf = vim.api.nvim_get_current_buf()
    vim.cmd(("Sandport start sh -c 'sleep 2; exec python3 -m http.server %d --bind 127.0.0.1'"):format(port))
    result('server-started', wait(15000, function()
      local c = vim.lsp.get_clients({ name = 'sandport' })[1]
      return c and c.initialized and vim.lsp.buf_is_attached(buf, c.id)
    end), table.concat(notes, ' / '))
    vim.wait(1000) -- the lenses asked on attach have come back
    result('no-lens-before-listening', not virt_texts(buf):find('Expose', 1, true), virt_texts(buf))
    local lens = wait(20000, function()
      local t = virt_texts(buf)
      return t:find('Expose ' .. port, 1, true) and t
    end)
    result('lens-shown', lens, lens or ('no lens; extmarks: ' .. virt_texts(buf) .. '; notes: ' .. table.concat(notes, ' / ')))
    vim.cmd(('Sandport expose %d'):format(port))
    local lens2 = wait(20000, function()
      local t = virt_texts(buf)
      return t:find('Open preview (' .. port .. ')', 1, true) and t
    end)
    result('lens-refreshed', lens2, lens2 or ('extmarks: ' .. virt_texts(buf)))
    local c = vim.lsp.get_clients({ name = 'sandport' })[1]
    c:stop()
    wait(10000, function()
      return c:is_stopped()
    end)
  elseif mode == 'native' then
    result('plugin-loaded', vim.fn.exists(':Sandport') == 2, 'rtp: ' .. vim.o.runtimepath)
    vim.cmd('help sandport')
    local name = vim.api.nvim_buf_get_name(0)
    result(
      'help-at-top',
      name:match('doc/sandport%.txt$') and vim.fn.line('.') == 1,
      ('%s line %d: %s'):format(name, vim.fn.line('.'), vim.api.nvim_get_current_line())
    )
    vim.cmd('helpclose')
    local function health()
      vim.cmd('checkhealth sandport')
      local lines = wait(10000, function()
        local l = vim.api.nvim_buf_get_lines(0, 0, -1, false)
        return table.concat(l, '\n'):find('sandport binary', 1, true) and l
      end) or {}
      local text = table.concat(lines, '\n')
      vim.cmd('tabclose')
      return text
    end
    vim.env.SANDPORT_SERVER = '/bin/true'
    local bad = health()
    local bin_section = bad:match('sandport binary.-\n(.-)\n[^\n]*%- ') or bad
    result(
      'health-rejects-bin-true',
      bad:find('/bin/true is not a sandport binary', 1, true) ~= nil and bad:find('ERROR', 1, true) ~= nil,
      bin_section
    )
    vim.env.SANDPORT_SERVER = vim.env.SANDPORT_BIN
    local good = health()
    result('health-accepts-sandport', good:find('OK ' .. vim.env.SANDPORT_BIN .. ': sandport ', 1, true) ~= nil, good)
  else
    error('SANDPORT_CHILD=' .. tostring(mode))
  end
end)
result('child-finished', ok, err and tostring(err))
vim.cmd('qa!')
