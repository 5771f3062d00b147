-- keyed_reserve: the reserve of a keyed lane (keyed.lua): acks finished jobs, reaps expired
-- leases, moves returned jobs to the front of their keys' lines and due scheduled jobs to the
-- back, lets held-back keys whose time came start again, then leases up to n jobs taking keys
-- from the ring lowest round first, one job per key per round, each key within its own limits
-- (a key held back is set aside in kpark or kfull and skipped).
-- KEYS: the lane key set (lib.lua), then keyed.lua's 20..25.
-- ARGV: reserve.lua's (n, lease ms, failed cap, job name, lost leases that make a job poison,
-- then (id, token) pairs to ack), then three more, taken off first: the rate's count per key
-- (0: no rate), its window ms, the concurrency per key (0: none).
-- Returns: reserve.lua's reply. When fewer than n jobs were leased, the first value is the
-- delay until the lane's next due time or lease deadline or the first held-back key's time.
local k_conc = tonumber(table.remove(ARGV))
local k_per = tonumber(table.remove(ARGV))
local k_count = tonumber(table.remove(ARGV))
local n = tonumber(ARGV[1])
local cap = tonumber(ARGV[3])
local max_lost = tonumber(ARGV[5])
local done_ids = {}
for i = 6, #ARGV, 2 do done_ids[#done_ids + 1] = ARGV[i] end
local done_keys = {}
if #done_ids > 0 then done_keys = call_many('HMGET', k.of, done_ids) end
local acked = ack(6, #ARGV)
local now = now_ms()
local cur = tonumber(redis.call('HGET', k.state, 'cur') or '0')
if #done_ids > 0 then
  -- Acked jobs free their keys' slots: a key held by its concurrency may start again.
  local gone = {}
  for i, id in ipairs(done_ids) do
    if string.sub(acked, i, i) == '1' then
      gone[#gone + 1] = id
      local key = done_keys[i]
      if key and redis.call('ZREM', k.full, key) == 1 and #k_line(key, 1) > 0 then
        k_ring(key, cur)
      end
    end
  end
  call_many('HDEL', k.of, gone)
end
local _, poisoned = reap(now, cap, ARGV[4], max_lost)
poisoned = poisoned or {}
k_absorb()

-- Due scheduled jobs join the back of their keys' lines, by due time and then dispatch
-- sequence (priorities do not reorder keyed jobs).
local due = redis.call('ZRANGEBYSCORE', l.sched, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
if #due > 0 then
  local ids, scores = {}, {}
  for i = 1, #due, 2 do
    ids[#ids + 1] = due[i]
    scores[#scores + 1] = tonumber(due[i + 1])
  end
  ids = by_sequence(ids, scores)
  local envs = call_many('HMGET', q.later, ids)
  local moved, present = {}, {}
  for i, id in ipairs(ids) do
    if envs[i] then
      moved[#moved + 1] = id
      moved[#moved + 1] = envs[i]
      present[#present + 1] = id
    end
  end
  call_many('HSET', q.data, moved)
  call_many('HDEL', q.later, ids)
  call_many('ZREM', l.sched, ids)
  k_add(present, k_keys_of(present), false)
end
k_unpark(k.park, now, cur)
k_unpark(k.full, now, cur)
k_sweep(now, k_per)

local function next_due()
  local at = next_event()
  for _, set in ipairs({ k.park, k.full }) do
    local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
    if first[2] and (at == nil or tonumber(first[2]) < at) then at = tonumber(first[2]) end
  end
  if at == nil then return -1 end
  return math.max(0, at - now)
end

if redis.call('EXISTS', q.paused) == 1 then
  return { next_due(), 0, acked, poisoned }
end

local ids = {}
local tok, tok_text = nil, nil
while #ids < n do
  local top = redis.call('ZRANGE', k.ring, 0, 0, 'WITHSCORES')
  if #top == 0 then break end
  local key, round = top[1], math.floor(tonumber(top[2]) / RING_TIES)
  if round > cur then cur = round end
  redis.call('ZREM', k.ring, key)
  local f = redis.call('HMGET', k.state, 'p:' .. key, 'w:' .. key, 'c:' .. key)
  local hold = nil
  local pause = tonumber(f[1] or '0')
  if pause > now then hold = pause end
  local win, used = nil, 0
  if k_count > 0 then
    win, used = k_window(f[2], k_per, now)
    if used >= k_count then
      local at = k_window_free(win, used, k_count, k_per)
      if hold == nil or at > hold then hold = at end
    end
  end
  local live, full_at = nil, nil
  if k_conc > 0 then
    live = k_running(f[3], tok_text)
    if #live >= k_conc then full_at = k_earliest(live) or (now + tonumber(ARGV[2])) end
  end
  if full_at then
    redis.call('ZADD', k.full, full_at, key)
  elseif hold then
    redis.call('ZADD', k.park, hold, key)
  else
    local head = k_line(key, 2)
    if #head > 0 then
      redis.call('ZREM', k.jobs, head[1])
      local id = k_id(head[1])
      -- The line's entry stands for the job only while the job is recorded under this key: a
      -- job deleted while it waited and dispatched again with its id under another key left
      -- an entry here, which must not start it (it counts for its new key).
      if id and redis.call('HGET', k.of, id) == key and redis.call('ZREM', l.prio, id) == 1 then
        if not tok then
          tok = new_token(now)
          tok_text = fmt(tok)
        end
        ids[#ids + 1] = id
        local writes = { 'n:' .. key, fmt(round + 1) }
        if k_count > 0 then
          local last = win[#win]
          if last and last[1] == now then last[2] = last[2] + 1 else win[#win + 1] = { now, 1 } end
          writes[#writes + 1] = 'w:' .. key
          writes[#writes + 1] = k_window_text(win)
        end
        if k_conc > 0 then
          live[#live + 1] = { id, tok_text }
          writes[#writes + 1] = 'c:' .. key
          writes[#writes + 1] = k_running_text(live)
        end
        redis.call('HSET', k.state, unpack(writes))
        if #head > 1 then k_ring_add(key, round + 1) end
      elseif #head > 1 then
        -- A job that left the lane (deleted, purged) or the key: the key's next job keeps its
        -- turn.
        k_ring_add(key, round)
      end
    end
  end
end
redis.call('HSET', k.state, 'cur', fmt(cur))
if #ids == 0 then
  tidy_lane(ARGV[4])
  return { next_due(), 0, acked, poisoned }
end

local deadline = now + tonumber(ARGV[2])
local envs = call_many('HMGET', q.data, ids)
local out = { -1, tok, acked, poisoned }
local active_args, bad = {}, {}
for i, id in ipairs(ids) do
  local env = envs[i]
  -- 48 is '0': a live job (not failed).
  if env and string.byte(env, 1) == 48 then
    active_args[#active_args + 1] = tok_text
    active_args[#active_args + 1] = id
    out[#out + 1] = id
    out[#out + 1] = env
  elseif not env then
    bad[#bad + 1] = { id, wrap_bad(nil, ARGV[4], now),
      'malformed job: no job record for id `' .. id .. '` found in lane `' .. ARGV[4] .. '`' }
  elseif not parse_env(env) then
    bad[#bad + 1] = { id, wrap_bad(env, ARGV[4], now),
      'malformed job: unreadable job record for id `' .. id .. '`' }
  end
end
if #active_args > 0 then
  local before = next_event()
  if before == nil or deadline < before then wake(l.wake) end
  active_args[#active_args + 1] = 0
  active_args[#active_args + 1] = SENTINEL
  call_many('ZADD', l.active, active_args)
  redis.call('ZADD', l.leases, deadline, tok_text)
end
for _, b in ipairs(bad) do to_failed(b[1], b[2], b[2].att, b[3], now, cap, now) end
if (#out - 4) / 2 == n then
  if redis.call('ZCARD', k.ring) > 0 then wake(l.wake) end
else
  out[1] = next_due()
end
return out
