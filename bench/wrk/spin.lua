-- wrk script for bench/overload.sh: post.lua's clients, but impolite: they ignore Retry-After and
-- send their next request at once after a 429. This is the worst case for the server (issue 13):
-- every client beyond what it admits spins on 429s, and what each 429 costs comes out of the runs.
-- Usage: wrk -s bench/wrk/spin.lua http://127.0.0.1:PORT/execute -- BODY_FILE
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "post.lua")

function delay()
  return 0
end
