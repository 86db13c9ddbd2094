-- wrk script for `make soak`: each request picks one body at random, by weight.
-- Usage: wrk -s bench/wrk/mixed.lua http://127.0.0.1:PORT/execute -- MIX_FILE
-- MIX_FILE has one line per kind of request: "<weight>\t<name>\t<JSON body on one line>".
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

local bodies, total = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    local weight, name, body = line:match("^(%d+)\t([^\t]+)\t(.+)$")
    if weight then
      total = total + tonumber(weight)
      table.insert(bodies, { upto = total, name = name, body = body })
    end
  end
  assert(total > 0, "no bodies in " .. args[1])
  -- A different random sequence per thread.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  thread_tag = string.format("%06d", math.random(0, 999999))
end

-- Each request's X-Request-Id names its kind ("soak-flood-123456-42"): the server logs it with the
-- status and error_type, so a surprising answer can be traced back to the script that caused it.
local sent = 0

function request()
  local r = math.random() * total
  local pick = bodies[#bodies]
  for _, b in ipairs(bodies) do
    if r < b.upto then
      pick = b
      break
    end
  end
  sent = sent + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Request-Id"] = "soak-" .. pick.name .. "-" .. thread_tag .. "-" .. sent,
  }
  return wrk.format("POST", nil, headers, pick.body)
end
