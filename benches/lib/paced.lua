-- wrk at a fixed request rate: `wrk ... -s paced.lua URL -- RATE THREADS`.
--
-- wrk calls delay() before each request of each connection and waits that many ms (its
-- timers have 1 ms resolution). Each thread owns RATE/THREADS requests a second: every
-- request takes the next slot of the thread's absolute schedule, so rounding and late
-- answers never make the rate drift. A thread behind its schedule sends at once (delay 0)
-- on every free connection: the achieved rate then falls short of RATE, which is how a
-- server that cannot keep up shows (wrk's latency starts when a request is written, so it
-- does not count the time a request waited for its slot: coordinated omission).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clk_id, paced_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("paced_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval_ms -- between two slots of this thread
local next_slot

function init(args)
  local rate, threads = tonumber(args[1]), tonumber(args[2])
  if not rate or rate <= 0 or not threads or threads <= 0 then
    error("paced.lua: usage: wrk ... -s paced.lua URL -- RATE THREADS")
  end
  interval_ms = 1000 * threads / rate
end

function delay()
  local now = now_ms()
  if not next_slot then next_slot = now end
  next_slot = next_slot + interval_ms
  local d = next_slot - now
  if d <= 0 then return 0 end
  return math.floor(d + 0.5)
end
