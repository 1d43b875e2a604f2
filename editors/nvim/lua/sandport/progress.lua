-- $/progress of the server's waits (LspProgress): echoed, and kept for a
-- statusline component (require('sandport').status()).
local config = require('sandport.config')

local M = {}

--- token -> {title, message}
M.active = {}

local function text(p)
  if p.message and p.message ~= '' then
    return ('Sandport: %s (%s)'):format(p.title or '', p.message)
  end
  return 'Sandport: ' .. (p.title or '')
end

function M.on_progress(params)
  local token = params.token
  local value = params.value or {}
  if token == nil then
    return
  end
  local p = M.active[token] or {}
  if value.kind == 'begin' then
    p = { title = value.title, message = value.message }
    M.active[token] = p
  elseif value.kind == 'report' then
    p.message = value.message or p.message
    M.active[token] = p
  elseif value.kind == 'end' then
    M.active[token] = nil
    p.message = value.message or p.message
  end
  if config.options.progress then
    vim.api.nvim_echo({ { text(p), value.kind == 'end' and 'MoreMsg' or 'Normal' } }, false, {})
  end
  vim.cmd('redrawstatus')
end

--- A request ended: its progress is over even if `end` never arrives.
function M.finish(token)
  if M.active[token] then
    M.active[token] = nil
    vim.cmd('redrawstatus')
  end
end

function M.clear()
  M.active = {}
end

--- One line for a statusline ('' when no wait runs).
function M.status()
  local parts = {}
  for _, p in pairs(M.active) do
    table.insert(parts, text(p))
  end
  table.sort(parts)
  return table.concat(parts, ' | ')
end

return M
