-- A tiny test helper: named tests, assertions, bounded waits, a summary
-- line `N passed, N failed` and the exit code.
local H = { passed = 0, failed = 0 }

local function out(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end
H.out = out

function H.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    H.passed = H.passed + 1
    out('ok   - ' .. name)
  else
    H.failed = H.failed + 1
    out('FAIL - ' .. name .. '\n' .. tostring(err):gsub('\n', '\n       '))
  end
end

function H.eq(a, b, msg)
  if not vim.deep_equal(a, b) then
    error(('%s: expected %s, got %s'):format(msg or 'eq', vim.inspect(b), vim.inspect(a)), 2)
  end
end

function H.ok(v, msg)
  if not v then
    error(msg or 'expected a true value', 2)
  end
  return v
end

function H.contains(s, sub, msg)
  if type(s) ~= 'string' or not s:find(sub, 1, true) then
    error(('%s: %s does not contain %s'):format(msg or 'contains', vim.inspect(s), vim.inspect(sub)), 2)
  end
end

--- Wait (bounded) until fn() returns a truthy value; returns it.
function H.wait(ms, fn, msg)
  local v
  local ok = vim.wait(ms, function()
    v = fn()
    return v ~= nil and v ~= false
  end, 20)
  if not ok then
    error(('timed out after %d ms: %s'):format(ms, msg or '?'), 2)
  end
  return v
end

--- Record vim.notify calls.
H.notes = {}
local orig_notify = vim.notify
function H.capture_notify()
  vim.notify = function(msg, level, opts)
    table.insert(H.notes, { msg = msg, level = level or vim.log.levels.INFO })
    if vim.env.SANDPORT_TEST_VERBOSE then
      out('  notify[' .. tostring(level) .. ']: ' .. msg)
    end
  end
end
function H.restore_notify()
  vim.notify = orig_notify
end

--- The first note (after index `from`) containing `sub`, waiting for it.
function H.wait_note(sub, ms, from)
  return H.wait(ms or 10000, function()
    for i = (from or 0) + 1, #H.notes do
      if H.notes[i].msg:find(sub, 1, true) then
        return H.notes[i], i
      end
    end
  end, 'a notification containing ' .. vim.inspect(sub) .. '; got ' .. vim.inspect(vim.tbl_map(function(n)
    return n.msg
  end, H.notes)))
end

--- Record vim.ui.open calls (no browser here), as if one could be opened.
H.opened = {}
function H.capture_open()
  H.real_browser_available = require('sandport.handlers').browser_available
  require('sandport.handlers').browser_available = function()
    return true
  end
  vim.ui.open = function(url)
    table.insert(H.opened, url)
    return vim.system({ 'true' }), nil
  end
end

--- Run a command, returns {code, stdout, stderr}.
function H.sh(cmd, ms)
  return vim.system(cmd, { text = true }):wait(ms or 10000)
end

--- A free TCP port on 127.0.0.1.
function H.free_port()
  local uv = vim.uv
  local t = uv.new_tcp()
  t:bind('127.0.0.1', 0)
  local port = t:getsockname().port
  t:close()
  return port
end

function H.sandport_bin()
  local bin = vim.env.SANDPORT_BIN
  if not bin or bin == '' then
    bin = vim.fn.fnamemodify(vim.g.sandport_test_root, ':h:h') .. '/target/debug/sandport'
  end
  return bin
end

--- A temporary workspace directory.
function H.workspace(name)
  local base = vim.env.SANDPORT_TEST_TMP or vim.fn.tempname()
  local dir = base .. '/' .. name
  vim.fn.mkdir(dir, 'p')
  return vim.fn.resolve(dir)
end

--- Live (not zombie) processes whose command line contains `sub`.
function H.live_processes(sub)
  local found = {}
  for _, name in ipairs(vim.fn.readdir('/proc')) do
    if name:match('^%d+$') then
      local f = io.open('/proc/' .. name .. '/cmdline', 'rb')
      local cmd = f and f:read('*a') or ''
      if f then
        f:close()
      end
      cmd = cmd:gsub('%z', ' ')
      if cmd:find(sub, 1, true) then
        local sf = io.open('/proc/' .. name .. '/stat')
        local stat = sf and sf:read('*a') or ''
        if sf then
          sf:close()
        end
        local st = stat:match('%) (%a)')
        if st and st ~= 'Z' and st ~= 'X' and tonumber(name) ~= vim.uv.os_getpid() then
          table.insert(found, name .. ' ' .. cmd)
        end
      end
    end
  end
  return found
end

function H.finish()
  out(('%d passed, %d failed'):format(H.passed, H.failed))
  io.stdout:flush()
  os.exit(H.failed == 0 and 0 or 1)
end

return H
