-- wrk script for `make bench`: POSTs one JSON body (read from a file) to /execute, again and again.
-- Usage: wrk -s bench/wrk/post.lua http://127.0.0.1:PORT/execute -- BODY_FILE
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
