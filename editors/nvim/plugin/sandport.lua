-- Sandport: defines :Sandport and shows the server's code lenses; nothing is
-- loaded or started until used.
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

-- Code lenses of the sandport server in every buffer it is attached to,
-- however it was started (:Sandport or vim.lsp.enable('sandport')).
vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('sandport_attach', { clear = true }),
  callback = function(ev)
    local c = ev.data and vim.lsp.get_client_by_id(ev.data.client_id)
    if c and c.name == 'sandport' then
      require('sandport.lens').on_attach(ev.buf)
    end
  end,
})
