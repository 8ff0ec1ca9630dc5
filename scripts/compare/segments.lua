-- wrk workload: whole 2 MiB segments (/seg/000.ts … /seg/199.ts), picked
-- uniformly at random, as HLS players fetch them: no Range header.
--
--   wrk -t1 -c16 -d10s -s segments.lua http://HOST:PORT
--
-- Environment: SEG_COUNT, the number of segments (default 200).
-- At the end it prints the same RESULT line as range1m.lua.

local MiB = 1048576
local count = tonumber(os.getenv("SEG_COUNT") or "200")

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

function request()
  return wrk.format("GET", string.format("/seg/%03d.ts", math.random(0, count - 1)))
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT req_s=%.1f mib_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d bytes=%d errors=%d\n",
    summary.requests / seconds, summary.bytes / seconds / MiB,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout))
end
