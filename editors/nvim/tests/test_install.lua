-- The README's install instructions, as written, in fresh headless Neovims:
-- the lazy.nvim spec (run the way lazy.nvim runs a spec: no lazy.nvim is
-- downloaded) with a code lens on app.listen(PORT) and no manual refresh;
-- the native-package shell lines in a temporary home, then :Sandport,
-- :help sandport (at the top) and :checkhealth sandport (/bin/true fails).
local H = require('helpers')
local test = H.test

local root = vim.g.sandport_test_root -- editors/nvim
local repo = vim.fn.fnamemodify(root, ':h:h')
local readme = root .. '/README.md'
local child = root .. '/tests/install_child.lua'
local nvim = vim.v.progpath

--- Run the child in a new Neovim; its RESULT lines as {name = {ok, detail}}.
local function run_child(args, env)
  env = vim.tbl_extend('force', {
    SANDPORT_README = readme,
    SANDPORT_REPO = repo,
    SANDPORT_BIN = H.sandport_bin(),
  }, env)
  local r = vim.system(vim.list_extend({ nvim, '--headless' }, args), { env = env, text = true }):wait(90000)
  local results = {}
  for line in (r.stdout or ''):gmatch('[^\n]+') do
    local name, status, detail = line:match('^RESULT (%S+) (%S+) ?(.*)$')
    if name then
      results[name] = { status == 'ok', detail }
    end
  end
  return results, r
end

local function expect(results, r, name)
  local v = results[name]
  if not v then
    error(('no result %s; exit %s\nstdout: %s\nstderr: %s'):format(name, tostring(r.code), r.stdout or '', r.stderr or ''))
  end
  H.ok(v[1], name .. ': ' .. v[2])
end

-- lazy.nvim
local ws = H.workspace('install-lazy')
local lazy, lr = run_child({ '--clean', '-l', child }, {
  SANDPORT_CHILD = 'lazy',
  SANDPORT_WS = ws,
  SANDPORT_PORT = tostring(H.free_port()),
  SANDPORT_SERVER = H.sandport_bin(),
})

test('README lazy.nvim spec: parses; nothing loaded before :Sandport; the file is attached', function()
  expect(lazy, lr, 'spec-parses')
  expect(lazy, lr, 'not-loaded-before-use')
  expect(lazy, lr, 'server-started')
end)

test('README lazy.nvim spec: app.listen(PORT) shows a lens without a manual refresh', function()
  expect(lazy, lr, 'no-lens-before-listening')
  expect(lazy, lr, 'lens-shown')
end)

test('README lazy.nvim spec: the lens follows an expose (Open preview)', function()
  expect(lazy, lr, 'lens-refreshed')
  expect(lazy, lr, 'child-finished')
end)

-- Native packages: the README's shell lines, as written, in a fresh home.
local home = H.workspace('install-home')
local data = H.workspace('install-data')
local function readme_sh()
  local f = assert(io.open(readme))
  local text = f:read('*a')
  f:close()
  local i = assert(text:find('Native packages (no plugin manager):', 1, true))
  return text:match('```sh\n(.-)\n```', i)
end
local sh = readme_sh():gsub('/path/to/sandport', repo)
local bin_dir = vim.fn.fnamemodify(nvim, ':h')
local env = {
  HOME = home,
  XDG_DATA_HOME = data,
  XDG_CONFIG_HOME = home .. '/.config',
  PATH = bin_dir .. ':' .. vim.env.PATH, -- `nvim` is this Neovim
}
local shr = vim.system({ 'sh', '-ec', sh }, { env = env, text = true }):wait(60000)

test('README native packages: the shell lines run', function()
  H.eq(shr.code, 0, 'sh exit; stderr: ' .. (shr.stderr or ''))
  H.ok(vim.uv.fs_stat(data .. '/nvim/site/pack/sandport/start/sandport/plugin/sandport.lua'), 'the package link')
  H.ok(vim.uv.fs_stat(root .. '/doc/tags'), 'helptags made doc/tags')
end)

local native, nr = run_child({ '-c', 'luafile ' .. child }, vim.tbl_extend('force', env, { SANDPORT_CHILD = 'native' }))

test('README native packages: :Sandport exists in a plain `nvim`', function()
  expect(native, nr, 'plugin-loaded')
end)

test(':help sandport opens at the top of doc/sandport.txt', function()
  expect(native, nr, 'help-at-top')
end)

test(':checkhealth sandport fails for /bin/true and passes for sandport', function()
  expect(native, nr, 'health-rejects-bin-true')
  expect(native, nr, 'health-accepts-sandport')
  expect(native, nr, 'child-finished')
end)

H.finish()
