-- delete: removes one job, whatever its state. An active job's lease becomes stale; its run
-- may go on until its worker's next renewal, at the latest until the lease would have ended,
-- so a job with its id dispatched before then waits until then (enqueue.lua): the id goes to
-- the revoked set with that time. So does the id of a job cancelled while it ran whose lease
-- would not have ended yet (its ready time, cancel.lua).
-- KEYS: the lane key set (lib.lua) of the job's lane, then 20 done (LIST), 21 results,
-- 22 resexp, 23 donetime, 24 donepushed, 25 revoked (ZSET id -> ms).
-- ARGV[1]: id  ARGV[2]: job name the caller read from the record
-- Returns: 1 deleted, 0 no such job, -1 the record names another lane (read it again).
local id = ARGV[1]
local raw = redis.call('HGET', q.data, id) or redis.call('HGET', q.later, id)
if not raw then return 0 end
local j = parse_env(raw)
if j and j.name ~= ARGV[2] then return -1 end
if not j or j.failed ~= '0' then
  redis.call('LREM', q.failed, 1, id)
end
local now = now_ms()
local revoked_until = nil
if j and j.failed ~= '0' and tonumber(j.ready) > now then revoked_until = tonumber(j.ready) end
local completed = redis.call('HDEL', KEYS[23], id) == 1
if completed then
  -- Its place in done becomes '' rather than going, so the positions of the jobs kept with it
  -- (pages' cursors) stay; trimming and cleaning drop it. Finding it reads the list: deleting
  -- one job is an operator's step, not the hot path.
  -- From the tail, where the newest are.
  local at = redis.call('LPOS', KEYS[20], id, 'RANK', '-1')
  if at then redis.call('LSET', KEYS[20], at, '') end
end
redis.call('HDEL', KEYS[21], id)
redis.call('ZREM', KEYS[22], id)
if j and j.failed == '0' and not completed then
  local tok = redis.call('ZSCORE', l.active, id)
  if tok then
    local until_ms = tonumber(redis.call('ZSCORE', l.leases, tok))
    if until_ms and until_ms > now then revoked_until = until_ms end
    release({ id }, { tok })
  elseif redis.call('ZREM', l.sched, id) == 0 and redis.call('ZREM', l.prio, id) == 0 then
    redis.call('LREM', l.ready, 1, id)
  end
end
forget({ id })
-- Ids whose runs are over leave the revoked set here, a few at a time.
redis.call('ZREMRANGEBYSCORE', KEYS[25], '-inf', now)
if revoked_until then
  redis.call('ZADD', KEYS[25], revoked_until, id)
  hold_revoked(KEYS[25], now, revoked_until)
end
if j then tidy_lane(ARGV[2]) end
return 1
