-- Keep-alive POST where every request is a distinct cache key (a ticket
-- number in the prompt), so each one misses L0.5 and L0, goes to the
-- upstream and creates a proposal on Redis. $L0L3_BENCH_RUN makes the keys
-- of one run differ from those of every other run.
local common = dofile(os.getenv("L0L3_BENCH_LUA_DIR") .. "/common.lua")

common.chatRequest()
local run = os.getenv("L0L3_BENCH_RUN") or tostring(os.time())
local counter = 0
local threads = 0

-- Runs in the main Lua state; gives each wrk thread its own part of the key space.
function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end
local template = '{"model":"gpt-4o-mini-2024-07-18","messages":[' ..
   '{"role":"system","content":"You are the support assistant of Acme Cloud. Answer briefly, cite the ' ..
   'relevant documentation page when there is one, and never invent prices."},' ..
   '{"role":"user","content":"Ticket %s-%d-%d: how do I rotate the API key of my project without downtime?"}],' ..
   '"temperature":0.2,"max_tokens":512,"stream":false,"user":"user-4711"}'

function request()
   counter = counter + 1
   return wrk.format(nil, nil, nil, string.format(template, run, tid or 0, counter))
end

done = common.done
