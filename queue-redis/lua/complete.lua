-- complete: ends runs that succeeded for handlers that keep something (queue_core::Keep):
-- keeps the jobs as completed and their results, then trims what is kept.
-- KEYS: the lane key set (lib.lua), then 20 done (ZSET id -> finished ms), 21 results (HASH
-- id -> JSON), 22 resexp (ZSET id -> result expiry ms), 23 donestart (HASH id -> the completing
-- run's start, unix ms).
-- ARGV[1]: job name  ARGV[2]: completed jobs to keep (0: none)  ARGV[3]: their age in ms (0: no
-- limit)  ARGV[4]: result TTL in ms (0: none)  ARGV[5]: n, then n (id, token) pairs, then n
-- results ('' for none).
-- Returns: a list of 1 (completed) or 0 (stale token, nothing changed), one per job.
-- A completed job keeps its envelope in data (so lookups find it and its chosen id stays
-- taken) and leaves every other index; the start of its completing run goes to donestart. Trimming takes at most TRIM jobs per call, so a call's
-- work stays bounded; what it leaves, the next call takes. Expired results are dropped the same
-- way, and reads ignore them meanwhile.
local TRIM = 1000
local done_key, results, resexp, starts = KEYS[20], KEYS[21], KEYS[22], KEYS[23]
local keep, age, ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids, held, toks = check_leases(6, 5 + 2 * n)
local now = now_ms()
local flags, done, done_toks, zdone, hres, zres = {}, {}, {}, {}, {}, {}
for i, id in ipairs(ids) do
  if held[i] then
    flags[i] = 1
    done[#done + 1] = id
    done_toks[#done_toks + 1] = toks[i]
    zdone[#zdone + 1] = now
    zdone[#zdone + 1] = id
    local body = ARGV[5 + 2 * n + i]
    if ttl > 0 and body ~= '' then
      hres[#hres + 1] = id
      hres[#hres + 1] = body
      zres[#zres + 1] = now + ttl
      zres[#zres + 1] = id
    end
  else
    flags[i] = 0
  end
end
if #done > 0 then
  release(done, done_toks)
  -- As in ack: most jobs have no side records; one EXISTS looks for all four.
  if redis.call('EXISTS', q.err, q.errs, q.prog, q.lost) > 0 then
    for _, side in ipairs({ q.err, q.errs, q.prog, q.lost }) do
      if redis.call('HLEN', side) > 0 then call_many('HDEL', side, done) end
    end
  end
  if keep > 0 then
    call_many('ZADD', done_key, zdone)
    -- When the completing runs started, which their tokens carry (a batch's jobs share one).
    local hstart, tok, at = {}, nil, 0
    for i, id in ipairs(done) do
      if done_toks[i] ~= tok then
        tok = done_toks[i]
        at = token_ms(tok)
        if at ~= 0 then at = fmt(at) end
      end
      if at ~= 0 then
        hstart[#hstart + 1] = id
        hstart[#hstart + 1] = at
      end
    end
    call_many('HSET', starts, hstart)
  else
    call_many('HDEL', q.data, done)
    if redis.call('HLEN', q.order) > 0 then call_many('HDEL', q.order, done) end
    if redis.call('HLEN', q.body) > 0 then call_many('HDEL', q.body, done) end
  end
  call_many('HSET', results, hres)
  call_many('ZADD', resexp, zres)
end
-- Trim: the oldest completed jobs past the count (popped), then those past the age. A kept
-- job has only its envelope left (its side records went at completion), its dispatch
-- sequence if its id was chosen, and its payload if it was too big for the envelope. A call whose leases were all stale changes nothing.
if #done == 0 then return flags end
if keep > 0 then
  local old = {}
  local excess = redis.call('ZCARD', done_key) - keep
  if excess > 0 then
    local popped = redis.call('ZPOPMIN', done_key, math.min(excess, TRIM))
    for i = 1, #popped, 2 do old[#old + 1] = popped[i] end
  end
  if age > 0 and #old < TRIM then
    local aged = redis.call('ZRANGEBYSCORE', done_key, '-inf', now - age, 'LIMIT', 0, TRIM - #old)
    if #aged > 0 then
      call_many('ZREM', done_key, aged)
      for _, id in ipairs(aged) do old[#old + 1] = id end
    end
  end
  if #old > 0 then
    call_many('HDEL', q.data, old)
    call_many('HDEL', starts, old)
    if redis.call('HLEN', q.order) > 0 then call_many('HDEL', q.order, old) end
    if redis.call('HLEN', q.body) > 0 then call_many('HDEL', q.body, old) end
  end
end
local expired = redis.call('ZRANGEBYSCORE', resexp, '-inf', now, 'LIMIT', 0, TRIM)
if #expired > 0 then
  call_many('ZREM', resexp, expired)
  call_many('HDEL', results, expired)
end
tidy_lane(ARGV[1])
return flags
