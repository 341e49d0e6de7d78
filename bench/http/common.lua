-- Shared by the wrk scripts: one machine-readable result line per run.
local common = {}

function common.done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "L0L3_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "bytes=%d errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d non2xx=%d\n",
      summary.requests, summary.duration, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      summary.bytes, e.connect, e.read, e.write, e.timeout, e.status))
end

-- The lines of a file, without empty ones.
function common.lines(path)
   local out = {}
   for line in io.lines(path) do
      if #line > 0 then out[#out + 1] = line end
   end
   return out
end

function common.chatRequest()
   wrk.method = "POST"
   wrk.path = "/v1/chat/completions"
   wrk.headers["Content-Type"] = "application/json"
   -- The namespace the entries were seeded for (run.sh, l0l3_bench_seed --ns).
   wrk.headers["x-l0l3-namespace"] = "bench"
end

return common
