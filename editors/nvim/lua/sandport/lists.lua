-- `:Sandport ports` / `:Sandport ps`: a floating window or the quickfix
-- list. URLs carry an extmark `url`, so `gx` (vim.ui.open) opens the one
-- under the cursor; <CR> opens a port's URL or a process's logs.
local config = require('sandport.config')
local state = require('sandport.state')

local M = {}

local ns = vim.api.nvim_create_namespace('sandport_lists')

--- The last list shown: {kind, buf, win, items}.
M.last = nil

local function nn(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

local function pad(s, n)
  s = tostring(s or '')
  if #s >= n then
    return s
  end
  return s .. string.rep(' ', n - #s)
end

function M.port_items(ports)
  local items = {}
  for _, p in ipairs(ports or {}) do
    local private = p.visibility == 'private'
    local text = ('%s %s %s%s%s'):format(
      pad(p.port, 5),
      pad(nn(p.name) or '-', 12),
      p.url,
      private and '  private' or '',
      nn(p.expiresAt) and ('  expires ' .. p.expiresAt) or ''
    )
    table.insert(items, { text = text, url = p.url, port = p.port, private = private })
  end
  return items
end

function M.process_items(procs)
  local items = {}
  for _, p in ipairs(procs or {}) do
    local ports = {}
    for _, n in ipairs(nn(p.listeningPorts) or {}) do
      table.insert(ports, tostring(n))
    end
    local exit = nn(p.exitCode)
    local text = ('%s %s %s %s %s %s'):format(
      pad(p.id, 14),
      pad(p.status .. (exit and ('(' .. exit .. ')') or ''), 12),
      pad(nn(p.pid) or '-', 7),
      pad(#ports > 0 and table.concat(ports, ',') or '-', 11),
      pad(nn(p.name) or '-', 10),
      p.command or ''
    )
    table.insert(items, { text = text, id = p.id })
  end
  return items
end

local function item_at_cursor()
  local l = M.last
  if not l or vim.api.nvim_get_current_buf() ~= l.buf then
    return nil
  end
  local row = vim.api.nvim_win_get_cursor(0)[1]
  return l.items[row - l.header]
end

local function activate()
  local it = item_at_cursor()
  if not it then
    return
  end
  if it.private then
    -- The bare URL answers 401: the server opens a fresh login link.
    require('sandport.commands').run('open ' .. it.port)
  elseif it.url then
    require('sandport.handlers').open_url(it.url)
  elseif it.id then
    local win = vim.api.nvim_get_current_win()
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      vim.api.nvim_win_close(win, true)
    end
    require('sandport.logs').open(it.id)
  end
end

local function show_float(kind, title, header, items)
  local lines = { header }
  for _, it in ipairs(items) do
    table.insert(lines, it.text)
  end
  if #items == 0 then
    table.insert(lines, kind == 'ports' and '(no exposed ports)' or '(no processes)')
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_extmark(buf, ns, 0, 0, { end_col = #header, hl_group = 'Title' })
  for i, it in ipairs(items) do
    if it.url then
      local s = it.text:find(it.url, 1, true)
      if s then
        vim.api.nvim_buf_set_extmark(buf, ns, i, s - 1, {
          end_col = s - 1 + #it.url,
          hl_group = 'Underlined',
          url = it.url,
        })
      end
    end
  end
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'sandportlist'
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 1, math.max(20, vim.o.columns - 4))
  local height = math.min(#lines, math.max(1, vim.o.lines - 6))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    border = 'rounded',
    style = 'minimal',
    title = ' ' .. title .. ' ',
    title_pos = 'center',
  })
  vim.wo[win].cursorline = true
  if #items > 0 then
    vim.api.nvim_win_set_cursor(win, { 2, 0 })
  end
  local function close()
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end
  vim.keymap.set('n', 'q', close, { buffer = buf, nowait = true, desc = 'Close' })
  vim.keymap.set('n', '<Esc>', close, { buffer = buf, nowait = true, desc = 'Close' })
  vim.keymap.set('n', '<CR>', activate, {
    buffer = buf,
    desc = kind == 'ports' and 'Open the preview URL' or 'Open the logs',
  })
  M.last = { kind = kind, buf = buf, win = win, items = items, header = 1 }
end

local function show_quickfix(kind, title, items)
  local qf = {}
  for _, it in ipairs(items) do
    table.insert(qf, { text = it.text, user_data = { url = it.url, id = it.id } })
  end
  vim.fn.setqflist({}, ' ', { title = title, items = qf })
  vim.cmd('botright copen')
  M.last = { kind = kind, buf = vim.api.nvim_get_current_buf(), win = vim.api.nvim_get_current_win(), items = items, header = 0 }
end

function M.show(kind, items)
  local title = kind == 'ports' and 'Sandport ports' or 'Sandport processes'
  local header = kind == 'ports' and ('%s %s %s'):format(pad('PORT', 5), pad('NAME', 12), 'URL')
    or ('%s %s %s %s %s %s'):format(
      pad('ID', 14),
      pad('STATUS', 12),
      pad('PID', 7),
      pad('LISTENING', 11),
      pad('NAME', 10),
      'COMMAND'
    )
  if config.options.list_style == 'quickfix' then
    show_quickfix(kind, title, items)
  else
    show_float(kind, title, header, items)
  end
end

function M.ports()
  require('sandport.client').command('getExposedPorts', {}, function(err, r)
    if err then
      return vim.notify('Sandport: ' .. require('sandport.client').format_error(err), vim.log.levels.ERROR)
    end
    state.ports = r.ports or {}
    M.show('ports', M.port_items(state.ports))
  end)
end

function M.ps()
  require('sandport.client').command('listProcesses', {}, function(err, r)
    if err then
      return vim.notify('Sandport: ' .. require('sandport.client').format_error(err), vim.log.levels.ERROR)
    end
    state.set_processes(r.processes)
    M.show('ps', M.process_items(r.processes))
  end)
end

--- Ports changed: a ports float still open is refreshed in place.
function M.on_ports_changed()
  local l = M.last
  if not l or l.kind ~= 'ports' or not vim.api.nvim_buf_is_valid(l.buf) then
    return
  end
  if config.options.list_style == 'quickfix' then
    return
  end
  local items = M.port_items(state.ports)
  local lines = { vim.api.nvim_buf_get_lines(l.buf, 0, 1, false)[1] }
  for _, it in ipairs(items) do
    table.insert(lines, it.text)
  end
  if #items == 0 then
    table.insert(lines, '(no exposed ports)')
  end
  vim.bo[l.buf].modifiable = true
  vim.api.nvim_buf_set_lines(l.buf, 0, -1, false, lines)
  vim.bo[l.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(l.buf, ns, 1, -1)
  for i, it in ipairs(items) do
    local s = it.text:find(it.url, 1, true)
    if s then
      vim.api.nvim_buf_set_extmark(l.buf, ns, i, s - 1, {
        end_col = s - 1 + #it.url,
        hl_group = 'Underlined',
        url = it.url,
      })
    end
  end
  l.items = items
end

return M
