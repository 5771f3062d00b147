-- reserve: reaps expired leases, promotes due scheduled jobs, then leases up to n ready jobs.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: n  ARGV[2]: lease ms  ARGV[3]: failed list cap  ARGV[4]: job name
-- Returns: {next due ms or -1, token, id, attempt, max attempts, payload, id, ...}; the first
-- value is the delay until the lane's next due time or lease deadline when fewer than n jobs
-- were leased (-1 when there is none, or n jobs were leased).
local n = tonumber(ARGV[1])
local cap = tonumber(ARGV[3])
local now = now_ms()
reap(q, l, now, cap)

-- Promote due scheduled jobs.
local due = redis.call('ZRANGEBYSCORE', l.sched, '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  redis.call('ZREM', l.sched, unpack(due))
  local metas = redis.call('HMGET', q.meta, unpack(due))
  local plain = {}
  for i, id in ipairs(due) do
    local j = parse_meta(metas[i])
    if j and j.pri ~= 0 then
      redis.call('ZADD', l.prio, prio_score(j.pri, tonumber(redis.call('INCR', q.seq))), id)
    else
      plain[#plain + 1] = id
    end
  end
  if #plain > 0 then redis.call('RPUSH', l.ready, unpack(plain)) end
end

local function next_due()
  local at = next_event(l.sched, l.active)
  if at == nil then return -1 end
  return math.max(0, at - now)
end

if redis.call('EXISTS', q.paused) == 1 then
  return { next_due(), 0 }
end

-- Pop: positive priorities, then priority 0 (FIFO), then negative priorities.
local ids = {}
local has_prio = redis.call('ZCARD', l.prio) > 0
local function take_prio(min, max, want)
  local got = redis.call('ZRANGEBYSCORE', l.prio, min, max, 'LIMIT', 0, want)
  if #got > 0 then
    redis.call('ZREM', l.prio, unpack(got))
    for _, id in ipairs(got) do ids[#ids + 1] = id end
  end
end
if has_prio then take_prio('-inf', '(0', n) end
if #ids < n then
  local got = redis.call('LPOP', l.ready, n - #ids)
  if got then
    for _, id in ipairs(got) do ids[#ids + 1] = id end
  end
end
if #ids < n and has_prio then take_prio(0, '+inf', n - #ids) end
if #ids == 0 then
  return { next_due(), 0 }
end

local tok = redis.call('INCR', q.tok)
local deadline = now + tonumber(ARGV[2])
local metas = redis.call('HMGET', q.meta, unpack(ids))
local datas = redis.call('HMGET', q.data, unpack(ids))
local out = { -1, tok }
local meta_args, active_args, seen = {}, {}, {}
for i, id in ipairs(ids) do
  local j = parse_meta(metas[i])
  if seen[id] or (j and (j.tok ~= '0' or j.failed ~= '0')) then
    -- A duplicate id in the ready list, or of a job that is active or failed: drop the entry.
  elseif j and datas[i] and j.name == ARGV[4] then
    seen[id] = true
    j.att = j.att + 1
    j.tok = tok
    meta_args[#meta_args + 1] = id
    meta_args[#meta_args + 1] = pack_meta(j)
    active_args[#active_args + 1] = deadline
    active_args[#active_args + 1] = id
    out[#out + 1] = id
    out[#out + 1] = j.att
    out[#out + 1] = j.max
    out[#out + 1] = datas[i]
  else
    -- A record another program wrote or damaged: keep it, failed, with the reason.
    local why
    if metas[i] == false then
      why = 'no job record for id `' .. id .. '` found in lane `' .. ARGV[4] .. '`'
    elseif j == nil then
      why = 'malformed job record for id `' .. id .. '`: ' .. string.sub(metas[i], 1, 200)
    elseif not datas[i] then
      why = 'job `' .. id .. '` has no payload'
    else
      why = 'job `' .. id .. '` is named `' .. j.name .. '` but was found in lane `' .. ARGV[4] .. '`'
    end
    j = j or { att = 0, max = 1, tok = '0', pri = 0, created = fmt(now), failed = '0', name = ARGV[4] }
    if not datas[i] then redis.call('HSET', q.data, id, '') end
    to_failed(q, id, j, 'malformed job: ' .. why, now, cap)
  end
end
if #meta_args > 0 then
  -- An idle worker sleeps until the lane's earliest event; a lease ending sooner must wake it,
  -- so it can reap the job if this worker dies.
  local before = next_event(l.sched, l.active)
  redis.call('HSET', q.meta, unpack(meta_args))
  redis.call('ZADD', l.active, unpack(active_args))
  if before == nil or deadline < before then wake(l.wake) end
end
local leased = (#out - 2) / 4
if leased == n then
  if redis.call('LLEN', l.ready) > 0 or redis.call('ZCARD', l.prio) > 0 then
    wake(l.wake)
  end
else
  out[1] = next_due()
end
return out
