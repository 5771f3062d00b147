-- complete: ends runs that succeeded for handlers that keep something (queue_core::Keep):
-- keeps the jobs as completed and their results, then trims what is kept.
-- KEYS: the lane key set (lib.lua), then 20 done (LIST of ids, newest at the tail), 21 results
-- (HASH id -> JSON), 22 resexp (ZSET id -> result expiry ms), 23 donetime (HASH id ->
-- "finished ms:started ms", and SENTINEL -> ''), 24 donepushed (how many ids were ever pushed
-- onto done).
-- ARGV[1]: job name  ARGV[2]: completed jobs to keep (0: none)  ARGV[3]: their age in ms (0: no
-- limit)  ARGV[4]: result TTL in ms (0: none)  ARGV[5]: n, then n (id, token) pairs, then,
-- when the TTL is not 0, n results ('' for none).
-- Returns: a string of one '1' (completed) or '0' (stale token, nothing changed) per job, as
-- ack.lua's.
-- A completed job keeps its envelope in data (so lookups find it and its chosen id stays
-- taken) and leaves every other index; its times go to donetime. A list push and a hash entry
-- per job cost a fraction of a sorted set's insert, and the list is in completion order, as
-- pages and trimming read it. Trimming takes at most TRIM jobs per call, so a call's work stays
-- bounded; what it leaves, the next call takes. Expired results are dropped the same way, and
-- reads ignore them meanwhile.
write_at_maxmemory()
local TRIM = 1000
local done_key, results, resexp, times, pushed = KEYS[20], KEYS[21], KEYS[22], KEYS[23], KEYS[24]
local keep, age, ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids, held, toks = check_leases(6, 5 + 2 * n)
local now = now_ms()
-- Scores go to Redis as text formatted once: a Lua number is formatted again for every element.
local now_text, expiry_text = fmt(now), fmt(now + ttl)
-- Lengths counted (Lua's # searches the table each time).
local flags, done, done_toks, hres, zres, nd, nr = {}, {}, {}, {}, {}, 0, 0
for i, id in ipairs(ids) do
  if held[i] then
    flags[i] = '1'
    nd = nd + 1
    done[nd] = id
    done_toks[nd] = toks[i]
    local body = ttl > 0 and ARGV[5 + 2 * n + i]
    if body and body ~= '' then
      hres[nr + 1], hres[nr + 2] = id, body
      zres[nr + 1], zres[nr + 2] = expiry_text, id
      nr = nr + 2
    end
  else
    flags[i] = '0'
  end
end
flags = table.concat(flags)
if nd > 0 then
  release(done, done_toks)
  -- As in ack: most jobs have no side records; one EXISTS looks for all four.
  if redis.call('EXISTS', q.err, q.errs, q.prog, q.lost) > 0 then
    for _, side in ipairs({ q.err, q.errs, q.prog, q.lost }) do
      if redis.call('HLEN', side) > 0 then call_many('HDEL', side, done) end
    end
  end
  if keep > 0 then
    done_in_order(done_key, times, SENTINEL)
    call_many('RPUSH', done_key, done)
    redis.call('INCRBY', pushed, fmt(nd))
    -- When each completed: now; when the completing run started: what its token carries (a
    -- batch's jobs share one).
    -- SENTINEL's name is longer than Redis lets a field of a flat (listpack) hash be, so the
    -- hash takes its hashed encoding at once and keeps it: flat, every write and delete would
    -- scan all the kept jobs (up to 512), as it did for a queue's first ~500 completions and
    -- for good where fewer are kept. It is written first, as every call's first pair.
    local htimes, tok, at = { SENTINEL, '' }, nil, ''
    for i = 1, nd do
      if done_toks[i] ~= tok then
        tok = done_toks[i]
        local ms = token_ms(tok)
        at = now_text .. ':' .. (ms ~= 0 and fmt(ms) or '')
      end
      htimes[2 * i + 1], htimes[2 * i + 2] = done[i], at
    end
    call_many('HSET', times, htimes)
  else
    call_many('HDEL', q.data, done)
    if redis.call('HLEN', q.order) > 0 then call_many('HDEL', q.order, done) end
    if redis.call('HLEN', q.body) > 0 then call_many('HDEL', q.body, done) end
  end
  call_many('HSET', results, hres)
  call_many('ZADD', resexp, zres)
end
-- Trim: the oldest completed jobs past the count, then those past the age. A kept job has only
-- its envelope left (its side records went at completion), its dispatch sequence if its id was
-- chosen, and its payload if it was too big for the envelope. A call whose leases were all
-- stale changes nothing.
if nd == 0 then return flags end
if keep > 0 then
  -- The oldest at the head: past the count, then past the age; '' marks a deleted job's place
  -- (popped without counting; deleting '' from a hash deletes nothing, so popped ids go to
  -- HDEL as they come).
  local old, no = nil, 0
  -- Not counting SENTINEL, which the push above wrote.
  local excess = redis.call('HLEN', times) - 1 - keep
  local taken = 0
  while excess > 0 and taken < TRIM do
    local popped = redis.call('LPOP', done_key, fmt(math.min(excess, TRIM - taken)))
    if not popped then break end
    local got = #popped
    taken = taken + got
    local live = got
    for i = 1, got do
      if popped[i] == '' then live = live - 1 end
    end
    excess = excess - live
    if old then
      for i = 1, got do old[no + i] = popped[i] end
    else
      old = popped
    end
    no = no + got
  end
  if age > 0 then
    local cutoff = now - age
    old = old or {}
    while taken < TRIM do
      local id = redis.call('LINDEX', done_key, '0')
      if not id then break end
      if id ~= '' then
        local t = redis.call('HGET', times, id)
        local finished = t and tonumber(string.match(t, '^(%d+)'))
        if finished and finished > cutoff then break end
        no = no + 1
        old[no] = id
      end
      redis.call('LPOP', done_key)
      taken = taken + 1
    end
  end
  if no > 0 then
    call_many('HDEL', q.data, old)
    call_many('HDEL', times, old)
    if redis.call('HLEN', q.order) > 0 then call_many('HDEL', q.order, old) end
    if redis.call('HLEN', q.body) > 0 then call_many('HDEL', q.body, old) end
  end
end
local expired = redis.call('ZRANGEBYSCORE', resexp, '-inf', now_text, 'LIMIT', '0', fmt(TRIM))
if #expired > 0 then
  call_many('ZREM', resexp, expired)
  call_many('HDEL', results, expired)
end
tidy_lane(ARGV[1])
return flags
