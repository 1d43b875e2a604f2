-- Sandport: defines :Sandport only; nothing is loaded or started until used.
if vim.g.loaded_sandport then
  return
end
vim.g.loaded_sandport = true

vim.api.nvim_create_user_command('Sandport', function(opts)
  require('sandport.commands').run(opts.args)
end, {
  nargs = '*',
  desc = 'Sandport: sandbox processes, waits, logs and preview URLs',
  complete = function(lead, line, pos)
    return require('sandport.commands').complete(lead, line, pos)
  end,
})
