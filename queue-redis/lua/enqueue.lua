-- enqueue: stores jobs of one lane, ready now or scheduled, and wakes a blocked worker.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: job name  ARGV[2]: number of jobs n, then 4 values per job:
--   chosen id ('' to number it), priority, delay ms, envelope
-- Returns: {first, k, ...}: job i (from 0) without a chosen id got id first + i; each k is the
-- position (from 1) of a job whose chosen id already existed in the queue, so it was not stored.
local n = tonumber(ARGV[2])
local first = redis.call('INCRBY', q.seq, n) - n + 1
local out, seen = { first }, {}
local data_args, ready_ids = {}, {}
local to_prio, now, earliest = false, nil, nil
local before = false -- the lane's earliest event before this call, read once when needed
for i = 0, n - 1 do
  local b = 3 + i * 4
  local id = ARGV[b]
  local fresh = true
  if id == '' then
    id = fmt(first + i)
  elseif seen[id] or redis.call('HEXISTS', q.data, id) == 1 then
    fresh = false
  end
  if fresh then
    seen[id] = true
    data_args[#data_args + 1] = id
    data_args[#data_args + 1] = ARGV[b + 3]
    local pri, delay = ARGV[b + 1], ARGV[b + 2]
    if delay ~= '0' then
      now = now or now_ms()
      local due = now + tonumber(delay)
      if before == false then before = next_event() end
      if earliest == nil or due < earliest then earliest = due end
      redis.call('ZADD', l.sched, due, id)
    elseif pri == '0' then
      ready_ids[#ready_ids + 1] = id
    else
      redis.call('ZADD', l.prio, prio_score(tonumber(pri), first + i), id)
      to_prio = true
    end
  else
    out[#out + 1] = i + 1
  end
end
if #data_args == 0 then return out end
redis.call('HSET', q.data, unpack(data_args))
redis.call('SADD', q.lanes, ARGV[1])
if #ready_ids > 0 then
  redis.call('RPUSH', l.ready, unpack(ready_ids))
end
if #ready_ids > 0 or to_prio then
  wake(l.wake)
elseif earliest ~= nil and (before == nil or earliest < before) then
  -- A blocked worker sleeps until the lane's previous earliest event: let it look again.
  wake(l.wake)
end
return out
