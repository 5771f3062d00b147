-- enqueue: stores jobs of one lane, ready now or scheduled, and wakes a blocked worker.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: job name  ARGV[2]: number of jobs n, then 5 values per job:
--   chosen id ('' to number it), priority, max attempts, delay ms, payload
-- Returns: {id, created (1 or 0), id, created, ...} in argument order; a chosen id that already
-- exists in the queue is not stored again (created 0).
local name = ARGV[1]
local n = tonumber(ARGV[2])
local now = now_ms()
local created = fmt(now)
local first = redis.call('INCRBY', q.seq, n) - n + 1
local out, seen = {}, {}
local data_args, meta_args, ready_ids = {}, {}, {}
local stored, to_prio, earliest = 0, false, nil
local before = false -- the lane's earliest event before this call, read once when needed
for i = 0, n - 1 do
  local b = 3 + i * 5
  local id = ARGV[b]
  local pri = tonumber(ARGV[b + 1])
  local delay = tonumber(ARGV[b + 3])
  local seq = first + i
  local fresh = true
  if id == '' then
    id = fmt(seq)
  elseif seen[id] or redis.call('HEXISTS', q.meta, id) == 1 then
    fresh = false
  end
  out[#out + 1] = id
  if fresh then
    seen[id] = true
    stored = stored + 1
    out[#out + 1] = 1
    data_args[#data_args + 1] = id
    data_args[#data_args + 1] = ARGV[b + 4]
    meta_args[#meta_args + 1] = id
    meta_args[#meta_args + 1] = '0|' .. ARGV[b + 2] .. '|0|' .. pri .. '|' .. created .. '|0|' .. name
    if delay > 0 then
      local due = now + delay
      if before == false then before = next_event(l.sched, l.active) end
      if earliest == nil or due < earliest then earliest = due end
      redis.call('ZADD', l.sched, due, id)
    elseif pri == 0 then
      ready_ids[#ready_ids + 1] = id
    else
      redis.call('ZADD', l.prio, prio_score(pri, seq), id)
      to_prio = true
    end
  else
    out[#out + 1] = 0
  end
end
if stored == 0 then return out end
redis.call('HSET', q.data, unpack(data_args))
redis.call('HSET', q.meta, unpack(meta_args))
redis.call('SADD', q.lanes, name)
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
