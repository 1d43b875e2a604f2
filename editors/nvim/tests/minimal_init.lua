-- Headless test init: only this plugin on the runtimepath.
local here = debug.getinfo(1, 'S').source:sub(2)
local root = vim.fn.fnamemodify(here, ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.g.sandport_test_root = root
package.path = root .. '/tests/?.lua;' .. package.path
-- -l runs the script before plugins would load: load ours explicitly.
vim.cmd.runtime('plugin/sandport.lua')
