-- What the plugin last heard from the server (for completion and lists).
local M = {
  processes = {}, -- id -> Process
  ports = {}, -- list of ExposedPort, sorted by port
}

function M.reset()
  M.processes = {}
  M.ports = {}
end

function M.set_process(p)
  if type(p) == 'table' and p.id then
    local old = M.processes[p.id]
    if old and old.listeningPorts and p.listeningPorts == nil then
      p.listeningPorts = old.listeningPorts
    end
    M.processes[p.id] = p
  end
end

function M.set_processes(list)
  M.processes = {}
  for _, p in ipairs(list or {}) do
    M.set_process(p)
  end
end

function M.process_list(filter)
  local out = {}
  for _, p in pairs(M.processes) do
    if not filter or filter(p) then
      table.insert(out, p)
    end
  end
  table.sort(out, function(a, b)
    return (a.startedAt or '') .. a.id < (b.startedAt or '') .. b.id
  end)
  return out
end

local function nn(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

--- What a process is called in messages: its name, else its command line
--- (shortened), else (nothing known) its id. Takes a Process or an id.
function M.label(p)
  if type(p) ~= 'table' then
    p = M.processes[p] or { id = p }
  end
  local name = nn(p.name)
  if type(name) == 'string' and name ~= '' then
    return name
  end
  local cmd = nn(p.command)
  if type(cmd) == 'string' and cmd ~= '' then
    cmd = vim.trim(cmd:gsub('%s+', ' '))
    if vim.fn.strchars(cmd) > 48 then
      cmd = vim.fn.strcharpart(cmd, 0, 47) .. '…'
    end
    return cmd
  end
  return tostring(p.id)
end

--- Not ended yet: running, or `starting` (contract v2: the sandbox is still
--- being set up, e.g. Docker). Takes a Process.
function M.is_live(p)
  return type(p) == 'table' and (p.status == 'running' or p.status == 'starting')
end

--- The id of a process given by id or by name (a name only when exactly one
--- known process matching `filter` has it); else the word itself.
function M.resolve(word, filter)
  if M.processes[word] then
    return word
  end
  local found
  for _, p in pairs(M.processes) do
    if nn(p.name) == word and (not filter or filter(p)) then
      if found then
        return word
      end
      found = p.id
    end
  end
  return found or word
end

--- Forget a process (sandport/processRemoved).
function M.remove_process(id)
  M.processes[id] = nil
end

function M.port(port)
  for _, p in ipairs(M.ports) do
    if p.port == port then
      return p
    end
  end
end

return M
