-- Log buffers: one scratch buffer per process, its history from
-- sandport.getLogs, then live lines from sandport/log; follows the end
-- unless the user moved away from it; bounded in lines.
local config = require('sandport.config')

local M = {}

--- processId -> {buf, ready, pending, off = {stdout, stderr}}
M.bufs = {}

local ns = vim.api.nvim_create_namespace('sandport_logs')

local function valid(st)
  return st and st.buf and vim.api.nvim_buf_is_valid(st.buf)
end

local function split_lines(text)
  local lines = vim.split(text, '\n', { plain = true })
  if lines[#lines] == '' then
    table.remove(lines)
  end
  for i, l in ipairs(lines) do
    lines[i] = l:gsub('\r$', '')
  end
  return lines
end

--- Append lines to a log buffer: keep following windows at the end, drop
--- the oldest lines beyond log_max_lines.
local function append(st, lines, hl)
  if #lines == 0 or not valid(st) then
    return
  end
  local buf = st.buf
  local before = vim.api.nvim_buf_line_count(buf)
  -- Windows whose cursor is on the last line follow the end.
  local follow = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local row = vim.api.nvim_win_get_cursor(win)[1]
    if st.empty or row >= before then
      table.insert(follow, win)
    end
  end
  vim.bo[buf].modifiable = true
  local first
  if st.empty then
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    st.empty = false
    first = 0
  else
    vim.api.nvim_buf_set_lines(buf, -1, -1, false, lines)
    first = before
  end
  if hl then
    for i = 0, #lines - 1 do
      pcall(vim.api.nvim_buf_set_extmark, buf, ns, first + i, 0, {
        end_row = first + i,
        end_col = #lines[i + 1],
        hl_group = hl,
      })
    end
  end
  local max = config.options.log_max_lines or 10000
  local count = vim.api.nvim_buf_line_count(buf)
  if count > max then
    vim.api.nvim_buf_set_lines(buf, 0, count - max, false, {})
    count = max
  end
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  for _, win in ipairs(follow) do
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_set_cursor(win, { count, 0 })
    end
  end
end

M.append = append

local function parse_cursor(c)
  if type(c) ~= 'string' then
    return nil
  end
  local a, b = c:match('^(%d+)%-(%d+)$')
  if not a then
    return nil
  end
  return { stdout = tonumber(a), stderr = tonumber(b) }
end

local function append_live(st, p)
  local text = p.text or ''
  -- The server's cursors are `stdoutBytes-stderrBytes`: what the history
  -- already holds is skipped (a live message may overlap it).
  local cur = parse_cursor(p.cursor)
  local stream = p.stream == 'stderr' and 'stderr' or 'stdout'
  if cur and st.off and st.off[stream] then
    local stop = cur[stream]
    local start = stop - #text
    local have = st.off[stream]
    if stop <= have then
      return
    end
    if start < have then
      text = text:sub(have - start + 1)
    end
    st.off[stream] = stop
  end
  if p.dropped and p.dropped ~= vim.NIL and p.dropped > 0 then
    append(st, { ('[sandport] %d bytes of %s dropped'):format(p.dropped, stream) }, 'Comment')
  end
  append(st, split_lines(text), stream == 'stderr' and 'WarningMsg' or nil)
end

function M.on_log(p)
  local st = M.bufs[p.processId]
  if not valid(st) then
    return
  end
  if not st.ready then
    table.insert(st.pending, p)
    return
  end
  append_live(st, p)
end

function M.on_process(p)
  local st = M.bufs[p.id]
  if not valid(st) or require('sandport.state').is_live(p) then
    return
  end
  local line = ('[sandport] process %s'):format(p.status)
  if p.exitCode ~= nil and p.exitCode ~= vim.NIL then
    line = line .. ' (exit code ' .. p.exitCode .. ')'
  elseif p.signal ~= nil and p.signal ~= vim.NIL then
    line = line .. ' (signal ' .. tostring(p.signal) .. ')'
  end
  if st.ready then
    append(st, { line }, 'Comment')
  else
    table.insert(st.pending, { _line = line })
  end
end

--- The process was forgotten by the server: its log buffer goes (windows
--- showing it show another buffer).
function M.on_removed(id)
  local st = M.bufs[id]
  M.bufs[id] = nil
  if valid(st) then
    pcall(vim.api.nvim_buf_delete, st.buf, { force = true })
  end
end

function M.on_server_exit()
  for _, st in pairs(M.bufs) do
    if valid(st) and st.ready then
      append(st, { '[sandport] the server stopped' }, 'Comment')
    end
  end
end

--- The log buffer of a process (created, history fetched), or nil.
function M.buffer(id)
  local st = M.bufs[id]
  return valid(st) and st.buf or nil
end

--- Open (or show again) the log buffer of a process.
function M.open(id, opts)
  opts = opts or {}
  local st = M.bufs[id]
  if not valid(st) then
    local buf = vim.api.nvim_create_buf(false, true)
    pcall(vim.api.nvim_buf_set_name, buf, 'sandport://logs/' .. id)
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'hide'
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = 'sandportlog'
    vim.bo[buf].modifiable = false
    st = { buf = buf, ready = false, pending = {}, empty = true }
    M.bufs[id] = st
    vim.api.nvim_create_autocmd('BufWipeout', {
      buffer = buf,
      once = true,
      callback = function()
        if M.bufs[id] and M.bufs[id].buf == buf then
          M.bufs[id] = nil
        end
      end,
    })
    require('sandport.client').command('getLogs', { processId = id }, function(err, r)
      if not valid(st) then
        return
      end
      if err then
        append(st, { '[sandport] ' .. require('sandport.client').format_error(err) }, 'ErrorMsg')
        st.ready = true
        st.off = nil
      else
        if r.truncated then
          append(st, { '[sandport] older output was dropped' }, 'Comment')
        end
        append(st, split_lines(r.stdout or ''))
        append(st, split_lines(r.stderr or ''), 'WarningMsg')
        st.off = parse_cursor(r.cursor)
        st.ready = true
      end
      local pending = st.pending
      st.pending = {}
      for _, p in ipairs(pending) do
        if p._line then
          append(st, { p._line }, 'Comment')
        else
          append_live(st, p)
        end
      end
      local proc = require('sandport.state').processes[id]
      if proc and proc.status and not require('sandport.state').is_live(proc) and #pending == 0 then
        M.on_process(proc)
      end
    end)
  end
  if opts.show ~= false then
    local wins = vim.fn.win_findbuf(st.buf)
    if #wins > 0 then
      vim.api.nvim_set_current_win(wins[1])
    else
      vim.cmd('botright split')
      vim.api.nvim_win_set_buf(0, st.buf)
    end
    local count = vim.api.nvim_buf_line_count(st.buf)
    vim.api.nvim_win_set_cursor(0, { count, 0 })
  end
  return st.buf
end

return M
