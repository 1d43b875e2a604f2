-- End to end against the real server: start, wait, expose, curl through the
-- gateway, live logs, lists, close, cancel, failures, settings, cleanup.
local H = require('helpers')
local test = H.test

H.capture_notify()
H.capture_open()

local ws = H.workspace('flow')
vim.fn.chdir(ws)
local f = io.open(ws .. '/hello.txt', 'w')
f:write('hello from the sandbox\n')
f:close()

local PORT = H.free_port()
local SERVE = ('python3 -m http.server %d --bind 127.0.0.1'):format(PORT)
local sandport = require('sandport')
sandport.setup({
  server = { path = H.sandport_bin() },
  sandboxId = 'nvimflow',
  gateway = { listen = '127.0.0.1:0' },
  onExpose = 'notify',
  open_browser = false,
  log_max_lines = 200,
})

local proc_id, url, log_buf

local function curl(u, extra)
  local cmd = { 'curl', '-s', '-m', '5' }
  vim.list_extend(cmd, extra or {})
  table.insert(cmd, u)
  return H.sh(cmd, 8000)
end

local function state()
  return require('sandport.state')
end

test('the server starts on first use and :Sandport start runs the process', function()
  H.eq(sandport.client(), nil, 'no client before use')
  vim.cmd('Sandport start ' .. SERVE)
  local note = H.wait_note('started ' .. SERVE, 15000)
  for id, p in pairs(state().processes) do
    if p.command == SERVE then
      proc_id = id
    end
  end
  H.ok(proc_id, 'the process is known')
  H.ok(not note.msg:find(proc_id, 1, true), 'named by its command, not its id: ' .. note.msg)
  H.ok(sandport.client(), 'a client now')
  H.eq(sandport.client().root_dir, ws, 'the workspace root')
end)

test(':Sandport wait port shows progress and reports ready', function()
  local saw_progress = false
  local au = vim.api.nvim_create_autocmd('LspProgress', {
    callback = function()
      saw_progress = true
    end,
  })
  vim.cmd(('Sandport wait port %d timeout=20000'):format(PORT))
  local note = H.wait_note(('port %d ready'):format(PORT), 25000)
  H.contains(note.msg, 'HTTP 200')
  vim.api.nvim_del_autocmd(au)
  -- Progress is only sent while the wait runs (a fast wait may not report).
  H.out('       (progress seen: ' .. tostring(saw_progress) .. ')')
end)

test(':Sandport logs opens a buffer with the history', function()
  vim.cmd('Sandport logs ' .. proc_id)
  log_buf = H.wait(5000, function()
    return require('sandport.logs').buffer(proc_id)
  end, 'log buffer')
  H.eq(vim.api.nvim_get_current_buf(), log_buf, 'log buffer shown')
  H.contains(vim.api.nvim_buf_get_name(log_buf), 'sandport://logs/' .. proc_id)
  H.wait(5000, function()
    return require('sandport.logs').bufs[proc_id].ready
  end, 'history fetched')
end)

test(':Sandport expose notifies name, port and URL; register; curl gets the service', function()
  local before = #H.notes
  vim.cmd(('Sandport expose %d web'):format(PORT))
  local note = H.wait_note('exposed at', 10000, before)
  url = note.msg:match('exposed at (%S+)')
  H.ok(url, 'URL in ' .. note.msg)
  H.contains(note.msg, 'web (port ' .. PORT .. ')')
  H.ok(url:match(('^http://%d%%-nvimflow%%-[a-z0-9]+%%.localhost:%%d+/$'):format(PORT)), 'URL shape: ' .. url)
  H.eq(vim.fn.getreg(require('sandport.handlers').register()), url, 'URL in the register')
  local r = curl(url .. 'hello.txt')
  H.eq(r.code, 0, 'curl exit')
  H.eq(r.stdout, 'hello from the sandbox\n', 'the service answered through the gateway')
  -- The server's showMessageRequest came too: no second notification.
  vim.wait(300)
  local count = 0
  for i = before + 1, #H.notes do
    if H.notes[i].msg:find('exposed at', 1, true) then
      count = count + 1
    end
  end
  H.eq(count, 1, 'one notification per exposure')
end)

test('the log buffer receives lines live', function()
  local r = curl(url .. '?live-marker-123')
  H.eq(r.code, 0)
  H.wait(5000, function()
    local lines = vim.api.nvim_buf_get_lines(log_buf, 0, -1, false)
    return table.concat(lines, '\n'):find('live-marker-123', 1, true)
  end, 'the request line in the log buffer')
  -- Following: the cursor of the window is on the last line.
  local win = vim.fn.win_findbuf(log_buf)[1]
  H.eq(vim.api.nvim_win_get_cursor(win)[1], vim.api.nvim_buf_line_count(log_buf), 'follows the end')
  -- Each request shows once (history and live do not overlap).
  local n = 0
  for _, l in ipairs(vim.api.nvim_buf_get_lines(log_buf, 0, -1, false)) do
    if l:find('live-marker-123', 1, true) then
      n = n + 1
    end
  end
  H.eq(n, 1, 'the line appears once')
end)

test('log buffers do not follow when scrolled up, and stay bounded', function()
  local logs = require('sandport.logs')
  local st = logs.bufs[proc_id]
  local win = vim.fn.win_findbuf(log_buf)[1]
  vim.api.nvim_win_set_cursor(win, { 1, 0 })
  local lines = {}
  for i = 1, 300 do
    lines[i] = 'filler ' .. i
  end
  logs.append(st, lines)
  H.eq(vim.api.nvim_buf_line_count(log_buf), 200, 'bounded to log_max_lines')
  H.eq(vim.api.nvim_win_get_cursor(win)[1], 1, 'cursor stayed')
  H.eq(vim.api.nvim_buf_get_lines(log_buf, -2, -1, false)[1], 'filler 300', 'newest kept')
  vim.api.nvim_win_set_cursor(win, { 200, 0 })
  logs.append(st, { 'one more' })
  H.eq(vim.api.nvim_win_get_cursor(win)[1], 200, 'follows again at the end')
end)

test(':Sandport ports lists it in a float; gx and <CR> open the URL', function()
  vim.cmd('Sandport ports')
  local lists = require('sandport.lists')
  local last = H.wait(5000, function()
    return lists.last and lists.last.kind == 'ports' and lists.last
  end, 'ports list')
  local text = table.concat(vim.api.nvim_buf_get_lines(last.buf, 0, -1, false), '\n')
  H.contains(text, url)
  H.contains(text, tostring(PORT))
  H.contains(text, 'web')
  H.ok(vim.api.nvim_win_get_config(last.win).relative ~= '', 'a floating window')
  -- gx on the URL (0.11 default mapping, vim.ui.open).
  local line = vim.api.nvim_buf_get_lines(last.buf, 1, 2, false)[1]
  local col = line:find(url, 1, true)
  vim.api.nvim_win_set_cursor(last.win, { 2, col + 5 })
  H.opened = {}
  vim.cmd('normal gx')
  H.wait(2000, function()
    return H.opened[1]
  end, 'gx opened something')
  H.eq(H.opened[1], url, 'gx opens the URL')
  vim.cmd('close')
end)

test(':Sandport ports in the quickfix list', function()
  sandport.setup({ list_style = 'quickfix' })
  vim.cmd('Sandport ports')
  H.wait(5000, function()
    local qf = vim.fn.getqflist({ title = 1, items = 1 })
    return qf.title == 'Sandport ports' and #qf.items > 0
  end, 'quickfix list')
  local qf = vim.fn.getqflist({ items = 1 })
  H.contains(qf.items[1].text, url)
  vim.cmd('cclose')
  sandport.setup({ list_style = 'float' })
end)

test(':Sandport ps lists the process with its listening port', function()
  vim.cmd('Sandport ps')
  local lists = require('sandport.lists')
  local last = H.wait(5000, function()
    return lists.last and lists.last.kind == 'ps' and lists.last
  end, 'ps list')
  local text = table.concat(vim.api.nvim_buf_get_lines(last.buf, 0, -1, false), '\n')
  H.contains(text, proc_id)
  H.contains(text, 'running')
  H.contains(text, tostring(PORT))
  H.contains(text, 'http.server')
  vim.cmd('close')
end)

test(':Sandport open asks the server, which sends showDocument', function()
  H.opened = {}
  -- The open dedup window would swallow a second open of the same URL.
  require('sandport.handlers')._reset_dedup()
  vim.cmd('Sandport open ' .. PORT)
  H.wait(5000, function()
    return H.opened[1]
  end, 'vim.ui.open called')
  H.eq(H.opened[1], url)
end)

test('every subcommand completes', function()
  local names = vim.fn.getcompletion('Sandport ', 'cmdline')
  for _, n in ipairs({ 'start', 'stop', 'remove', 'stopall', 'wait', 'expose', 'close', 'open', 'ports', 'ps', 'logs', 'exec', 'info', 'cancel' }) do
    H.ok(vim.tbl_contains(names, n), 'subcommand ' .. n .. ' in ' .. vim.inspect(names))
  end
  H.eq(vim.fn.getcompletion('Sandport st', 'cmdline'), { 'start', 'stop', 'stopall' })
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport stop ', 'cmdline'), proc_id), 'stop: ids')
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport logs ', 'cmdline'), proc_id), 'logs: ids')
  H.eq(vim.fn.getcompletion('Sandport wait ', 'cmdline'), { 'port', 'log' })
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport wait port ', 'cmdline'), tostring(PORT)), 'wait port: ports')
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport wait port 1 ', 'cmdline'), 'timeout='), 'wait port: options')
  H.eq(vim.fn.getcompletion('Sandport wait port 1 mode=', 'cmdline'), { 'mode=http', 'mode=tcp' })
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport wait log ', 'cmdline'), 'id='), 'wait log: options')
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport expose ', 'cmdline'), tostring(PORT)), 'expose: listening ports')
  H.eq(vim.fn.getcompletion('Sandport expose 8000 web ', 'cmdline'), { 'ttl=' })
  H.eq(vim.fn.getcompletion('Sandport close ', 'cmdline'), { tostring(PORT) })
  H.eq(vim.fn.getcompletion('Sandport open ', 'cmdline'), { tostring(PORT) })
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport start pyth', 'cmdline'), 'python3'), 'start: shell commands')
  H.ok(vim.tbl_contains(vim.fn.getcompletion('Sandport exec ech', 'cmdline'), 'echo'), 'exec: shell commands')
  for _, n in ipairs({ 'stopall', 'ports', 'ps', 'info', 'cancel' }) do
    H.eq(vim.fn.getcompletion('Sandport ' .. n .. ' ', 'cmdline'), {}, n .. ' takes no arguments')
  end
end)

test(':Sandport wait log matches a line', function()
  vim.cmd('Sandport wait log live-marker-123')
  local note = H.wait_note('live-marker-123 matched', 10000)
  H.contains(note.msg, 'GET')
end)

test('open_browser + ttl: re-exposing opens the URL once and sets expiresAt', function()
  sandport.setup({ open_browser = true })
  require('sandport.handlers')._reset_dedup()
  H.opened = {}
  local before = #H.notes
  vim.cmd(('Sandport expose %d web ttl=1h'):format(PORT))
  local note = H.wait_note('exposed at', 10000, before)
  H.contains(note.msg, url, 'same URL (token kept)')
  H.contains(note.msg, 'until ', 'expiry shown')
  vim.wait(500)
  H.eq(H.opened, { url }, 'opened exactly once')
  sandport.setup({ open_browser = false })
end)

test(':Sandport private / public: 401 without a credential, open logs in', function()
  local before = #H.notes
  vim.cmd('Sandport private ' .. PORT)
  local note = H.wait_note(('port %d is now private'):format(PORT), 5000, before)
  H.contains(note.msg, url, 'the URL stays')
  local code = { '-o', '/dev/null', '-w', '%{http_code}' }
  H.eq(curl(url .. 'hello.txt', code).stdout, '401', 'no credential')
  local info = require('sandport.client').command_sync('info', {}, 5000)
  local key = info and info.gateway and info.gateway.sessionKey
  H.ok(key, 'sessionKey from info')
  local with_key = vim.list_extend({ '-H', 'X-Sandport-Key: ' .. key }, code)
  H.eq(curl(url .. 'hello.txt', with_key).stdout, '200', 'X-Sandport-Key admits')
  -- :Sandport open opens a login link; following it with a cookie jar logs in.
  H.opened = {}
  vim.cmd('Sandport open ' .. PORT)
  local link = H.wait(5000, function()
    return H.opened[1]
  end, 'vim.ui.open called')
  H.ok(vim.startswith(link, url .. '_sandport/login?ticket='), 'a login link: ' .. link)
  local jar = vim.fn.tempname()
  local follow = vim.list_extend({ '-L', '-c', jar, '-b', jar }, code)
  H.eq(curl(link, follow).stdout, '200', 'the login link admits')
  H.eq(curl(url .. 'hello.txt', vim.list_extend({ '-b', jar }, code)).stdout, '200', 'the cookie admits')
  H.eq(curl(link, code).stdout, '401', 'a login link is single use')
  -- The ports list marks it; <CR> on it opens a fresh login link.
  vim.cmd('Sandport ports')
  local lists = require('sandport.lists')
  local last = H.wait(5000, function()
    return lists.last and lists.last.kind == 'ports' and lists.last
  end, 'ports list')
  H.contains(vim.api.nvim_buf_get_lines(last.buf, 1, 2, false)[1], 'private')
  vim.api.nvim_win_set_cursor(last.win, { 2, 0 })
  H.opened = {}
  vim.api.nvim_feedkeys(vim.keycode('<CR>'), 'x', false)
  local link2 = H.wait(5000, function()
    return H.opened[1]
  end, '<CR> opened something')
  H.ok(vim.startswith(link2, url .. '_sandport/login?ticket=') and link2 ~= link, 'a fresh login link: ' .. link2)
  if vim.api.nvim_win_is_valid(last.win) then
    vim.api.nvim_win_close(last.win, true)
  end
  H.eq(vim.fn.getcompletion('Sandport private ', 'cmdline'), { tostring(PORT) })
  vim.cmd('Sandport public ' .. PORT)
  H.wait_note(('port %d is now public'):format(PORT), 5000, before)
  H.eq(curl(url .. 'hello.txt', code).stdout, '200', 'public again')
  -- A visibility switch is not a new exposure: no "exposed at" notification.
  for i = before + 1, #H.notes do
    H.ok(not H.notes[i].msg:find('exposed at', 1, true), 'no re-announcement: ' .. H.notes[i].msg)
  end
end)

test(':Sandport close: the URL answers 404', function()
  vim.cmd('Sandport close ' .. PORT)
  H.wait_note(('port %d closed'):format(PORT), 5000)
  local r = curl(url, { '-o', '/dev/null', '-w', '%{http_code}' })
  H.eq(r.stdout, '404', 'status after close')
  H.wait(3000, function()
    return #require('sandport.state').ports == 0
  end, 'portsChanged emptied the cache')
end)

test('waits can be cancelled (server answers CANCELLED) and show progress', function()
  local quiet = H.free_port()
  local seen = {}
  local au = vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      table.insert(seen, ev.data.params.value.kind)
    end,
  })
  vim.cmd(('Sandport wait port %d timeout=60000'):format(quiet))
  H.wait(5000, function()
    return next(require('sandport.client').pending) ~= nil
  end, 'a pending wait')
  H.wait(5000, function()
    return vim.tbl_contains(seen, 'begin') and sandport.status():find('Waiting', 1, true)
  end, 'progress begin and a status line')
  vim.lsp.log.set_level('DEBUG')
  local logfile = vim.lsp.log.get_filename()
  local size = vim.fn.getfsize(logfile)
  vim.cmd('Sandport cancel')
  local note = H.wait_note('CANCELLED', 6000)
  vim.lsp.log.set_level('WARN')
  -- What the server answered (Neovim logs the cancellation ack it swallows).
  local fh = io.open(logfile, 'r')
  if fh then
    fh:seek('set', math.max(size, 0))
    local logged = fh:read('*a')
    fh:close()
    H.contains(logged, 'Received cancellation ack', 'the server acknowledged')
    H.contains(logged, 'CANCELLED', 'with data.code CANCELLED')
  end
  H.eq(note.level, vim.log.levels.WARN, 'cancel is a warning')
  H.eq(next(require('sandport.client').pending), nil, 'nothing pending')
  vim.api.nvim_del_autocmd(au)
  H.wait(3000, function()
    return sandport.status() == ''
  end, 'status cleared')
end)

test('a failing process is notified at ERROR level', function()
  vim.cmd('Sandport start sh -c "echo boom >&2; exit 3"')
  local note = H.wait_note('failed with exit code 3', 10000)
  H.eq(note.level, vim.log.levels.ERROR)
  H.contains(note.msg, 'Sandport: sh -c "echo boom >&2; exit 3" failed with exit code 3')
end)

test('sandport/processRemoved drops the process and its log buffer', function()
  local failed
  for id, p in pairs(state().processes) do
    if p.command == 'sh -c "echo boom >&2; exit 3"' then
      failed = id
    end
  end
  H.ok(failed, 'the failed process is known')
  local logs = require('sandport.logs')
  local win = vim.api.nvim_get_current_win()
  vim.cmd('Sandport logs ' .. failed)
  local buf = H.wait(5000, function()
    return logs.buffer(failed)
  end, 'its log buffer')
  H.eq(vim.api.nvim_get_current_buf(), buf, 'shown')
  local handler = require('sandport.handlers').handlers['sandport/processRemoved']
  handler(nil, { processId = failed }, { method = 'sandport/processRemoved' })
  H.eq(state().processes[failed], nil, 'gone from the state')
  H.eq(logs.bufs[failed], nil, 'gone from the log buffers')
  H.ok(not vim.api.nvim_buf_is_valid(buf), 'its buffer is wiped')
  H.ok(state().processes[proc_id], 'the other process stays')
  H.ok(logs.buffer(proc_id), 'and its log buffer')
  handler(nil, { processId = 'proc_unknown' }, {})
  handler(nil, vim.NIL, {})
  if vim.api.nvim_win_is_valid(win) then
    vim.api.nvim_set_current_win(win)
  end
end)

--- Start a named process that ends at once; returns its id once ended.
local function start_ended(cmd, name)
  local id
  local client = require('sandport.client')
  client.command('startProcess', { command = cmd, name = name }, function(err, p)
    H.ok(not err, vim.inspect(err))
    id = p.id
  end)
  -- the server's word (its sandport/processChanged may come before the answer)
  H.wait(10000, function()
    local p = id and client.command_sync('getProcess', { processId = id }, 1000)
    return p and not state().is_live(p)
  end, name .. ' ended')
  H.wait(5000, function()
    return state().processes[id] and not state().is_live(state().processes[id])
  end, name .. ' ended in the state')
  return id
end

local function open_log(id)
  local logs = require('sandport.logs')
  vim.cmd('Sandport logs ' .. id)
  local buf = H.wait(5000, function()
    return logs.buffer(id)
  end, 'log buffer of ' .. id)
  H.wait(5000, function()
    return logs.bufs[id] and logs.bufs[id].ready
  end, 'history of ' .. id)
  return buf
end

test(':Sandport remove (completion of ended names): the server forgets it, state and log buffer go', function()
  local win = vim.api.nvim_get_current_win()
  local id = start_ended('echo remove-me-soon', 'rm-me')
  local done = vim.fn.getcompletion('Sandport remove ', 'cmdline')
  H.ok(vim.tbl_contains(done, 'rm-me'), 'remove: ended names in ' .. vim.inspect(done))
  H.ok(not vim.tbl_contains(done, proc_id), 'a running process is not offered: ' .. vim.inspect(done))
  H.eq(vim.fn.getcompletion('Sandport remove rm-', 'cmdline'), { 'rm-me' })
  H.eq(vim.fn.getcompletion('Sandport remove rm-me ', 'cmdline'), {}, 'one argument')
  local buf = open_log(id)
  local before = #H.notes
  vim.cmd('Sandport remove rm-me')
  H.wait_note('removed rm-me', 5000, before)
  H.eq(state().processes[id], nil, 'gone from the state')
  H.eq(require('sandport.logs').bufs[id], nil, 'gone from the log buffers')
  H.ok(not vim.api.nvim_buf_is_valid(buf), 'its log buffer is wiped')
  local r = require('sandport.client').get():request_sync('workspace/executeCommand', {
    command = 'sandport.getProcess',
    arguments = { { processId = id } },
  }, 3000, 0)
  H.eq(require('sandport.client').error_code(r and r.err), 'PROCESS_NOT_FOUND', 'the server forgot it')
  -- a running process is refused and stays
  before = #H.notes
  vim.cmd('Sandport remove ' .. proc_id)
  local note = H.wait_note('cannot remove ' .. SERVE .. ': it is still running', 5000, before)
  H.contains(note.msg, 'PROCESS_RUNNING')
  H.eq(note.level, vim.log.levels.ERROR)
  H.ok(state().processes[proc_id], 'the running process stays')
  if vim.api.nvim_win_is_valid(win) then
    vim.api.nvim_set_current_win(win)
  end
end)

test('processes.keepEnded set low: the server forgets the oldest ended ones; state and log buffers follow', function()
  local win = vim.api.nvim_get_current_win()
  local a = start_ended('echo keep-first', 'keep-a')
  local b = start_ended('echo keep-second', 'keep-b')
  local buf_a = open_log(a)
  local buf_b = open_log(b)
  sandport.setup({ processes = { keepEnded = 1 } })
  local ok, err = pcall(function()
    H.wait(10000, function()
      return state().processes[a] == nil
    end, 'a forgotten')
    H.ok(not vim.api.nvim_buf_is_valid(buf_a), "a's log buffer is wiped")
    H.ok(state().processes[b] and vim.api.nvim_buf_is_valid(buf_b), 'b (the newest ended) stays')
    H.ok(state().processes[proc_id], 'the running process stays')
    local ended = state().process_list(function(p)
      return not state().is_live(p)
    end)
    H.eq(#ended, 1, 'one ended process left: ' .. vim.inspect(vim.tbl_map(function(p)
      return p.id
    end, ended)))
    -- the next one to end pushes b out
    local c = start_ended('echo keep-third', 'keep-c')
    H.wait(10000, function()
      return state().processes[b] == nil
    end, 'b forgotten once c ended')
    H.ok(not vim.api.nvim_buf_is_valid(buf_b), "b's log buffer is wiped")
    H.ok(state().processes[c], 'c stays')
  end)
  sandport.setup({ processes = { keepEnded = 100 } })
  if vim.api.nvim_win_is_valid(win) then
    vim.api.nvim_set_current_win(win)
  end
  H.ok(ok, err)
end)

test('`starting` is shown in lists, counts as live (stop, not remove) and adds no end line', function()
  local lists = require('sandport.lists')
  local items = lists.process_items({
    { id = 'proc_st', status = 'starting', pid = vim.NIL, exitCode = vim.NIL, command = 'sleep 1', name = vim.NIL },
  })
  H.contains(items[1].text, 'starting')
  H.ok(state().is_live({ status = 'starting' }) and state().is_live({ status = 'running' }), 'live')
  H.ok(not state().is_live({ status = 'completed' }) and not state().is_live({ status = 'error' }), 'ended')
  state().processes.proc_fake1 = { id = 'proc_fake1', name = 'twin', status = 'completed' }
  state().processes.proc_fake2 = { id = 'proc_fake2', name = 'twin', status = 'running' }
  local ended = function(p)
    return not state().is_live(p)
  end
  H.eq(state().resolve('twin', ended), 'proc_fake1', 'a name unique among ended ones resolves to its id')
  H.eq(state().resolve('twin'), 'twin', 'an ambiguous name is passed on')
  H.eq(state().resolve('proc_fake2', ended), 'proc_fake2', 'an id is kept')
  state().processes.proc_fake1 = nil
  state().processes.proc_fake2 = nil
  H.eq(state().resolve('no-such-name'), 'no-such-name', 'an unknown word is passed on')
  local n = vim.api.nvim_buf_line_count(log_buf)
  require('sandport.logs').on_process({ id = proc_id, status = 'starting', exitCode = vim.NIL, signal = vim.NIL })
  H.eq(vim.api.nvim_buf_line_count(log_buf), n, 'no "[sandport] process starting" line')
end)

test('a URL that cannot be opened is shown and copied', function()
  local handlers = require('sandport.handlers')
  local reg = handlers.register()
  local avail = handlers.browser_available
  local u = 'http://1-x-y.localhost:1/nowhere'
  -- A terminal-only machine: no graphical session, no $BROWSER.
  local saved = {}
  for _, v in ipairs({ 'DISPLAY', 'WAYLAND_DISPLAY', 'BROWSER' }) do
    saved[v] = vim.env[v]
    vim.env[v] = nil
  end
  handlers.browser_available = H.real_browser_available
  vim.fn.setreg(reg, 'before')
  H.opened = {}
  local before = #H.notes
  H.eq(handlers.open_url(u), false, 'not opened')
  local note = H.wait_note('cannot open a browser', 2000, before)
  H.contains(note.msg, u)
  H.eq(note.level, vim.log.levels.WARN)
  H.eq(vim.fn.getreg(reg), u, 'copied')
  H.eq(#H.opened, 0, 'vim.ui.open not tried')
  for k, v in pairs(saved) do
    vim.env[k] = v
  end
  -- vim.ui.open finds no opener.
  handlers.browser_available = avail
  local orig = vim.ui.open
  vim.ui.open = function()
    return nil, 'vim.ui.open: no handler found (tried: xdg-open)'
  end
  handlers._reset_dedup()
  vim.fn.setreg(reg, 'before')
  before = #H.notes
  H.eq(handlers.open_url(u), false, 'not opened')
  note = H.wait_note('no handler found', 2000, before)
  H.contains(note.msg, u)
  H.eq(vim.fn.getreg(reg), u, 'copied')
  vim.ui.open = orig
  handlers._reset_dedup()
end)

test(':Sandport exec and :Sandport info', function()
  vim.cmd('Sandport exec echo hi-from-exec')
  local note = H.wait_note('hi-from-exec', 10000)
  H.contains(note.msg, 'exit 0')
  vim.cmd('Sandport info')
  note = H.wait_note('sandbox nvimflow', 5000)
  H.contains(note.msg, 'backend local')
end)

test('setup() while running sends didChangeConfiguration', function()
  sandport.setup({ sandboxId = 'nvimflow2' })
  vim.cmd('Sandport info')
  H.wait_note('sandbox nvimflow2', 5000)
end)

test('missing arguments are asked (vim.ui.select over ps)', function()
  local orig = vim.ui.select
  local offered
  vim.ui.select = function(items, opts, cb)
    offered = items
    cb(items[1])
  end
  vim.cmd('Sandport stop')
  H.wait(10000, function()
    return offered
  end, 'select offered')
  vim.ui.select = orig
  H.eq(#offered, 1, 'the one running process')
  H.eq(offered[1].id, proc_id)
  H.wait_note(SERVE .. ' killed', 10000)
  H.wait(5000, function()
    local lines = vim.api.nvim_buf_get_lines(log_buf, 0, -1, false)
    return lines[#lines]:find('process killed', 1, true)
  end, 'the log buffer shows the end')
end)

test('nothing is left running after the client stops', function()
  vim.cmd('Sandport start ' .. SERVE)
  H.wait_note('started ' .. SERVE, 10000, #H.notes - 1)
  H.wait(10000, function()
    return #H.live_processes('http.server ' .. PORT) > 0
  end, 'second server running')
  local c = sandport.client()
  local pid = c.rpc and c.rpc.pid
  sandport.stop()
  H.wait(12000, function()
    return c:is_stopped() and sandport.client() == nil
  end, 'client stopped')
  H.wait(12000, function()
    return #H.live_processes('http.server ' .. PORT) == 0
  end, 'no http.server left: ' .. vim.inspect(H.live_processes('http.server ' .. PORT)))
  if pid then
    H.wait(5000, function()
      return #H.live_processes('sandport lsp') == 0 or not vim.uv.kill(pid, 0)
    end, 'server gone')
  end
end)

test('no message names a process by its raw id', function()
  for _, n in ipairs(H.notes) do
    H.ok(not n.msg:find('proc_[%w]+'), 'a raw id in ' .. vim.inspect(n.msg))
  end
end)

H.finish()
