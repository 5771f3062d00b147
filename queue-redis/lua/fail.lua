-- fail: ends a failed run: schedules a retry, or moves the job to the failed list.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: error message  ARGV[4]: retry delay ms, or -1 to fail
-- for good  ARGV[5]: failed list cap
-- Returns: 1 when the token was current, else 0 (nothing changed).
local ids, jobs, held = check_leases(1, 2)
if not held[1] then return 0 end
local id, j = ids[1], jobs[1]
redis.call('ZREM', l.active, id)
local now = now_ms()
local delay = tonumber(ARGV[4])
if delay < 0 then
  to_failed(q, id, j, ARGV[3], now, tonumber(ARGV[5]))
  return 1
end
j.tok = '0'
redis.call('HSET', q.meta, id, pack_meta(j))
redis.call('HSET', q.err, id, ARGV[3])
local due = now + delay
local before = next_event(l.sched, l.active)
redis.call('ZADD', l.sched, due, id)
if before == nil or due < before then wake(l.wake) end
return 1
