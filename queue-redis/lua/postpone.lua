-- postpone: a handler said "rate limited, retry after d": the job goes back, due after d,
-- without spending its attempt, and the lane's limited reserves pause for d.
-- KEYS: the lane key set (lib.lua), then 20: the lane's pause end (string, ms).
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: delay ms (at most queue_core::MAX_DELAY)
-- Returns: 1 when the token was current, else 0 (nothing changed).
write_at_maxmemory()
local ids, held, toks = check_leases(1, 2)
if not held[1] then return 0 end
local id = ids[1]
local now = now_ms()
local raw = redis.call('HGET', q.data, id)
local delay = tonumber(ARGV[3])
local due = now + delay
-- The run was not an attempt (the envelope counts ended runs): only the job's ready time and
-- the run's start are written; a record that is not an envelope is moved as it is.
local before = next_event(toks[1])
local pause = tonumber(redis.call('GET', KEYS[20]) or '0')
if raw then
  local j = parse_env(raw)
  if j then
    j.ready = fmt(due)
    ran(j, token_ms(toks[1]))
    raw = pack_env(j)
  end
  redis.call('ZADD', l.sched, due, id)
  redis.call('HSET', q.later, id, raw)
  redis.call('HDEL', q.data, id)
end
release(ids, toks)
if due > pause and delay > 0 then redis.call('SET', KEYS[20], due, 'PX', delay) end
if before == nil or due < before then wake(l.wake) end
return 1
