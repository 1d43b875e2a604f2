-- Sandport for Neovim: a sandbox for the workspace (processes, readiness
-- waits, logs) and preview URLs, through the `sandport lsp` server.
local M = {}

--- Optional: configure the plugin (see :help sandport-settings). May be
--- called again; a running server gets the new settings at once
--- (workspace/didChangeConfiguration).
function M.setup(opts)
  local config = require('sandport.config')
  config.set(opts)
  local problems = config.validate()
  if #problems > 0 then
    vim.notify(
      'Sandport: invalid settings:\n' .. table.concat(problems, '\n'),
      vim.log.levels.WARN,
      { title = 'Sandport' }
    )
  end
  -- Keep the vim.lsp.config entry (for vim.lsp.enable('sandport')) in step.
  if vim.lsp.config then
    local c = require('sandport.client').lsp_config()
    vim.lsp.config('sandport', {
      cmd = c.cmd,
      init_options = c.init_options,
      settings = c.settings,
    })
  end
  require('sandport.client').push_settings()
  return M
end

--- Run a `sandport.*` command: cb(err, result).
function M.command(name, params, cb, opts)
  return require('sandport.client').command(name, params, cb, opts)
end

--- Run `:Sandport {args}` from Lua.
function M.run(args)
  return require('sandport.commands').run(args)
end

--- Wait progress for a statusline ('' when idle).
function M.status()
  if not package.loaded['sandport.progress'] then
    return ''
  end
  return require('sandport.progress').status()
end

--- The client, or nil when the server is not running.
function M.client()
  return require('sandport.client').get()
end

--- Stop the server (it stops every process it started).
function M.stop()
  return require('sandport.client').stop()
end

return M
