-- list_jobs: one page of a queue's jobs in one state, from every lane the client names.
-- KEYS[1..8]: the queue's data, later, err, prog, lost, order, failed and errs keys; then, per
-- lane, its ready, prio, sched and active keys (none for the failed list, which is per queue).
-- ARGV[1]: state (ready, scheduled, active, failed); ARGV[2]: order (oldest, newest);
-- ARGV[3]: page size; ARGV[4]: job name to keep (failed list only; '' keeps all); then, per
-- lane (one for the failed list), where the listing stopped: has ('1' or '0'), phase, at,
-- member (see queue_core::Cursor).
-- Returns: { more, stop, then per job: lane index, phase, at, member, id, envelope, error,
-- progress, lost leases, error history }. `more` is 1 when jobs remain after the page; `stop`
-- is where a listing of failed jobs by name that ran out of its window (four pages' worth of
-- entries) goes on ('' otherwise).
--
-- Order within a lane, oldest first: ready is the positive priorities (prio scores below 0),
-- then the ready list, then negative priorities (scores above 0), as reserve takes them;
-- scheduled is by due time; active by token (the order of leasing; the sentinel at 0 is
-- skipped). A sorted set is read after the last member listed (its rank, or its score when it
-- left, skipping the members tied with it that were already listed): O(log n + page), plus the
-- tied members when the last one left. A list is read by index: O(index + page); jobs popped
-- or pushed at its head between pages shift it. Lanes' candidates are merged: ready by
-- priority then dispatch sequence, scheduled by due time, active by token. Read only.
local data, later, err, prog, lost, order_key, failed, errs_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local state, newest, limit, only = ARGV[1], ARGV[2] == 'newest', tonumber(ARGV[3]), ARGV[4]
local want = limit + 1
local SPAN = 10000000000000

-- Whether text a sorts before text b, byte by byte (the order of a sorted set's ties).
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function seq_of(id)
  if string.find(id, '^%d+$') then return tonumber(id) end
  return tonumber(redis.call('HGET', order_key, id)) or 0
end

-- A part of a sorted set: the score range [lo, hi] as ZRANGE takes it, and a test of a score.
local POS = { lo = '(0', hi = '+inf', has = function(s) return s > 0 end }
local NEG = { lo = '-inf', hi = '(0', has = function(s) return s < 0 end }
local ALL = { lo = '-inf', hi = '+inf', has = function() return true end }

-- Up to n { member, score } of `key` in part `part`, in the listing's direction, after
-- (score, member) when `from` is given.
local function zpage(key, part, from, n)
  local out = {}
  if n <= 0 then return out end
  local function keep(got, skip)
    for i = 1, #got, 2 do
      local m, s = got[i], tonumber(got[i + 1])
      if not part.has(s) then break end
      if not (skip and skip(m, s)) then
        out[#out + 1] = { m, got[i + 1] }
        if #out == n then break end
      end
    end
  end
  if not from then
    if newest then
      keep(redis.call('ZRANGE', key, part.hi, part.lo, 'BYSCORE', 'REV', 'LIMIT', 0, n, 'WITHSCORES'))
    else
      keep(redis.call('ZRANGE', key, part.lo, part.hi, 'BYSCORE', 'LIMIT', 0, n, 'WITHSCORES'))
    end
    return out
  end
  local score, member = from.at, from.member
  local cur = redis.call('ZSCORE', key, member)
  if cur and tonumber(cur) == tonumber(score) then
    local r
    if newest then
      r = redis.call('ZREVRANK', key, member)
      keep(redis.call('ZRANGE', key, r + 1, r + n, 'REV', 'WITHSCORES'))
    else
      r = redis.call('ZRANK', key, member)
      keep(redis.call('ZRANGE', key, r + 1, r + n, 'WITHSCORES'))
    end
    return out
  end
  -- The last member listed left: go on from its score, past the ties already listed.
  local ties = redis.call('ZCOUNT', key, score, score)
  local skip = function(m, s)
    if s ~= tonumber(score) then return false end
    if newest then return not before(m, member) end
    return not before(member, m)
  end
  if newest then
    keep(redis.call('ZRANGE', key, score, part.lo, 'BYSCORE', 'REV', 'LIMIT', 0, ties + n,
      'WITHSCORES'), skip)
  else
    keep(redis.call('ZRANGE', key, score, part.hi, 'BYSCORE', 'LIMIT', 0, ties + n,
      'WITHSCORES'), skip)
  end
  return out
end

-- Up to n ids of list `key` after `passed` of them, from its head (or its tail when
-- `from_tail`), each with how many are passed after it.
local function lpage(key, passed, n, from_tail)
  local out = {}
  if n <= 0 then return out end
  if from_tail then
    local got = redis.call('LRANGE', key, -(passed + n), -(passed + 1))
    for i = #got, 1, -1 do out[#out + 1] = { got[i], passed + #out + 1 } end
  else
    local got = redis.call('LRANGE', key, passed, passed + n - 1)
    for i = 1, #got do out[#out + 1] = { got[i], passed + i } end
  end
  return out
end

-- The lanes' positions.
local from = {}
local lanes = (#KEYS - 8) / 4
if state == 'failed' then lanes = 1 end
for i = 1, lanes do
  local a = 4 + (i - 1) * 4
  if ARGV[a + 1] == '1' then
    from[i] = { phase = tonumber(ARGV[a + 2]), at = ARGV[a + 3], member = ARGV[a + 4] }
  end
end

-- Each lane's candidates: { lane, phase, at, member, id, k1, k2 }, in the lane's order.
local streams, stop = {}, ''
if state == 'failed' then
  local list = {}
  local passed = from[1] and tonumber(from[1].at) or 0
  local oldest_first = not newest
  if only == '' then
    for _, e in ipairs(lpage(failed, passed, want, oldest_first)) do
      list[#list + 1] = { 1, 0, e[2], '', e[1], e[2], 0 }
    end
  else
    -- Kept per queue: look at four pages' worth at most, and go on from there next time.
    local window = want * 4
    local got = lpage(failed, passed, window, oldest_first)
    local envs = {}
    if #got > 0 then
      local ids = {}
      for i, e in ipairs(got) do ids[i] = e[1] end
      envs = redis.call('HMGET', data, unpack(ids))
    end
    for i, e in ipairs(got) do
      local name = envs[i] and (string.match(envs[i], '^%d+|%d+|%d+|%-?%d+|%d+|%d+|%d+|%d+|([^|]+)|')
        or string.match(envs[i], '^%d+|%d+|%d+|%-?%d+|%d+|([^|]+)|'))
      if name == only then
        list[#list + 1] = { 1, 0, e[2], '', e[1], e[2], 0 }
        if #list == want then break end
      end
    end
    if #list < want and #got == window and redis.call('LLEN', failed) > passed + window then
      stop = tostring(passed + window)
    end
  end
  streams[1] = list
else
  for i = 1, lanes do
    local k = 8 + (i - 1) * 4
    local ready, prio, sched, active = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
    local list = {}
    local parts
    if state == 'ready' then
      -- Oldest: positive priorities (scores below 0) first; newest: negative ones first.
      parts = { NEG, 'list', POS }
      if newest then parts = { POS, 'list', NEG } end
    elseif state == 'scheduled' then
      parts = { ALL }
    else
      parts = { POS }
    end
    local first = from[i] and from[i].phase or 0
    for phase = first, #parts - 1 do
      local part = parts[phase + 1]
      local at = (phase == first) and from[i] or nil
      local n = want - #list
      if part == 'list' then
        local passed = at and tonumber(at.at) or 0
        for _, e in ipairs(lpage(ready, passed, n, newest)) do
          list[#list + 1] = { i, phase, e[2], '', e[1], 0, seq_of(e[1]) }
        end
      else
        local key = active
        if state == 'ready' then key = prio elseif state == 'scheduled' then key = sched end
        for _, e in ipairs(zpage(key, part, at, n)) do
          local s = tonumber(e[2])
          local k1, k2 = s, 0
          if state == 'ready' then k1, k2 = math.floor(s / SPAN), s end
          list[#list + 1] = { i, phase, e[2], e[1], e[1], k1, k2 }
        end
      end
      if #list >= want then break end
    end
    streams[i] = list
  end
end

-- Merge: each step takes the first of the lanes' next candidates in the listing's order.
local heads, taken, more = {}, {}, 0
for i = 1, #streams do heads[i] = 1 end
while true do
  local best = nil
  for i = 1, #streams do
    local c = streams[i][heads[i]]
    if c then
      if best == nil then
        best = i
      else
        local b = streams[best][heads[best]]
        local first
        if c[6] ~= b[6] then first = c[6] < b[6] else first = c[7] < b[7] end
        if newest and (c[6] ~= b[6] or c[7] ~= b[7]) then first = not first end
        if first then best = i end
      end
    end
  end
  if best == nil then break end
  if #taken == limit then
    more = 1
    break
  end
  taken[#taken + 1] = streams[best][heads[best]]
  heads[best] = heads[best] + 1
end

local out = { more, stop }
if #taken == 0 then return out end
local ids = {}
for i, c in ipairs(taken) do ids[i] = c[5] end
local source = data
if state == 'scheduled' then source = later end
local envs = redis.call('HMGET', source, unpack(ids))
local errs = redis.call('HMGET', err, unpack(ids))
local progs = redis.call('HMGET', prog, unpack(ids))
local losts = redis.call('HMGET', lost, unpack(ids))
local hists = redis.call('HMGET', errs_key, unpack(ids))
for i, c in ipairs(taken) do
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
  out[#out + 1] = c[4]
  out[#out + 1] = c[5]
  out[#out + 1] = envs[i]
  out[#out + 1] = errs[i]
  out[#out + 1] = progs[i]
  out[#out + 1] = losts[i]
  out[#out + 1] = hists[i]
end
return out
