-- enqueue: stores jobs of one lane, ready now or scheduled, and wakes a blocked worker.
-- KEYS: the lane key set (lib.lua), then the script's own, then last the queue's revoked set
-- (ZSET id -> ms: chosen ids of jobs deleted while their run could still go on, delete.lua).
-- ARGV[1]: job name  ARGV[2]: number of jobs n, or 'n@first' when the client took the
-- sequence numbers first..first+n-1 itself (INCRBY seq, to store big payloads in the body
-- hash under their ids beside this call, src/bodies.rs)  ARGV[3]: values per job, 4 or 1, then
-- per job
--   4: chosen id ('' to number it), priority, delay ms, envelope
--   1: envelope (numbered, priority 0, no delay: the usual bulk dispatch, half the arguments)
-- Returns: {first, k, ...}: job i (from 0) without a chosen id got id first + i; each k is the
-- position (from 1) of a job whose chosen id already existed in the queue, so it was not stored.
-- Job i's dispatch sequence is first + i; a job with a chosen id keeps it in the order hash.
-- A chosen id in the revoked set waits (scheduled) until its deleted run's lease would have
-- ended, so its two runs never overlap (its delay argument is rewritten to say so); the set is
-- read only when it exists.
-- Everything is read and computed first; the writes come last (records, then indexes).
local n, given = string.match(ARGV[2], '^(%d+)@?(%d*)$')
n = tonumber(n)
local first
if given ~= '' then
  -- The client wrote these jobs' large payloads into body in the same MULTI, just before, so
  -- body is a hash now unless a key of another type refused that write: then nothing is
  -- stored here either.
  if redis.call('TYPE', q.body).ok ~= 'hash' then
    return redis.error_reply('the body hash ' .. q.body .. ' holds another type')
  end
  first = tonumber(given)
  -- After a failover that lost the client's INCRBY, no later job may get one of these ids.
  local last = first + n - 1
  if tonumber(redis.call('GET', q.seq) or '0') < last then redis.call('SET', q.seq, fmt(last)) end
else
  first = redis.call('INCRBY', q.seq, n) - n + 1
end
local out, seen = { first }, {}
local data_args, later_args, order_args, ready_ids, sched_args, prio_args = {}, {}, {}, {}, {}, {}
-- The lengths of data_args and ready_ids, counted (Lua's # searches the table each time).
local nd, nr = 0, 0
local now, earliest = nil, nil
local before = false -- the lane's earliest event before this call, read once when needed
local stride = tonumber(ARGV[3])
local revoked_key, revoked, unrevoked = KEYS[#KEYS], nil, {}
-- When the run of a deleted job with chosen id `id` could go on until, if later than now.
local function held_until(id)
  if revoked == nil then revoked = redis.call('EXISTS', revoked_key) == 1 end
  if not revoked then return nil end
  local until_ms = redis.call('ZSCORE', revoked_key, id)
  if not until_ms then return nil end
  now = now or now_ms()
  until_ms = tonumber(until_ms)
  -- Kept until it passes: the job stored now may be removed before it runs, and a later
  -- dispatch of the id must still wait.
  if until_ms > now then return until_ms end
  unrevoked[#unrevoked + 1] = id
  return nil
end
for i = 0, n - 1 do
  local b = 4 + i * stride
  local id, pri, delay, env = '', '0', '0', ARGV[b + stride - 1]
  if stride == 4 then id, pri, delay = ARGV[b], ARGV[b + 1], ARGV[b + 2] end
  local fresh = true
  if id == '' then
    id = fmt(first + i) -- numbered ids are new by construction
  elseif seen[id] or redis.call('HEXISTS', q.data, id) == 1
      or redis.call('HEXISTS', q.later, id) == 1 then
    fresh = false
  else
    seen[id] = true
    order_args[#order_args + 1] = id
    order_args[#order_args + 1] = fmt(first + i)
    local hold = held_until(id)
    if hold and hold - now > tonumber(delay) then
      delay = fmt(hold - now)
      -- Written back, so a script that runs this body first (keyed_enqueue.lua) sees the job
      -- as the delayed one it now is.
      ARGV[b + 2] = delay
    end
  end
  if fresh then
    if delay ~= '0' then
      later_args[#later_args + 1] = id
      later_args[#later_args + 1] = env
      now = now or now_ms()
      local due = now + tonumber(delay)
      if before == false then before = next_event() end
      if earliest == nil or due < earliest then earliest = due end
      -- Scores as text: Redis formats a Lua number with printf's %.17g, per element.
      sched_args[#sched_args + 1] = fmt(due)
      sched_args[#sched_args + 1] = id
    else
      data_args[nd + 1], data_args[nd + 2] = id, env
      nd = nd + 2
      if pri == '0' then
        nr = nr + 1
        ready_ids[nr] = id
      else
        prio_args[#prio_args + 1] = fmt(prio_score(tonumber(pri), first + i))
        prio_args[#prio_args + 1] = id
      end
    end
  else
    out[#out + 1] = i + 1
  end
end
call_many('ZREM', revoked_key, unrevoked)
if nd + #later_args == 0 then return out end
call_many('HSET', q.data, data_args)
call_many('HSET', q.later, later_args)
call_many('HSET', q.order, order_args)
redis.call('SADD', q.lanes, ARGV[1])
call_many('ZADD', l.sched, sched_args)
call_many('ZADD', l.prio, prio_args)
call_many('RPUSH', l.ready, ready_ids)
if nr > 0 or #prio_args > 0 then
  wake(l.wake)
elseif earliest ~= nil and (before == nil or earliest < before) then
  -- A blocked worker sleeps until the lane's previous earliest event: let it look again.
  wake(l.wake)
end
return out
