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

function M.port(port)
  for _, p in ipairs(M.ports) do
    if p.port == port then
      return p
    end
  end
end

return M
