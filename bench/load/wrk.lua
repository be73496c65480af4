-- wrk script for the tlsotel load bench (bench/load/bench.ts).
--   BENCH_RATE=N   pace requests to N per second in total (per thread: N / threads); unset or 0:
--                  as fast as the connections allow (closed loop, keep-alive).
-- At the end prints one line "BENCH_JSON {...}" with the counts and latency percentiles (µs).
--
-- Pacing: every request claims the next slot of a fixed schedule (start + k * interval) and
-- waits until it (wrk's delay(), in whole milliseconds). A connection that is behind sends at
-- once; the schedule never speeds up, so the long-run rate is the target unless the server
-- (or the tracer) cannot keep up — which then shows as a lower rate.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
  int clock_gettime(int clk, bench_timespec_t *tp);
]]
local ts = ffi.new("bench_timespec_t")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0

function setup(thread)
  table.insert(threads, thread)
end

local interval_ms = 0
local next_slot = nil

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
  if rate > 0 then interval_ms = 1000 * nthreads / rate end
end

if rate > 0 then
  function delay()
    local t = now_ms()
    if next_slot == nil then next_slot = t end
    local slot = next_slot
    next_slot = next_slot + interval_ms
    local d = slot - t
    if d < 1 then return 0 end
    return math.floor(d)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"lat_p50_us":%d,"lat_p99_us":%d,"lat_mean_us":%.1f,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
