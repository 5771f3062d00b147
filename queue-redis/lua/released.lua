-- released: after jobs of a lane with a concurrency limit were settled, wakes one blocked
-- worker when ready jobs wait and a slot is free.
-- KEYS: the lane key set (lib.lua).  ARGV[1]: the concurrency (0: none)
-- Returns: 1 when a worker was woken (or a wake-up was pending), else 0.
local conc = tonumber(ARGV[1])
if redis.call('EXISTS', q.paused) == 1 then return 0 end
if conc > 0 and redis.call('ZCOUNT', l.active, 1, '+inf') >= conc then return 0 end
if redis.call('LLEN', l.ready) == 0 and redis.call('ZCARD', l.prio) == 0 then return 0 end
wake(l.wake)
return 1
