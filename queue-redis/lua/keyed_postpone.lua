-- keyed_postpone: a keyed handler said "rate limited, retry after d": the job goes back, due
-- after d, without spending its attempt (as postpone.lua), and its key (not the lane) pauses
-- for d: set aside in kpark until then.
-- KEYS: the lane key set (lib.lua), then keyed.lua's 20..25.
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: delay ms (at most queue_core::MAX_DELAY)
-- Returns: 1 when the token was current, else 0 (nothing changed).
write_at_maxmemory()
local ids, held, toks = check_leases(1, 2)
if not held[1] then return 0 end
local id = ids[1]
local now = now_ms()
local raw = redis.call('HGET', q.data, id)
local due = now + tonumber(ARGV[3])
local before = next_event(toks[1])
local key = redis.call('HGET', k.of, id)
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
if key then
  local pause = tonumber(redis.call('HGET', k.state, 'p:' .. key) or '0')
  if due > pause then redis.call('HSET', k.state, 'p:' .. key, fmt(due)) end
  if redis.call('ZREM', k.ring, key) == 1 or redis.call('ZSCORE', k.park, key) then
    local at = tonumber(redis.call('ZSCORE', k.park, key) or '0')
    if due > at then redis.call('ZADD', k.park, due, key) end
  end
end
if before == nil or due < before then wake(l.wake) end
return 1
