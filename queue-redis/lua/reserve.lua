-- reserve: acks finished jobs, reaps expired leases, promotes due scheduled jobs, then leases
-- up to n ready jobs. Acking here saves a worker a round trip per batch.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: n  ARGV[2]: lease ms  ARGV[3]: failed list cap  ARGV[4]: job name  ARGV[5]: lost
-- leases that make a job poison, then the (id, token) pairs of finished jobs to ack first (see
-- ack.lua)
-- Returns: {next due ms or -1, token, ack flags, poisoned, id, envelope, id, envelope, ...};
-- the first value is the delay until the lane's next due time or lease deadline when fewer than
-- n jobs were leased (-1 when there is none, or n jobs were leased); the ack flags are as
-- ack.lua's; poisoned lists the (id, attempt) pairs of the jobs reaping failed as poison.
-- The client reads each envelope; one it cannot read, or that names another job, it fails with
-- that token (record.rs).
-- Each step (ack, reap, promote, lease) reads before it writes; see lib.lua.
local n = tonumber(ARGV[1])
local cap = tonumber(ARGV[3])
local max_lost = tonumber(ARGV[5])
local acked = ack(6, #ARGV)
local now = now_ms()
local _, poisoned = reap(now, cap, ARGV[4], max_lost)
poisoned = poisoned or {}

-- Promote due scheduled jobs, by due time and then dispatch sequence.
local due = redis.call('ZRANGEBYSCORE', l.sched, '-inf', fmt(now), 'WITHSCORES', 'LIMIT', '0', '1000')
if #due == 2000 then
  -- A full batch may cut a group of equal due times (cut in text order): take the whole group.
  local last = due[#due]
  while #due > 0 and due[#due] == last do
    due[#due] = nil
    due[#due] = nil
  end
  local group = redis.call('ZRANGEBYSCORE', l.sched, last, last, 'WITHSCORES')
  for _, v in ipairs(group) do due[#due + 1] = v end
end
if #due > 0 then
  local ids, scores, ties = {}, {}, false
  for i = 1, #due, 2 do
    ids[#ids + 1] = due[i]
    if due[i + 1] == scores[#scores] then ties = true end
    scores[#scores + 1] = due[i + 1]
  end
  -- Equal scores come in text order ('10' before '9'): only then is the batch sorted.
  if ties then
    for i = 1, #scores do scores[i] = tonumber(scores[i]) end
    ids = by_sequence(ids, scores)
  end
  local envs = call_many('HMGET', q.later, ids)
  local plain, moved, ranked = {}, {}, {}
  for i, id in ipairs(ids) do
    if envs[i] then
      moved[#moved + 1] = id
      moved[#moved + 1] = envs[i]
    end
    local j = parse_env(envs[i])
    if j and j.pri ~= 0 then
      ranked[#ranked + 1] = j.pri
      ranked[#ranked + 1] = id
    else
      plain[#plain + 1] = id
    end
  end
  local scored = back_of_priority(ranked)
  call_many('HSET', q.data, moved)
  call_many('ZADD', l.prio, scored)
  call_many('RPUSH', l.ready, plain)
  call_many('HDEL', q.later, ids)
  call_many('ZREM', l.sched, ids)
end

local function next_due()
  local at = next_event()
  if at == nil then return -1 end
  return math.max(0, at - now)
end

if redis.call('EXISTS', q.paused) == 1 then
  return { next_due(), 0, acked, poisoned }
end
-- @limits:take (a comment here; the limited reserve puts its check in its place, see limits.lua)

-- Pop: positive priorities, then priority 0 (FIFO), then negative priorities.
local ids = {}
local has_prio = redis.call('ZCARD', l.prio) > 0
local function take_prio(min, max, want)
  local got = redis.call('ZRANGEBYSCORE', l.prio, min, max, 'LIMIT', '0', fmt(want))
  if #got > 0 then
    call_many('ZREM', l.prio, got)
    for _, id in ipairs(got) do ids[#ids + 1] = id end
  end
end
if has_prio then take_prio('-inf', '(0', n) end
if #ids < n then
  local got = redis.call('LPOP', l.ready, fmt(n - #ids))
  if got then
    if #ids == 0 then ids = got else for _, id in ipairs(got) do ids[#ids + 1] = id end end
  end
end
if #ids < n and has_prio then take_prio('0', '+inf', n - #ids) end
if #ids == 0 then
  tidy_lane(ARGV[4])
  return { next_due(), 0, acked, poisoned }
end

local tok = new_token(now)
local tok_text = fmt(tok) -- formatted once, not once per job by Redis
local deadline = now + tonumber(ARGV[2])
local envs = call_many('HMGET', q.data, ids)
local out = { -1, tok, acked, poisoned }
local active_args, seen, bad = {}, {}, {}
-- Lengths of active_args and out, counted (Lua's # searches the table each time).
local na, no = 0, 4
for i, id in ipairs(ids) do
  local env = envs[i]
  -- 48 is '0': a live job (not failed). A failed job's id found in a list again is dropped.
  if env and string.byte(env, 1) == 48 and not seen[id] then
    seen[id] = true
    active_args[na + 1], active_args[na + 2] = tok_text, id
    out[no + 1], out[no + 2] = id, env
    na, no = na + 2, no + 2
  elseif not env then
    bad[#bad + 1] = { id, wrap_bad(nil, ARGV[4], now),
      'malformed job: no job record for id `' .. id .. '` found in lane `' .. ARGV[4] .. '`' }
  elseif not seen[id] and not parse_env(env) then
    bad[#bad + 1] = { id, wrap_bad(env, ARGV[4], now),
      'malformed job: unreadable job record for id `' .. id .. '`' }
  end
end
if na > 0 then
  -- An idle worker sleeps until the lane's earliest event; a lease ending sooner must wake it,
  -- so it can reap the jobs if this worker dies.
  local before = next_event()
  if before == nil or deadline < before then wake(l.wake) end
  active_args[na + 1], active_args[na + 2] = '0', SENTINEL
  call_many('ZADD', l.active, active_args)
  redis.call('ZADD', l.leases, fmt(deadline), tok_text)
end
-- The good jobs are leased first: a damaged key stopping a failure below leaves them leased.
for _, b in ipairs(bad) do to_failed(b[1], b[2], b[2].att, b[3], now, cap, now) end
-- @limits:taken
local leased = (no - 4) / 2
if leased == n then
  if redis.call('LLEN', l.ready) > 0 or redis.call('ZCARD', l.prio) > 0 then
    wake(l.wake)
  end
else
  out[1] = next_due()
end
-- @limits:reply
return out
