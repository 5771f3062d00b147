-- cancel: cancels one job. A waiting job (ready or scheduled) is removed; a running job's lease
-- ends (its worker's renewals, acks and failures are refused) and it goes to the failed list
-- with the error 'cancelled', marked in the cancelled set with its failure time, its ready
-- time set to when the lease would have ended.
-- KEYS: the lane key set (lib.lua) of the job's lane, then 20 donetime (kept completed jobs),
-- 21 cancelled (ZSET id -> the failure time of a job cancelled while it ran).
-- ARGV[1]: id  ARGV[2]: job name the caller read from the record  ARGV[3]: failed list cap
-- Returns: 1 removed, 2 already ended (failed, completed or cancelled), 3 stopped,
-- 0 no such job, -1 the record names another lane (read it again).
local id, name = ARGV[1], ARGV[2]
local raw = redis.call('HGET', q.data, id) or redis.call('HGET', q.later, id)
if not raw then return 0 end
local j = parse_env(raw)
if j and j.name ~= name then return -1 end
if not j or j.failed ~= '0' or redis.call('HEXISTS', KEYS[20], id) == 1 then return 2 end
local tok = redis.call('ZSCORE', l.active, id)
if not tok then
  if redis.call('ZREM', l.sched, id) == 0 and redis.call('ZREM', l.prio, id) == 0 then
    redis.call('LREM', l.ready, 1, id)
  end
  forget({ id })
  tidy_lane(name)
  return 1
end
local now = now_ms()
-- Marks of jobs no longer failed at their mark's time (retried, deleted, trimmed) are
-- forgotten a few at a time, oldest first, so the set stays about as long as the failed list.
local old = redis.call('ZRANGE', KEYS[21], 0, 9, 'WITHSCORES')
local stale = {}
for i = 1, #old, 2 do
  local e = parse_env(redis.call('HGET', q.data, old[i]))
  if not e or tonumber(e.failed) ~= tonumber(old[i + 1]) then stale[#stale + 1] = old[i] end
end
j.att = j.att + 1
-- The run goes on until its worker's next renewal, at the latest until its lease would have
-- ended: a retry of the job makes it due then (retry_failed.lua), not ready at once.
local until_ms = tonumber(redis.call('ZSCORE', l.leases, tok))
if until_ms then j.ready = fmt(until_ms) end
to_failed(id, j, j.att, 'cancelled', now, tonumber(ARGV[3]), token_ms(tok))
release({ id }, { tok })
call_many('ZREM', KEYS[21], stale)
redis.call('ZADD', KEYS[21], now, id)
tidy_lane(name)
return 3
