-- keyed: helpers of the scripts of keyed lanes (handlers with a rate key), prepended after
-- lib.lua to keyed_enqueue.lua, keyed_reserve.lua, keyed_postpone.lua and keyed_released.lua.
-- Lanes without a rate key never run them.
-- KEYS: the lane key set (lib.lua), then 20..25 (keys.rs QueueKeys::keyed), all of the
-- queue's hash tag:
--   20 kjobs: ZSET of the waiting keyed jobs' places in their keys' lines, every score 0,
--      member "key NUL position NUL id" (a key holds no NUL), so a key's line is a lex range
--      and its first job the range's first member. Positions are 16 digits: jobs joining the
--      back count up from KPOS_MID, jobs returned to the front count down from it.
--   21 kring: ZSET key -> round * RING_TIES + tie: the keys with waiting jobs that may start,
--      served lowest round first and, within a round, in the order they joined it (tie counts
--      the ring's insertions, kstate 'tie'), the memory driver's order.
--   22 kpark: ZSET key -> ms: keys held back by their window or pause, until then.
--   23 kfull: ZSET key -> ms: keys held back by their concurrency, until their earliest lease
--      deadline (or a settle that frees a slot, keyed_released.lua).
--   24 kstate: HASH: 'cur' the round being served, 'tie' the ring's insertions, 'back' and
--      'front' the position counters,
--      'sweep' the kof scan cursor, and per key: 'n:<key>' the first round it may be served in
--      next, 'w:<key>' its starts in the window ("ms:count,ms:count", oldest first), 'p:<key>'
--      its pause end (ms), 'c:<key>' its leased jobs ("id=token,...", checked against the
--      active set when counted, so a reaped or settled job frees its slot by itself).
--   25 kof: HASH id -> key of the lane's keyed jobs (ready, scheduled, running or failed).
-- A waiting keyed job is also in the lane's prio ZSET, at KEYED_BASE + its position (above
-- every priority's band), so counts, listings, deletes and purges see it as a ready job; a
-- line's member whose job left prio (deleted, purged) is dropped when its turn comes.
-- Jobs reaching the lane's ready list or its prio bands (returned by requeue or reap, retried
-- from the failed list) are moved into their key's line, at its front, by the keyed reserve.
local k = { jobs = KEYS[20], ring = KEYS[21], park = KEYS[22], full = KEYS[23],
            state = KEYS[24], of = KEYS[25] }
local KEYED_BASE = 2000000000000000
local KPOS_MID = 1000000000000000

-- A ring score is round * RING_TIES + the insertion count's last digits (exact below 2^53 for
-- rounds up to 9e9).
local RING_TIES = 1000000

-- Puts `key` in the ring at `round`, after the keys that joined that round before it.
local function k_ring_add(key, round)
  local tie = redis.call('HINCRBY', k.state, 'tie', 1) % RING_TIES
  redis.call('ZADD', k.ring, round * RING_TIES + tie, key)
end

local function k_member(key, pos, id)
  return key .. '\0' .. string.format('%016d', pos) .. '\0' .. id
end

local function k_id(member)
  return string.match(member, '^[^%z]*%z%d+%z(.*)$')
end

-- The line of `key`: its members, at most `limit`.
local function k_line(key, limit)
  return redis.call('ZRANGEBYLEX', k.jobs, '[' .. key .. '\0', '(' .. key .. '\1',
    'LIMIT', 0, limit)
end

-- Puts `key` in the ring unless it is there or held back: at its next round, not before the
-- current one.
local function k_ring(key, cur)
  if redis.call('ZSCORE', k.ring, key) or redis.call('ZSCORE', k.park, key)
      or redis.call('ZSCORE', k.full, key) then return end
  local nxt = tonumber(redis.call('HGET', k.state, 'n:' .. key) or '0')
  if nxt < cur then nxt = cur end
  k_ring_add(key, nxt)
end

-- Adds waiting jobs `ids` (their keys in `keys`, parallel) to their keys' lines: at the back
-- in the order given, or (front) at the front, the first ending up first.
local function k_add(ids, keys, front)
  if #ids == 0 then return end
  local st = redis.call('HMGET', k.state, 'cur', 'back', 'front')
  local cur = tonumber(st[1] or '0')
  local back = tonumber(st[2] or KPOS_MID)
  local frontp = tonumber(st[3] or KPOS_MID)
  local members, scores, seen = {}, {}, {}
  local from, to, step = 1, #ids, 1
  if front then from, to, step = #ids, 1, -1 end
  for i = from, to, step do
    local pos
    if front then
      frontp = frontp - 1
      pos = frontp
    else
      back = back + 1
      pos = back
    end
    members[#members + 1] = 0
    members[#members + 1] = k_member(keys[i], pos, ids[i])
    scores[#scores + 1] = KEYED_BASE + pos
    scores[#scores + 1] = ids[i]
  end
  call_many('ZADD', k.jobs, members)
  call_many('ZADD', l.prio, scores)
  redis.call('HSET', k.state, 'back', fmt(back), 'front', fmt(frontp))
  for _, key in ipairs(keys) do
    if not seen[key] then
      seen[key] = true
      k_ring(key, cur)
    end
  end
end

-- The keys of `ids` (a job without one has the empty key).
local function k_keys_of(ids)
  local keys = call_many('HMGET', k.of, ids)
  for i = 1, #ids do keys[i] = keys[i] or '' end
  return keys
end

-- Moves the lane's jobs waiting outside the lines (its ready list and priority bands) into
-- their keys' lines, at the front.
local function k_absorb()
  local ids = redis.call('LRANGE', l.ready, 0, -1)
  local ranked = redis.call('ZRANGEBYSCORE', l.prio, '-inf', '(' .. fmt(KEYED_BASE))
  if #ids + #ranked == 0 then return end
  redis.call('DEL', l.ready)
  call_many('ZREM', l.prio, ranked)
  -- Returned jobs come first in ready (LPUSH), ranked ones by priority: both before the keys'
  -- waiting jobs, the list first.
  for _, id in ipairs(ranked) do ids[#ids + 1] = id end
  k_add(ids, k_keys_of(ids), true)
end

-- A key's starts in the window: the entries still inside it at `now` and their total.
local function k_window(text, per, now)
  local entries, total = {}, 0
  if text then
    for ms, count in string.gmatch(text, '(%d+):(%d+)') do
      ms, count = tonumber(ms), tonumber(count)
      if ms + per > now then
        entries[#entries + 1] = { ms, count }
        total = total + count
      end
    end
  end
  return entries, total
end

local function k_window_text(entries)
  local parts = {}
  for i, e in ipairs(entries) do parts[i] = fmt(e[1]) .. ':' .. fmt(e[2]) end
  return table.concat(parts, ',')
end

-- When a full window of `count` per `per` ms lets one more start.
local function k_window_free(entries, total, count, per)
  for _, e in ipairs(entries) do
    total = total - e[2]
    if total < count then return e[1] + per end
  end
  return 0
end

-- A key's leased jobs still holding their slots: the entries of `text` whose job is in the
-- active set under the entry's token, or was leased by this call (token `mine`).
local function k_running(text, mine)
  local live = {}
  if not text or text == '' then return live end
  local ids, toks = {}, {}
  for id, tok in string.gmatch(text, '([^,=]+)=(%d+)') do
    ids[#ids + 1] = id
    toks[#toks + 1] = tok
  end
  local scores = call_many('ZMSCORE', l.active, ids)
  for i = 1, #ids do
    if toks[i] == mine or (scores[i] and tonumber(scores[i]) == tonumber(toks[i])) then
      live[#live + 1] = { ids[i], toks[i] }
    end
  end
  return live
end

local function k_running_text(live)
  local parts = {}
  for i, e in ipairs(live) do parts[i] = e[1] .. '=' .. e[2] end
  return table.concat(parts, ',')
end

-- The earliest lease deadline of the leased jobs `live` (ms), or nil.
local function k_earliest(live)
  local best = nil
  for _, e in ipairs(live) do
    local d = tonumber(redis.call('ZSCORE', l.leases, e[2]) or 'x')
    if d and (best == nil or d < best) then best = d end
  end
  return best
end

-- Puts the keys held back whose time came (`set`: kpark or kfull) back in the ring.
local function k_unpark(set, now, cur)
  local due = redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, 1000)
  if #due == 0 then return end
  call_many('ZREM', set, due)
  for _, key in ipairs(due) do
    if #k_line(key, 1) > 0 then k_ring(key, cur) end
  end
end

-- Drops what is kept for keys and jobs that are gone, a few per call, going on from where the
-- last call stopped: the keys recorded for jobs that no longer exist (acked apart, deleted,
-- purged, trimmed), and the state of keys with no job waiting, none leased, no start left in
-- their window (`per` ms; 0: no rate) and no pause to come.
local function k_sweep(now, per)
  local st = redis.call('HMGET', k.state, 'sweep', 'sweep_keys')
  local r = redis.call('HSCAN', k.of, st[1] or '0', 'COUNT', 20)
  local ids = {}
  for i = 1, #r[2], 2 do ids[#ids + 1] = r[2][i] end
  local s = redis.call('HSCAN', k.state, st[2] or '0', 'MATCH', 'n:*', 'COUNT', 20)
  redis.call('HSET', k.state, 'sweep', r[1], 'sweep_keys', s[1])
  if #ids > 0 then
    local live = call_many('HMGET', q.data, ids)
    local later = call_many('HMGET', q.later, ids)
    local gone = {}
    for i, id in ipairs(ids) do
      if not live[i] and not later[i] then gone[#gone + 1] = id end
    end
    call_many('HDEL', k.of, gone)
  end
  for i = 1, #s[2], 2 do
    local key = string.sub(s[2][i], 3)
    if not redis.call('ZSCORE', k.ring, key) and not redis.call('ZSCORE', k.park, key)
        and not redis.call('ZSCORE', k.full, key) and #k_line(key, 1) == 0 then
      local f = redis.call('HMGET', k.state, 'w:' .. key, 'c:' .. key, 'p:' .. key)
      local _, used = k_window(f[1], per, now)
      if used == 0 and #k_running(f[2], nil) == 0 and tonumber(f[3] or '0') <= now then
        redis.call('HDEL', k.state, 'n:' .. key, 'w:' .. key, 'c:' .. key, 'p:' .. key)
      end
    end
  end
end
