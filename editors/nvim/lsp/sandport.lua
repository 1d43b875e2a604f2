-- vim.lsp.config entry: `vim.lsp.enable('sandport')` starts the server for
-- buffers of a workspace (root: .sandport or .git, else the cwd).
return require('sandport.client').lsp_config()
