-- fail: ends a failed run: schedules a retry, or moves the job to the failed list.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: error message  ARGV[4]: retry delay ms, or -1 to fail
-- for good  ARGV[5]: failed list cap  ARGV[6]: job name
-- Returns: 1 when the token was current, else 0 (nothing changed).
-- The retry delay is at most queue_core::MAX_DELAY (the client caps it), so due times stay
-- exact integers in a score.
write_at_maxmemory()
local ids, held, toks = check_leases(1, 2)
if not held[1] then return 0 end
local id = ids[1]
local now = now_ms()
local raw = redis.call('HGET', q.data, id)
local j = parse_env(raw)
local started = token_ms(toks[1])
local delay = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
-- The job stays leased until the end: stopped on the way (a damaged key), it is reaped later.
if not j then
  -- The client could not read the record either: keep it whole in the failed list.
  local bad = wrap_bad(raw or nil, ARGV[6], now)
  to_failed(id, bad, bad.att, ARGV[3], now, cap, started)
  release(ids, toks)
  return 1
end
j.att = j.att + 1
if delay < 0 then
  to_failed(id, j, j.att, ARGV[3], now, cap, started)
  release(ids, toks)
  tidy_lane(ARGV[6])
  return 1
end
-- Scheduled again: the envelope waits in `later` (lib.lua). A blocked worker sleeps until the
-- lane's earliest event other than this job's lease; a sooner due time must wake it.
local before = next_event(toks[1])
redis.call('HLEN', q.err)
redis.call('HLEN', q.errs)
local due = now + delay
redis.call('ZADD', l.sched, due, id)
j.ready = fmt(due)
ran(j, started)
redis.call('HSET', q.later, id, pack_env(j))
add_error(id, j.att, now, ARGV[3], started)
redis.call('HDEL', q.data, id)
release(ids, toks)
if before == nil or due < before then wake(l.wake) end
return 1
