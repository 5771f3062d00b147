-- Helpers prepended to every lane script. Keys of one queue share a hash tag; every key a
-- script touches comes through KEYS.
--
-- A job is one field of the queue's data hash: id -> envelope, where the envelope is
--   "failed ms|attempts|max attempts|priority|created ms|job name|payload"
-- written by the client at enqueue (record.rs) and rewritten only on the rare paths (retry,
-- failure, reap, retry of a failed job). `attempts` counts the runs that ended (or were lost);
-- the running one is not in it, so taking and finishing a job never rewrites its envelope.
-- `failed ms` is 0 unless the job is in the failed list, so a record that starts with "0|" is a
-- live job.
--
-- Leases: each reserve call issues one fencing token (INCR tok) for the jobs it takes. The
-- lane's active set holds id -> token (as the score) while a job runs, and its leases set
-- token -> deadline ms: one entry per reserve call, so renewing, reaping and waking go by batch
-- while the token check stays per job (the score must equal the caller's token).
--
-- Every lane script takes the same KEYS, in this order (see keys.rs):
--   1 data  2 err  3 prog  4 failed  5 paused  6 seq  7 tok  8 lanes  9 later
--   10 ready  11 prio  12 sched  13 active  14 leases  15 wake
-- data holds the envelopes of ready, running and failed jobs; later those of scheduled jobs
-- (delayed or backing off), moved to data when they come due. A backlog of delayed jobs then
-- does not grow the hash every reserve and ack reads: measured, 1M delayed jobs in data made
-- draining ready jobs cost ~70% more Redis CPU per job (cache misses in a bigger table).
-- ready: list of ids with priority 0 (FIFO); prio: ZSET of other ids by prio_score;
-- sched: ZSET of delayed and backing-off ids by due ms; wake: list holding at most one pending
-- wake-up for blocked workers (BLPOP).

local q = { data = KEYS[1], err = KEYS[2], prog = KEYS[3], failed = KEYS[4], paused = KEYS[5],
            seq = KEYS[6], tok = KEYS[7], lanes = KEYS[8], later = KEYS[9] }
local l = { ready = KEYS[10], prio = KEYS[11], sched = KEYS[12], active = KEYS[13],
            leases = KEYS[14], wake = KEYS[15] }

-- Redis keeps small sorted sets (up to 128 entries) as flat lists that every insert and
-- lookup scans whole: a worker's batch of 50 leases going into an active set of ~100 cost
-- ~1.7 us of server CPU per job for the ZADD alone. A member longer than 64 bytes (the default
-- zset-max-listpack-value) makes Redis switch the key to its skiplist encoding, which it keeps
-- until the key is deleted, so every reserve writes this sentinel into the active set, with
-- score 0 (tokens start at 1). It has spaces, so it is never a job id the client accepts.
local SENTINEL = 'sentinel: keeps this key in the hashed encoding (queue-redis lua/lib.lua)'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as decimal text. '%d' formats as an integer; '%.0f' and tostring go through the
-- C library's floating-point printing, which cost ~0.15 us per call in profiles.
local function fmt(n)
  return string.format('%d', n)
end

-- The envelope's header fields and its payload, or nil when it is not an envelope.
local function parse_env(s)
  if not s then return nil end
  local f, a, m, p, c, n, at = string.match(s, '^(%d+)|(%d+)|(%d+)|(%-?%d+)|(%d+)|([^|]+)|()')
  if not f then return nil end
  return { failed = f, att = tonumber(a), max = tonumber(m), pri = tonumber(p), created = c,
           name = n, body = string.sub(s, at) }
end

local function pack_env(j)
  return j.failed .. '|' .. j.att .. '|' .. j.max .. '|' .. j.pri .. '|' .. j.created .. '|' ..
    j.name .. '|' .. j.body
end

-- Reads the (id, token) pairs in ARGV[from..to]. Returns the ids, their tokens (as text, the
-- leases set's member for the batch), and per id whether the token is the job's current lease
-- (the fencing check of every settlement). Redis formats an integer score as plain digits
-- ("17"), as the client writes tokens, so texts are compared first; a token held under another
-- spelling of the number ("017") is replaced by Redis's text, which is the member's.
local function check_leases(from, to)
  local ids, toks = {}, {}
  for i = from, to, 2 do
    ids[#ids + 1] = ARGV[i]
    toks[#toks + 1] = ARGV[i + 1]
  end
  local current = redis.call('ZMSCORE', l.active, unpack(ids))
  local held = {}
  for i = 1, #ids do
    local c = current[i]
    if c ~= false and c ~= toks[i] and tonumber(c) == tonumber(toks[i]) then toks[i] = c end
    held[i] = c ~= false and c == toks[i]
  end
  return ids, held, toks
end

-- Ends the leases of `ids`, held under `toks` (parallel lists): out of the active set, and a
-- batch none of whose jobs still runs leaves the leases set.
local function release(ids, toks)
  redis.call('ZREM', l.active, unpack(ids))
  local last = nil
  for _, t in ipairs(toks) do
    if t ~= last then
      last = t
      if redis.call('ZCOUNT', l.active, t, t) == 0 then redis.call('ZREM', l.leases, t) end
    end
  end
end

-- Completes the jobs of the (id, token) pairs in ARGV[from..to] whose token is current,
-- deleting their records. Returns a string with one '1' (removed) or '0' (stale) per pair.
local function ack(from, to)
  if to < from then return '' end
  local ids, held, toks = check_leases(from, to)
  local flags, done, done_toks = {}, {}, {}
  for i, id in ipairs(ids) do
    if held[i] then
      flags[i] = '1'
      done[#done + 1] = id
      done_toks[#done_toks + 1] = toks[i]
    else
      flags[i] = '0'
    end
  end
  if #done > 0 then
    release(done, done_toks)
    redis.call('HDEL', q.data, unpack(done))
    -- Most jobs never failed nor reported progress: skip the deletes when nothing is there.
    if redis.call('HLEN', q.err) > 0 then redis.call('HDEL', q.err, unpack(done)) end
    if redis.call('HLEN', q.prog) > 0 then redis.call('HDEL', q.prog, unpack(done)) end
  end
  return table.concat(flags)
end

-- Priority ZSET score: higher priority first, then by sequence number. Each priority owns a
-- band of PRIO_SPAN scores: new jobs count up from its middle (FIFO), jobs returned to the head
-- (requeue, reap) count down from it, so the latest one returned runs first.
local PRIO_SPAN = 10000000000000
local PRIO_MID = PRIO_SPAN / 2
local function prio_score(pri, seq)
  return -pri * PRIO_SPAN + PRIO_MID + (seq % PRIO_MID)
end

-- Wakes one blocked worker of the lane unless a wake-up is already pending.
local function wake(wake_key)
  if redis.call('LLEN', wake_key) == 0 then
    redis.call('RPUSH', wake_key, '1')
  end
end

-- The earliest due time or lease deadline of the lane, or nil.
local function next_event()
  local s = redis.call('ZRANGE', l.sched, 0, 0, 'WITHSCORES')
  local a = redis.call('ZRANGE', l.leases, 0, 0, 'WITHSCORES')
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
    local seq = redis.call('INCR', q.seq)
    redis.call('ZADD', prio, -j.pri * PRIO_SPAN + PRIO_MID - (seq % PRIO_MID), id)
  end
end

-- A record that is not an envelope (written by another program, or damaged), kept whole as
-- the payload of a valid envelope so it can be failed, listed and inspected.
local function wrap_bad(raw, name, now)
  return { failed = '0', att = 1, max = 1, pri = 0, created = fmt(now), name = name,
           body = raw or '' }
end

-- Moves a job to the failed list (newest first), trimming the list to `cap` entries and
-- deleting the records of the entries it drops.
local function to_failed(id, j, message, now, cap)
  j.failed = fmt(now)
  redis.call('HSET', q.data, id, pack_env(j))
  redis.call('HSET', q.err, id, message)
  redis.call('LPUSH', q.failed, id)
  local excess = redis.call('LLEN', q.failed) - cap
  if excess > 0 then
    local old = redis.call('RPOP', q.failed, excess)
    redis.call('HDEL', q.data, unpack(old))
    redis.call('HDEL', q.err, unpack(old))
    redis.call('HDEL', q.prog, unpack(old))
  end
end

-- Returns the jobs of expired leases of the lane to the head of ready, or fails them when
-- their attempts are spent; the lost run counts as an attempt. Returns how many jobs it handled.
local function reap(now, cap, name)
  local expired = redis.call('ZRANGEBYSCORE', l.leases, '-inf', now, 'LIMIT', 0, 100)
  if #expired == 0 then return 0 end
  redis.call('ZREM', l.leases, unpack(expired))
  local count = 0
  for _, t in ipairs(expired) do
    local ids = redis.call('ZRANGEBYSCORE', l.active, t, t)
    if #ids > 0 then
      redis.call('ZREM', l.active, unpack(ids))
      local envs = redis.call('HMGET', q.data, unpack(ids))
      for i, id in ipairs(ids) do
        local j = parse_env(envs[i])
        if j then
          j.att = j.att + 1
          local message = 'lease expired during attempt ' .. j.att .. ' of ' .. j.max ..
            ': the worker running it stopped or lost its connection'
          if j.att >= j.max then
            to_failed(id, j, message, now, cap)
          else
            redis.call('HSET', q.data, id, pack_env(j))
            redis.call('HSET', q.err, id, message)
            push_front(l.ready, l.prio, id, j)
          end
        elseif envs[i] then
          to_failed(id, wrap_bad(envs[i], name, now), 'malformed job record', now, cap)
        end
      end
      count = count + #ids
    end
  end
  if count > 0 then wake(l.wake) end
  return count
end
