-- Helpers prepended to every script. Keys of one queue share a hash tag; every key a script
-- touches comes through KEYS. Job records live in two hashes per queue:
--   data: id -> payload bytes
--   meta: id -> "attempts|max attempts|token|priority|created ms|failed ms|job name"
-- token is "0" unless the job is active; failed ms is "0" unless the job is in the failed list.
--
-- Every lane script takes the same KEYS, in this order (see keys.rs):
--   1 meta  2 data  3 err  4 prog  5 failed  6 paused  7 seq  8 tok  9 lanes
--   10 ready  11 prio  12 sched  13 active  14 wake
-- ready: list of ids with priority 0 (FIFO); prio: ZSET of other ids by prio_score;
-- sched: ZSET of delayed and backing-off ids by due ms; active: ZSET of leased ids by deadline ms;
-- wake: list holding at most one pending wake-up for blocked workers (BLPOP).

local q = { meta = KEYS[1], data = KEYS[2], err = KEYS[3], prog = KEYS[4], failed = KEYS[5],
            paused = KEYS[6], seq = KEYS[7], tok = KEYS[8], lanes = KEYS[9] }
local l = { ready = KEYS[10], prio = KEYS[11], sched = KEYS[12], active = KEYS[13],
            wake = KEYS[14] }

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%.0f', n)
end

local function parse_meta(s)
  if not s then return nil end
  local a, m, t, p, c, f, n = string.match(s, '^(%d+)|(%d+)|(%d+)|(%-?%d+)|(%d+)|(%d+)|(.+)$')
  if not a then return nil end
  return { att = tonumber(a), max = tonumber(m), tok = t, pri = tonumber(p),
           created = c, failed = f, name = n }
end

local function pack_meta(j)
  return j.att .. '|' .. j.max .. '|' .. j.tok .. '|' .. j.pri .. '|' .. j.created .. '|' ..
    j.failed .. '|' .. j.name
end

-- Reads the (id, token) pairs in ARGV[from..to]. Returns the ids, their records, and per id
-- whether the token is the job's current one (the fencing check of every settlement).
local function check_leases(from, to)
  local ids = {}
  for i = from, to, 2 do ids[#ids + 1] = ARGV[i] end
  local metas = redis.call('HMGET', q.meta, unpack(ids))
  local jobs, held = {}, {}
  for i = 1, #ids do
    local j = parse_meta(metas[i])
    jobs[i] = j
    held[i] = j ~= nil and j.tok ~= '0' and j.tok == ARGV[from + (i - 1) * 2 + 1]
  end
  return ids, jobs, held
end

-- Priority ZSET score: higher priority first, then FIFO by sequence number. A job returned to
-- the head of its priority (requeue, reap) gets sequence 0.
local PRIO_SPAN = 10000000000000
local function prio_score(pri, seq)
  return -pri * PRIO_SPAN + (seq % PRIO_SPAN)
end

-- Wakes one blocked worker of the lane unless a wake-up is already pending.
local function wake(wake_key)
  if redis.call('LLEN', wake_key) == 0 then
    redis.call('RPUSH', wake_key, '1')
  end
end

-- The earliest due time or lease deadline of the lane, or nil.
local function next_event(sched, active)
  local s = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
  local a = redis.call('ZRANGE', active, 0, 0, 'WITHSCORES')
  local best = nil
  if s[2] then best = tonumber(s[2]) end
  if a[2] and (best == nil or tonumber(a[2]) < best) then best = tonumber(a[2]) end
  return best
end

-- Puts a job back at the head of its lane (requeue, reap).
local function push_front(ready, prio, id, j)
  if j.pri == 0 then
    redis.call('LPUSH', ready, id)
  else
    redis.call('ZADD', prio, prio_score(j.pri, 0), id)
  end
end

-- Moves a job to the failed list (newest first), trimming the list to `cap` entries and
-- deleting the records of the entries it drops.
local function to_failed(q, id, j, message, now, cap)
  j.tok = '0'
  j.failed = fmt(now)
  redis.call('HSET', q.meta, id, pack_meta(j))
  redis.call('HSET', q.err, id, message)
  redis.call('LPUSH', q.failed, id)
  local excess = redis.call('LLEN', q.failed) - cap
  if excess > 0 then
    local old = redis.call('RPOP', q.failed, excess)
    redis.call('HDEL', q.meta, unpack(old))
    redis.call('HDEL', q.data, unpack(old))
    redis.call('HDEL', q.err, unpack(old))
    redis.call('HDEL', q.prog, unpack(old))
  end
end

-- Returns expired leases of the lane to the head of ready, or fails them when their attempts
-- are spent. Returns how many it handled.
local function reap(q, l, now, cap)
  local expired = redis.call('ZRANGEBYSCORE', l.active, '-inf', now, 'LIMIT', 0, 1000)
  if #expired == 0 then return 0 end
  redis.call('ZREM', l.active, unpack(expired))
  local metas = redis.call('HMGET', q.meta, unpack(expired))
  for i, id in ipairs(expired) do
    local j = parse_meta(metas[i])
    if j then
      local message = 'lease expired during attempt ' .. j.att .. ' of ' .. j.max ..
        ': the worker running it stopped or lost its connection'
      if j.att >= j.max then
        to_failed(q, id, j, message, now, cap)
      else
        j.tok = '0'
        redis.call('HSET', q.meta, id, pack_meta(j))
        redis.call('HSET', q.err, id, message)
        push_front(l.ready, l.prio, id, j)
      end
    end
  end
  wake(l.wake)
  return #expired
end
