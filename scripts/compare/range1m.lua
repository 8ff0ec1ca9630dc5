-- wrk workload: random 1 MiB ranges of one large object, each starting on a
-- 1 MiB boundary, as a player seeking through a long video asks for them.
--
--   wrk -t1 -c16 -d10s -s range1m.lua http://HOST:PORT
--
-- Environment: RANGE_PATH (default /big.bin), RANGE_COUNT, the number of
-- 1 MiB ranges in the object (default 256, a 256 MiB object), and
-- RANGE_OFFSET, bytes added to every start (default 0; a non-zero offset
-- takes every range off the page boundaries).
--
-- At the end it prints one line the scripts read:
--   RESULT req_s=… mib_s=… p50_ms=… p99_ms=… max_ms=… requests=… bytes=… errors=…

local MiB = 1048576
local path = os.getenv("RANGE_PATH") or "/big.bin"
local count = tonumber(os.getenv("RANGE_COUNT") or "256")
local offset = tonumber(os.getenv("RANGE_OFFSET") or "0")
-- With an offset the last range would run past the end of the object.
local last = count - 1
if offset > 0 then last = count - 2 end

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

-- Each thread draws its own sequence, so that two threads do not ask for
-- the same ranges in the same order.
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

function request()
  local first = math.random(0, last) * MiB + offset
  return wrk.format("GET", path, { ["Range"] = "bytes=" .. first .. "-" .. (first + MiB - 1) })
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
