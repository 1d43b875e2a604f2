-- Code lenses ("Expose 3000", "Open preview (3000)") on port literals such
-- as `app.listen(3000)`, with no setup: the workspace's file buffers are
-- attached to the server while it runs, their lenses are asked for when a
-- buffer is attached, entered, written or left insert mode (debounced), and
-- again when the server says the ports in use changed
-- (workspace/codeLens/refresh) or the exposed ones did (sandport/portsChanged).
local M = {}

local uv = vim.uv or vim.loop
local DEBOUNCE_MS = 200

local timers = {} -- bufnr -> uv timer
local group = vim.api.nvim_create_augroup('sandport_lens', { clear = true })

local function sandport_client(bufnr)
  for _, c in ipairs(vim.lsp.get_clients({ bufnr = bufnr, name = 'sandport' })) do
    if not c:is_stopped() then
      return c
    end
  end
end

--- Ask for the lenses of a buffer now.
function M.refresh_now(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_buf_is_loaded(bufnr) and sandport_client(bufnr) then
    vim.lsp.codelens.refresh({ bufnr = bufnr })
  end
end

--- Ask for the lenses of a buffer soon (one request for a burst of events).
function M.refresh(bufnr)
  local t = timers[bufnr]
  if not t then
    t = assert(uv.new_timer())
    timers[bufnr] = t
  end
  t:stop()
  t:start(
    DEBOUNCE_MS,
    0,
    vim.schedule_wrap(function()
      M.refresh_now(bufnr)
    end)
  )
end

local function forget(bufnr)
  local t = timers[bufnr]
  if t then
    timers[bufnr] = nil
    t:stop()
    t:close()
  end
end

--- A sandport client was attached to a buffer (LspAttach).
function M.on_attach(bufnr)
  vim.api.nvim_clear_autocmds({ group = group, buffer = bufnr })
  vim.api.nvim_create_autocmd({ 'BufEnter', 'BufWritePost', 'InsertLeave', 'TextChanged' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      if sandport_client(ev.buf) then
        M.refresh(ev.buf)
      else
        vim.api.nvim_clear_autocmds({ group = group, buffer = ev.buf })
        forget(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      forget(ev.buf)
    end,
  })
  M.refresh(bufnr)
end

--- Whether a buffer is a file of the client's workspace.
local function in_workspace(bufnr, root)
  if not vim.api.nvim_buf_is_loaded(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or not root then
    return false
  end
  root = vim.fs.normalize(root)
  return vim.startswith(vim.fs.normalize(name), root == '/' and root or (root .. '/'))
end

local function attach(client, bufnr)
  if in_workspace(bufnr, client.root_dir) and not vim.lsp.buf_is_attached(bufnr, client.id) then
    vim.lsp.buf_attach_client(bufnr, client.id)
  end
end

--- The client answered `initialize`: attach the workspace's file buffers
--- (a server started by :Sandport has none), now and as files are opened.
function M.on_client(client)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    attach(client, b)
  end
  local au = vim.api.nvim_create_augroup('sandport_lens_attach', { clear = true })
  vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile', 'BufEnter' }, {
    group = au,
    callback = function(ev)
      local c = vim.lsp.get_client_by_id(client.id)
      if not c or c:is_stopped() then
        return true -- the server ended: this autocmd goes with it
      end
      attach(c, ev.buf)
    end,
  })
end

--- workspace/codeLens/refresh: ask again for every attached buffer.
function M.on_refresh_request(_, _, ctx)
  local c = ctx and vim.lsp.get_client_by_id(ctx.client_id)
  if c then
    for bufnr in pairs(c.attached_buffers or {}) do
      M.refresh(bufnr)
    end
  end
  return vim.NIL
end

return M
