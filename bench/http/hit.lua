-- Keep-alive POST of realistic chat completion requests, cycling over the
-- bodies in $L0L3_BENCH_REQUESTS (one JSON body a line). run.sh seeds an
-- approved entry for each, so against the gateway every request is a hit.
-- The nginx reference run uses the same script, so the client does the same work.
local common = dofile(os.getenv("L0L3_BENCH_LUA_DIR") .. "/common.lua")

common.chatRequest()
local bodies = common.lines(os.getenv("L0L3_BENCH_REQUESTS"))
local requests = {}
local n = 0

function init(args)
   -- Formatted once: request() then costs the client almost nothing.
   for i, body in ipairs(bodies) do
      requests[i] = wrk.format(nil, nil, nil, body)
   end
end

function request()
   n = n % #requests + 1
   return requests[n]
end

done = common.done
