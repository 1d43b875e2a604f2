-- `:Sandport {subcommand} …`: dispatch, prompts for missing arguments and
-- completion.
local client = require('sandport.client')
local state = require('sandport.state')

local M = {}

local INFO, WARN, ERROR = vim.log.levels.INFO, vim.log.levels.WARN, vim.log.levels.ERROR

local function nn(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

local function notify(msg, level)
  vim.notify('Sandport: ' .. msg, level or INFO, { title = 'Sandport' })
end

local function fail(what, err)
  local code = client.error_code(err)
  notify(what .. ' failed: ' .. client.format_error(err), code == 'CANCELLED' and WARN or ERROR)
end

--- Split `key=value` options off the front of a list of words.
local function take_opts(words, known)
  local opts, rest = {}, {}
  local i = 1
  while i <= #words do
    local k, v = words[i]:match('^(%w+)=(.*)$')
    if k and known[k] then
      opts[k] = v
    elseif known[words[i]] == 'flag' then
      opts[words[i]] = true
    else
      break
    end
    i = i + 1
  end
  for j = i, #words do
    table.insert(rest, words[j])
  end
  return opts, rest
end

local function parse_port(s)
  local n = tonumber(s)
  if not n or n ~= math.floor(n) or n < 1 or n > 65535 then
    return nil
  end
  return n
end

local function parse_ms(s)
  if s == nil then
    return nil
  end
  local n, unit = tostring(s):match('^(%d+)(%a*)$')
  n = tonumber(n)
  if not n then
    return nil
  end
  if unit == 's' then
    return n * 1000
  elseif unit == 'm' then
    return n * 60000
  elseif unit == 'h' then
    return n * 3600000
  elseif unit == '' or unit == 'ms' then
    return n
  end
  return nil
end

local function describe(p)
  return ('%s  %s  %s%s'):format(p.id, p.status or '?', nn(p.name) and (p.name .. '  ') or '', p.command or '')
end

local function running(p)
  return state.is_live(p)
end

local function ended(p)
  return not state.is_live(p)
end

--- Ask for a process (vim.ui.select over listProcesses); cb(id).
local function pick_process(prompt, filter, cb)
  client.command('listProcesses', {}, function(err, r)
    if err then
      return fail('listProcesses', err)
    end
    state.set_processes(r.processes)
    local list = vim.tbl_filter(filter or function()
      return true
    end, r.processes or {})
    if #list == 0 then
      return notify('no ' .. (filter == ended and 'ended ' or filter and 'running ' or '') .. 'processes', WARN)
    end
    vim.ui.select(list, { prompt = prompt, format_item = describe, kind = 'sandport_process' }, function(p)
      if p then
        cb(p.id)
      end
    end)
  end)
end

--- Ask for a port the sandbox listens on (listeningPorts), else type one.
local function pick_listening_port(prompt, cb)
  client.command('listProcesses', {}, function(err, r)
    if err then
      return fail('listProcesses', err)
    end
    state.set_processes(r.processes)
    local seen, choices = {}, {}
    for _, p in ipairs(r.processes or {}) do
      for _, port in ipairs(nn(p.listeningPorts) or {}) do
        if not seen[port] then
          seen[port] = true
          table.insert(choices, { port = port, p = p })
        end
      end
    end
    table.sort(choices, function(a, b)
      return a.port < b.port
    end)
    if #choices == 0 then
      vim.ui.input({ prompt = prompt .. ' (port): ' }, function(s)
        local port = s and parse_port(vim.trim(s))
        if port then
          cb(port)
        elseif s and s ~= '' then
          notify('not a port: ' .. s, ERROR)
        end
      end)
      return
    end
    vim.ui.select(choices, {
      prompt = prompt,
      kind = 'sandport_port',
      format_item = function(c)
        return ('%d  (%s)'):format(c.port, state.label(c.p))
      end,
    }, function(c)
      if c then
        cb(c.port)
      end
    end)
  end)
end

--- Ask for an exposed port; cb(port).
local function pick_exposed_port(prompt, cb)
  client.command('getExposedPorts', {}, function(err, r)
    if err then
      return fail('getExposedPorts', err)
    end
    state.ports = r.ports or {}
    if #state.ports == 0 then
      return notify('no exposed ports', WARN)
    end
    vim.ui.select(state.ports, {
      prompt = prompt,
      kind = 'sandport_port',
      format_item = function(x)
        return ('%d  %s%s'):format(x.port, nn(x.name) and (x.name .. '  ') or '', x.url)
      end,
    }, function(x)
      if x then
        cb(x.port)
      end
    end)
  end)
end

local function input(prompt, cb)
  vim.ui.input({ prompt = prompt }, function(s)
    if s and vim.trim(s) ~= '' then
      cb(vim.trim(s))
    end
  end)
end

-- Subcommands -------------------------------------------------------------

local sub = {}
M.sub = sub

sub.start = {
  usage = 'start {cmd}',
  run = function(_, rest)
    local function go(cmd)
      client.command('startProcess', { command = cmd }, function(err, p)
        if err then
          return fail('start', err)
        end
        -- a sandport/processChanged that came first is newer (it may say ended)
        if not state.processes[p.id] then
          state.set_process(p)
        end
        local label = state.label(p)
        notify(('started %s (pid %s)%s'):format(
          label,
          tostring(nn(p.pid) or '-'),
          label ~= p.command and (': ' .. tostring(p.command)) or ''
        ))
      end)
    end
    if rest == '' then
      input('Command to start: ', go)
    else
      go(rest)
    end
  end,
}

sub.stop = {
  usage = 'stop [id]',
  run = function(args)
    local function go(id)
      notify('stopping ' .. state.label(id))
      client.command('killProcess', { processId = id }, function(err, p)
        if err then
          return fail('stop', err)
        end
        state.set_process(p)
        notify(('%s %s'):format(state.label(p), p.status))
      end)
    end
    if args[1] then
      go(args[1])
    else
      pick_process('Stop which process?', running, go)
    end
  end,
}

sub.remove = {
  usage = 'remove [id|name]',
  run = function(args)
    local function go(id)
      -- named now: sandport/processRemoved (sent before the answer) drops it
      local label = state.label(id)
      client.command('removeProcess', { processId = id }, function(err, r)
        if err then
          if client.error_code(err) == 'PROCESS_RUNNING' then
            -- the server's message names the raw id
            return notify(('cannot remove %s: it is still running; stop it first (PROCESS_RUNNING)'):format(label), ERROR)
          end
          return fail('remove ' .. label, err)
        end
        if r and r.removed then
          -- sandport/processRemoved (sent first) dropped it and its log buffer
          notify('removed ' .. label)
        else
          -- already forgotten (e.g. by processes.keepEnded): drop what is left
          state.remove_process(id)
          require('sandport.logs').on_removed(id)
          notify(('no process %s (already removed)'):format(label), WARN)
        end
      end)
    end
    if args[1] then
      go(state.resolve(args[1], ended))
    else
      pick_process('Remove which ended process?', ended, go)
    end
  end,
}

sub.stopall = {
  usage = 'stopall',
  run = function()
    client.command('killAllProcesses', {}, function(err, r)
      if err then
        return fail('stopall', err)
      end
      notify(('stopped %d process(es)'):format(r.killed or 0))
    end)
  end,
}

local WAIT_PORT_OPTS = { timeout = true, mode = true, path = true, status = true, interval = true, id = true }
local WAIT_LOG_OPTS = { timeout = true, stream = true, id = true, regex = 'flag' }

local function wait_port(port, opts)
  local params = { port = port }
  if opts.timeout then
    params.timeout = parse_ms(opts.timeout)
  end
  if opts.interval then
    params.interval = parse_ms(opts.interval)
  end
  params.mode = opts.mode
  params.path = opts.path
  params.processId = opts.id
  if opts.status then
    local lo, hi = opts.status:match('^(%d+)%-(%d+)$')
    if lo then
      params.status = { min = tonumber(lo), max = tonumber(hi) }
    else
      params.status = tonumber(opts.status)
    end
  end
  client.command('waitForPort', params, function(err, r)
    if err then
      return fail('wait port ' .. port, err)
    end
    notify(('port %d ready after %d ms%s'):format(
      r.port,
      r.elapsedMs or 0,
      nn(r.statusCode) and (' (HTTP ' .. r.statusCode .. ')') or ''
    ))
  end, { progress = true, title = 'wait port ' .. port })
end

local function wait_log(id, pattern, opts)
  local params = { processId = id, pattern = pattern }
  params.timeout = opts.timeout and parse_ms(opts.timeout) or nil
  params.stream = opts.stream
  if opts.regex then
    params.regex = true
  end
  client.command('waitForLog', params, function(err, r)
    if err then
      return fail('wait log ' .. pattern, err)
    end
    notify(('%s matched in %s: %s'):format(pattern, r.stream or '?', r.line or ''))
  end, { progress = true, title = ('wait log %q in %s'):format(pattern, state.label(id)) })
end

sub.wait = {
  usage = 'wait port {port} [timeout=…] [mode=http|tcp] [path=…] [status=…] [id=…] | wait log [id=…] [stream=…] [timeout=…] [regex] {pattern}',
  run = function(args, rest)
    local what = args[1]
    local words = vim.list_slice(args, 2)
    if what == 'port' then
      local port, optwords
      if words[1] and parse_port(words[1]) then
        port = parse_port(words[1])
        optwords = vim.list_slice(words, 2)
      else
        optwords = words
      end
      local opts, extra = take_opts(optwords, WAIT_PORT_OPTS)
      if #extra > 0 then
        return notify('wait port: unexpected ' .. table.concat(extra, ' '), ERROR)
      end
      if port then
        wait_port(port, opts)
      else
        input('Wait for port: ', function(s)
          local p = parse_port(s)
          if not p then
            return notify('not a port: ' .. s, ERROR)
          end
          wait_port(p, opts)
        end)
      end
    elseif what == 'log' then
      local opts = take_opts(words, WAIT_LOG_OPTS)
      -- The pattern is the raw rest after `log` and the options (spaces kept).
      local pattern = rest:gsub('^%s*log%s*', '', 1)
      while true do
        local k, after = pattern:match('^(%w+)=%S*%s*(.*)$')
        local flag, after2 = pattern:match('^(%w+)%s+(.*)$')
        if k and WAIT_LOG_OPTS[k] == true then
          pattern = after
        elseif flag and WAIT_LOG_OPTS[flag] == 'flag' then
          pattern = after2
        else
          break
        end
      end
      local function with_pattern(pat)
        if opts.id then
          return wait_log(opts.id, pat, opts)
        end
        client.command('listProcesses', {}, function(err, r)
          if err then
            return fail('listProcesses', err)
          end
          state.set_processes(r.processes)
          local run = vim.tbl_filter(running, r.processes or {})
          if #run == 1 then
            return wait_log(run[1].id, pat, opts)
          end
          pick_process('Wait for the log of which process?', running, function(id)
            wait_log(id, pat, opts)
          end)
        end)
      end
      if pattern == '' then
        input('Wait for log pattern: ', with_pattern)
      else
        with_pattern(pattern)
      end
    elseif what == nil then
      vim.ui.select({ 'port', 'log' }, { prompt = 'Wait for' }, function(c)
        if c then
          M.run('wait ' .. c)
        end
      end)
    else
      notify('usage: :Sandport ' .. sub.wait.usage, ERROR)
    end
  end,
}

local function expose(port, name, ttl)
  local params = { port = port, name = name }
  if ttl then
    local secs = parse_ms(ttl)
    if ttl:match('^%d+$') then
      secs = tonumber(ttl) -- bare number: seconds
    else
      secs = secs and math.floor(secs / 1000)
    end
    params.ttlSeconds = secs
  end
  local handlers = require('sandport.handlers')
  handlers.exposing[port] = (handlers.exposing[port] or 0) + 1
  client.command('exposePort', params, function(err, x)
    handlers.exposing[port] = handlers.exposing[port] > 1 and handlers.exposing[port] - 1 or nil
    if err then
      return fail('expose ' .. port, err)
    end
    require('sandport.handlers').announce(x)
  end)
end

sub.expose = {
  usage = 'expose {port} [name] [ttl=…]',
  run = function(args)
    local opts, rest = take_opts(vim.list_slice(args, 2), { ttl = true })
    local name
    if rest[1] then
      name = rest[1]
      local more
      more, rest = take_opts(vim.list_slice(rest, 2), { ttl = true })
      opts.ttl = more.ttl or opts.ttl
    end
    if #rest > 0 then
      return notify('expose: unexpected ' .. table.concat(rest, ' '), ERROR)
    end
    local port = args[1] and parse_port(args[1])
    if args[1] and not port then
      local o = take_opts({ args[1] }, { ttl = true })
      if not o.ttl then
        return notify('not a port: ' .. args[1], ERROR)
      end
      opts.ttl = o.ttl
    end
    if port then
      expose(port, name, opts.ttl)
    else
      pick_listening_port('Expose which port?', function(p)
        expose(p, name, opts.ttl)
      end)
    end
  end,
}

sub.close = {
  usage = 'close {port}',
  run = function(args)
    local function go(port)
      client.command('closePort', { port = port }, function(err, r)
        if err then
          return fail('close ' .. port, err)
        end
        notify(r.closed and ('port %d closed'):format(r.port) or ('port %d was not exposed'):format(r.port))
      end)
    end
    if args[1] then
      local p = parse_port(args[1])
      if not p then
        return notify('not a port: ' .. args[1], ERROR)
      end
      go(p)
    else
      pick_exposed_port('Close which port?', go)
    end
  end,
}

sub.open = {
  usage = 'open {port}',
  run = function(args)
    local function go(port)
      -- The server answers the URL and sends window/showDocument.
      client.command('openPreview', { port = port }, function(err, r)
        if err then
          return fail('open ' .. port, err)
        end
        notify('opening ' .. r.url)
      end)
    end
    if args[1] then
      local p = parse_port(args[1])
      if not p then
        return notify('not a port: ' .. args[1], ERROR)
      end
      go(p)
    else
      pick_exposed_port('Open which port?', go)
    end
  end,
}

--- `:Sandport private|public {port}`: re-expose with that visibility (the
--- URL stays; the server does not ask Open/Copy URL again for it).
local function set_visibility(visibility)
  return {
    usage = visibility .. ' {port}',
    run = function(args)
      local function go(port)
        client.command('exposePort', { port = port, visibility = visibility }, function(err, x)
          if err then
            return fail(visibility .. ' ' .. port, err)
          end
          notify(('port %d is now %s: %s'):format(x.port, x.visibility or visibility, x.url))
        end)
      end
      if args[1] then
        local p = parse_port(args[1])
        if not p then
          return notify('not a port: ' .. args[1], ERROR)
        end
        go(p)
      else
        pick_exposed_port(('Make which port %s?'):format(visibility), go)
      end
    end,
  }
end

sub.private = set_visibility('private')
sub.public = set_visibility('public')

sub.ports = {
  usage = 'ports',
  run = function()
    require('sandport.lists').ports()
  end,
}

sub.ps = {
  usage = 'ps',
  run = function()
    require('sandport.lists').ps()
  end,
}

sub.logs = {
  usage = 'logs [id]',
  run = function(args)
    if args[1] then
      require('sandport.logs').open(args[1])
    else
      pick_process('Logs of which process?', nil, function(id)
        require('sandport.logs').open(id)
      end)
    end
  end,
}

sub.exec = {
  usage = 'exec {cmd}',
  run = function(_, rest)
    local function go(cmd)
      client.command('exec', { command = cmd }, function(err, r)
        if err then
          return fail('exec', err)
        end
        local out = {}
        for _, s in ipairs({ r.stdout or '', r.stderr or '' }) do
          s = s:gsub('\n$', '')
          if s ~= '' then
            table.insert(out, s)
          end
        end
        notify(
          ('$ %s  (exit %s, %d ms)%s'):format(
            cmd,
            tostring(nn(r.exitCode)),
            r.durationMs or 0,
            #out > 0 and ('\n' .. table.concat(out, '\n')) or ''
          ),
          r.exitCode == 0 and INFO or WARN
        )
      end, { title = 'exec ' .. cmd })
    end
    if rest == '' then
      input('Command to run: ', go)
    else
      go(rest)
    end
  end,
}

sub.info = {
  usage = 'info',
  run = function()
    client.command('info', {}, function(err, r)
      if err then
        return fail('info', err)
      end
      local gw = r.gateway or {}
      notify(table.concat({
        'sandbox ' .. tostring(r.sandboxId),
        'backend ' .. tostring(r.backend),
        'workspace ' .. tostring(r.workspaceRoot),
        'gateway ' .. tostring(nn(gw.listen)) .. ' domain ' .. tostring(nn(gw.domain)),
        nn(gw.publicUrl) and ('public URL ' .. gw.publicUrl) or nil,
      }, '\n'))
    end)
  end,
}

sub.cancel = {
  usage = 'cancel',
  run = function()
    local list = {}
    for rid, p in pairs(client.pending) do
      table.insert(list, { rid = rid, title = p.title })
    end
    table.sort(list, function(a, b)
      return a.rid < b.rid
    end)
    if #list == 0 then
      return notify('nothing to cancel', WARN)
    end
    if #list == 1 then
      client.cancel(list[1].rid)
      return
    end
    table.insert(list, { rid = 'all', title = 'all of them' })
    vim.ui.select(list, {
      prompt = 'Cancel which request?',
      format_item = function(x)
        return x.title
      end,
    }, function(x)
      if not x then
        return
      end
      for _, y in ipairs(list) do
        if x.rid == 'all' or x.rid == y.rid then
          if y.rid ~= 'all' then
            client.cancel(y.rid)
          end
        end
      end
    end)
  end,
}

M.names = {
  'start', 'stop', 'remove', 'stopall', 'wait', 'expose', 'close', 'open',
  'private', 'public', 'ports', 'ps', 'logs', 'exec', 'info', 'cancel',
}

--- Run `:Sandport {args}`.
function M.run(argstr)
  argstr = argstr or ''
  local name, rest = argstr:match('^%s*(%S+)%s*(.-)%s*$')
  if not name then
    return notify('usage: :Sandport {' .. table.concat(M.names, '|') .. '} …; see :help sandport', WARN)
  end
  local s = sub[name]
  if not s then
    return notify(('unknown subcommand %q; see :help sandport'):format(name), ERROR)
  end
  local args = vim.split(rest, '%s+', { trimempty = true })
  local ok, err = pcall(s.run, args, rest)
  if not ok then
    notify(name .. ': ' .. tostring(err), ERROR)
  end
end

-- Completion --------------------------------------------------------------

local function filter(list, lead)
  local out = {}
  for _, x in ipairs(list) do
    x = tostring(x)
    if vim.startswith(x, lead) then
      table.insert(out, x)
    end
  end
  return out
end

--- Process ids (never starts the server: cache, refreshed when running).
local function process_ids(only_running)
  local r = client.command_sync('listProcesses', {}, 300)
  if r then
    state.set_processes(r.processes)
  end
  local out = {}
  for _, p in ipairs(state.process_list()) do
    if not only_running or state.is_live(p) then
      table.insert(out, p.id)
    end
  end
  return out
end

--- Ended processes, by name when it is unique among them, else by id.
local function ended_names()
  local r = client.command_sync('listProcesses', {}, 300)
  if r then
    state.set_processes(r.processes)
  end
  local list = state.process_list(function(p)
    return not state.is_live(p)
  end)
  local count = {}
  for _, p in ipairs(list) do
    local name = nn(p.name)
    if type(name) == 'string' and name ~= '' then
      count[name] = (count[name] or 0) + 1
    end
  end
  local out = {}
  for _, p in ipairs(list) do
    local name = nn(p.name)
    table.insert(out, (type(name) == 'string' and count[name] == 1 and not state.processes[name]) and name or p.id)
  end
  return out
end

local function listening_ports()
  local r = client.command_sync('listProcesses', {}, 300)
  if r then
    state.set_processes(r.processes)
  end
  local seen, out = {}, {}
  for _, p in ipairs(state.process_list()) do
    for _, port in ipairs(nn(p.listeningPorts) or {}) do
      if not seen[port] then
        seen[port] = true
        table.insert(out, port)
      end
    end
  end
  table.sort(out)
  return out
end

local function exposed_ports()
  local r = client.command_sync('getExposedPorts', {}, 300)
  if r then
    state.ports = r.ports or {}
  end
  return vim.tbl_map(function(x)
    return x.port
  end, state.ports)
end

local function shell_complete(words, lead)
  if #words == 0 then
    return vim.fn.getcompletion(lead, 'shellcmd')
  end
  return vim.fn.getcompletion(lead, 'file')
end

local function option_names(opts, lead, values)
  local out = {}
  for k, v in pairs(opts) do
    if v == 'flag' then
      table.insert(out, k)
    else
      local vals = values and values[k]
      if vals and vim.startswith(lead, k .. '=') then
        for _, x in ipairs(vals) do
          table.insert(out, k .. '=' .. x)
        end
      else
        table.insert(out, k .. '=')
      end
    end
  end
  table.sort(out)
  return filter(out, lead)
end

--- Completion of `:Sandport …` (the text up to the cursor).
function M.complete(lead, line, pos)
  line = line:sub(1, pos or #line)
  local words = vim.split(line, '%s+', { trimempty = true })
  -- words[1] is the command name; the word being completed is `lead`.
  if lead ~= '' then
    table.remove(words)
  end
  local n = #words -- words before the one being completed
  if n <= 1 then
    return filter(M.names, lead)
  end
  local name = words[2]
  local before = vim.list_slice(words, 3)
  if name == 'start' or name == 'exec' then
    return shell_complete(before, lead)
  elseif name == 'stop' then
    return n == 2 and filter(process_ids(true), lead) or {}
  elseif name == 'logs' then
    return n == 2 and filter(process_ids(false), lead) or {}
  elseif name == 'remove' then
    return n == 2 and filter(ended_names(), lead) or {}
  elseif name == 'wait' then
    if n == 2 then
      return filter({ 'port', 'log' }, lead)
    end
    if before[1] == 'port' then
      if n == 3 and not lead:find('=') then
        local ports = filter(listening_ports(), lead)
        if #ports > 0 or lead:match('^%d') then
          return ports
        end
      end
      return option_names(WAIT_PORT_OPTS, lead, {
        mode = { 'http', 'tcp' },
        id = process_ids(true),
      })
    elseif before[1] == 'log' then
      return option_names(WAIT_LOG_OPTS, lead, {
        stream = { 'stdout', 'stderr', 'both' },
        id = process_ids(true),
      })
    end
    return {}
  elseif name == 'expose' then
    if n == 2 then
      local ports = filter(listening_ports(), lead)
      return ports
    end
    return filter({ 'ttl=' }, lead)
  elseif name == 'close' or name == 'open' or name == 'private' or name == 'public' then
    return n == 2 and filter(exposed_ports(), lead) or {}
  end
  return {}
end

return M
