-- Shared by post.lua and mixed.lua (loaded with dofile). wrk runs one Lua state per thread plus one
-- for setup()/done(); these helpers count responses per thread and merge them in done().
--
-- Clients honour Retry-After: after a 429 the next request of this thread waits that long (wrk's
-- delay() is per thread, not per connection, so this is an approximation of polite clients). Without
-- it, the clients beyond slots+queue spin on 429s and burn the CPU the sandboxes need.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread state (globals of the thread's Lua state, read back by done() with thread:get).
statuses = {}      -- "200" -> count
kinds = {}         -- "422 timeout" -> count (status plus error_type, when the body has one)
owed = {}          -- queue of delays (ms) owed after 429s

function delay()
  if #owed > 0 then
    return table.remove(owed, 1)
  end
  return 0
end

function count_response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  local kind = s
  if body then
    local et = string.match(string.sub(body, 1, 4096), '"error_type":"([%w_]+)"')
    if et == nil and status ~= 200 then
      -- error_type may follow a long stdout field: look further only for failures.
      et = string.match(body, '"error_type":"([%w_]+)"')
    end
    if et then kind = s .. " " .. et end
  end
  kinds[kind] = (kinds[kind] or 0) + 1
  if status == 429 then
    local ra = tonumber(headers["retry-after"] or headers["Retry-After"] or "1") or 1
    table.insert(owed, math.floor(ra * 1000))
  end
end

function response(status, headers, body)
  count_response(status, headers, body)
end

local function json_map(t)
  local parts = {}
  for k, v in pairs(t) do
    table.insert(parts, string.format("%q:%d", k, v))
  end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end

-- One machine-readable line for the harness: "WRKJSON {...}". Times in microseconds.
function done(summary, latency, requests)
  local st, kd = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("kinds")) do kd[k] = (kd[k] or 0) + v end
  end
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 90, 95, 99}) do
    table.insert(pct, string.format('"p%d":%d', p, latency:percentile(p)))
  end
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.0f,"max":%d,%s},"statuses":%s,"kinds":%s}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, table.concat(pct, ","), json_map(st), json_map(kd)))
end
