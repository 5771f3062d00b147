-- enqueue_unique: stores one unique job of a lane, unless the job holding its key's lock still
-- exists in a state the dispatch's mode covers. Runs after enqueue.lua's body, which this
-- script holds as the function plain_enqueue (scripts/mod.rs), so a unique job is stored
-- exactly as any other. Locks are checked here only: reserve, ack and the other steps never
-- look at them, and a lock whose holder is gone or past what the mode covers is free.
-- KEYS: the lane key set (lib.lua), then 20 the lock ({p:q}:unique:...), 21 donetime
-- (kept completed jobs), 22 the queue's revoked set (enqueue.lua).
-- ARGV[1..7]: as enqueue.lua for one job with 4 values: job name, 1, 4, chosen id or '',
-- priority, delay ms, envelope.  ARGV[8]: mode: 's' until started, 'f' until finished,
-- 'd' debounce.  ARGV[9]: the lock's time in ms.
-- Returns: {0, holder id} when the lock is held: nothing stored (in debounce mode the holder
-- took the new payload, and the new delay from now when one was given, and the lock's time
-- started again); otherwise enqueue.lua's reply, and the lock names the stored job.
-- In 'f' mode, a holder deleted or cancelled while it ran does not cover the dispatch, but its
-- run may go on until its lease would have ended (the revoked set, or the cancelled job's
-- ready time): the new job is stored due then at the soonest, so the two runs never overlap,
-- and goes to the revoked set with that time itself (as '#' and its id), so a job after it
-- waits as long.
local lock, mode, ttl = KEYS[20], ARGV[8], ARGV[9]
local holder = redis.call('GET', lock)
-- When a revoked run of the holder may go on until ('f' mode), if later than now.
local hold = nil
if holder then
  local env = redis.call('HGET', q.later, holder)
  local scheduled = env ~= false
  if not scheduled then env = redis.call('HGET', q.data, holder) end
  local j = parse_env(env)
  if mode == 'f' then
    if j then
      if j.failed ~= '0' and j.name == ARGV[1] then hold = tonumber(j.ready) end
    elseif not env and redis.call('EXISTS', KEYS[22]) == 1 then
      -- Deleted or purged while it ran (its id), or itself held back by such a run ('#' and
      -- its id, below: '#' is in no job id, so a dispatch of that id is not held by it).
      local own = tonumber(redis.call('ZSCORE', KEYS[22], holder))
      local passed = tonumber(redis.call('ZSCORE', KEYS[22], '#' .. holder))
      hold = own
      if passed and (not hold or passed > hold) then hold = passed end
    end
    if hold then
      local wait = hold - now_ms()
      if wait <= 0 then
        hold = nil
      elseif wait > tonumber(ARGV[6]) then
        ARGV[6] = fmt(wait)
      end
    end
  end
  local covered = false
  if j and j.failed == '0' and j.name == ARGV[1]
      and (scheduled or redis.call('HEXISTS', KEYS[21], holder) == 0) then
    if mode == 'f' then
      covered = true
    else
      -- Not started: never ran to an end (att) and not running now.
      covered = j.att == 0 and (scheduled or not redis.call('ZSCORE', l.active, holder))
    end
  end
  if covered then
    if mode == 'd' then
      j.body = parse_env(ARGV[7]).body
      local delay = tonumber(ARGV[6])
      if delay > 0 then
        local due = now_ms() + delay
        if not scheduled then
          -- Ready: out of its ready index and into the schedule.
          if j.pri == 0 then
            redis.call('LREM', l.ready, 1, holder)
          else
            redis.call('ZREM', l.prio, holder)
          end
          redis.call('HDEL', q.data, holder)
        end
        redis.call('ZREM', l.sched, holder)
        local before = next_event()
        j.ready = fmt(due)
        redis.call('ZADD', l.sched, due, holder)
        redis.call('HSET', q.later, holder, pack_env(j))
        if before == nil or due < before then wake(l.wake) end
      elseif scheduled then
        redis.call('HSET', q.later, holder, pack_env(j))
      else
        redis.call('HSET', q.data, holder, pack_env(j))
      end
      redis.call('SET', lock, holder, 'PX', ttl)
    end
    return { 0, holder }
  end
end
local out = plain_enqueue()
if #out == 1 then
  local id = ARGV[4]
  if id == '' then id = fmt(out[1]) end
  redis.call('SET', lock, id, 'PX', ttl)
  if hold then
    -- The new job passes the hold on: deleted, cancelled or purged before it runs, the next
    -- job with the key still waits for the revoked run.
    redis.call('ZADD', KEYS[22], hold, '#' .. id)
    hold_revoked(KEYS[22], now_ms(), hold)
  end
end
return out
