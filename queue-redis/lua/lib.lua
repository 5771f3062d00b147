-- Helpers prepended to every lane script. Keys of one queue share a hash tag; every key a
-- script touches comes through KEYS.
--
-- A job is one field of the queue's data hash: id -> envelope, where the envelope is
--   "failed ms|attempts|max attempts|priority|created ms|ready ms|first ms|last ms|job name|payload"
-- written by the client at enqueue (record.rs) and rewritten only on the rare paths (retry,
-- failure, reap, requeue, retry of a failed job). `ready ms` is when the job became (or
-- becomes) ready: its dispatch plus its delay, the due time of its retry, the time it was
-- returned to its lane; a worker reads the job's wait from it (set where the job is put in its
-- lane, so promoting a due job does not rewrite it). `first ms` and `last ms` are when its
-- first and its latest ended run started (0: none ended yet), written where a run ends without
-- success; a running job's start is in its token (below), so starting a job writes nothing. `attempts` counts the handler runs that ended; the running
-- one is not in it, so taking and finishing a job never rewrites its envelope. A run whose
-- lease expired is not an attempt: the reaper counts it in the lost hash instead (id -> lost
-- leases), which only the reaper writes, and fails the job as poison at the configured limit.
-- `failed ms` is 0 unless the job is in the failed list, so a record that starts with "0|" is a
-- live job.
--
-- Leases: each reserve call issues one fencing token (new_token) for the jobs it takes; the
-- token is the reserve's time in ms times TOKEN_MS plus a count, so a job's start is read
-- from its token. The
-- lane's active set holds id -> token (as the score) while a job runs, and its leases set
-- token -> deadline ms: one entry per reserve call, so renewing, reaping and waking go by batch
-- while the token check stays per job (the score must equal the caller's token).
--
-- Every lane script takes the same KEYS, in this order (see LaneKeys in src/keys.rs):
--   1 data  2 err  3 prog  4 failed  5 paused  6 seq  7 tok  8 lanes  9 later  10 lost
--   11 order  12 ready  13 prio  14 sched  15 active  16 leases  17 wake  18 errs  19 body
-- (errs and body came last, so the others kept their places; scripts that take more keys take
-- them from 20 on.)
-- data holds the envelopes of ready, running and failed jobs; later those of scheduled jobs
-- (delayed or backing off), moved to data when they come due. A backlog of delayed jobs then
-- does not grow the hash every reserve and ack reads: measured, 1M delayed jobs in data made
-- draining ready jobs cost ~70% more Redis CPU per job (cache misses in a bigger table).
-- ready: list of ids with priority 0 (FIFO); prio: ZSET of other ids by prio_score;
-- sched: ZSET of delayed and backing-off ids by due ms; wake: list holding at most one pending
-- wake-up for blocked workers (BLPOP). err, errs, prog and lost hold what only some jobs have
-- (the last error, the error history, progress, lost leases); order holds the dispatch
-- sequence of jobs with chosen ids (a numbered job's id is its sequence); body the payloads
-- too big to pass through scripts, written by the client under ids it numbered beside the
-- enqueue call (src/bodies.rs), their envelopes' payloads empty: the scripts never copy them,
-- and only deletes of a job for good touch them. Acks delete from
-- them only when they are not empty, so a job that uses none of them costs nothing there.
--
-- errs: id -> the job's last MAX_ERRORS errors, oldest first, each entry
--   "attempt:ms:length:message" (length in bytes, so a message may hold any byte), the
-- entries joined with nothing between them (read by record.rs parse_errors). Only failures
-- (to_failed, fail.lua) and the reaper write it, always with err; a retry of a failed job
-- keeps it, and whatever deletes a job's err deletes its errs too.
--
-- Order: new jobs join the back of their priority in dispatch order (the order their enqueue
-- calls ran; a batch with large payloads takes its ids a round trip before its call runs, so
-- under concurrent dispatch its ids may be below those of jobs stored ahead of it, which only
-- the orders that go by id, priorities and promotions, see). Scheduled jobs (delayed,
-- retried) become ready by due time, then dispatch sequence (a sorted set returns equal scores
-- in text order, so a promoted batch with ties is sorted). Returned jobs (requeued, reaped) go
-- to the head of their priority, those returned together in dispatch order, a later return
-- ahead of an earlier one. The memory driver keeps the same rule (queue-core driver.rs).
--
-- Stopping safely: Redis keeps the writes a script made before an error. Every command taking
-- a variable number of values goes through call_many (Lua's unpack fails past ~8000 values),
-- scripts read and compute what they need before they write, and the writes of each step
-- leave every job in a list (at worst, a job is in an index and its record is handled as
-- missing by reserve), so nothing that can fail comes after a step's first write.

local q = { data = KEYS[1], err = KEYS[2], prog = KEYS[3], failed = KEYS[4], paused = KEYS[5],
            seq = KEYS[6], tok = KEYS[7], lanes = KEYS[8], later = KEYS[9], lost = KEYS[10],
            order = KEYS[11], errs = KEYS[18], body = KEYS[19] }
local l = { ready = KEYS[12], prio = KEYS[13], sched = KEYS[14], active = KEYS[15],
            leases = KEYS[16], wake = KEYS[17] }

-- Lets this script write at maxmemory under noeviction. Until a script has written, Redis
-- refuses each command of it that may grow memory (ZADD, HSET...) while memory is over the
-- limit; after a write it lets the script finish. This write removes nothing (no job has the
-- empty id) but counts. The scripts a worker holds and settles its jobs with (renew, fail,
-- requeue, postpone, progress, complete, reap) call it first, so a full Redis still lets
-- workers keep their leases and record how runs ended, while dispatches stay refused. (An ack,
-- alone or ahead of a reserve, starts by removing its jobs, which counts too.)
local function write_at_maxmemory()
  redis.call('ZREM', l.active, '')
end

-- Most values one command takes from unpack; Lua's own limit is ~8000. 2048 values are up to
-- ~1000 jobs (pairs: id and envelope, score and id), so the client's batches of 1000 jobs
-- (JOBS_PER_CALL, src/scripts/mod.rs) still take one command each.
local UNPACK_CHUNK = 2048

-- Runs `cmd key [flag] values...` over `list`, at most UNPACK_CHUNK values per call (an even
-- number, so pairs stay together). One call returns its reply as it is; several return their
-- replies joined (lists) or summed (integers). An empty list makes no call and returns {}.
local function call_many(cmd, key, list, flag)
  local n = #list
  if n == 0 then return {} end
  if n <= UNPACK_CHUNK then
    if flag then return redis.call(cmd, key, flag, unpack(list)) end
    return redis.call(cmd, key, unpack(list))
  end
  local out = nil
  for i = 1, n, UNPACK_CHUNK do
    local last = math.min(i + UNPACK_CHUNK - 1, n)
    local r
    if flag then
      r = redis.call(cmd, key, flag, unpack(list, i, last))
    else
      r = redis.call(cmd, key, unpack(list, i, last))
    end
    if type(r) == 'table' then
      out = out or {}
      for k = 1, #r do out[#out + 1] = r[k] end
    else
      out = (out or 0) + r
    end
  end
  return out
end

-- Redis keeps small sorted sets (up to 128 entries) as flat lists that every insert and
-- lookup scans whole: a worker's batch of 50 leases going into an active set of ~100 cost
-- ~1.7 us of server CPU per job for the ZADD alone. A member longer than 64 bytes (the default
-- zset-max-listpack-value) makes Redis switch the key to its skiplist encoding, which it keeps
-- until the key is deleted, so every reserve writes this sentinel into the active set, with
-- score 0 (tokens are above 0). It has spaces, so it is never a job id the client accepts.
-- complete.lua (and clean.lua, turning a list) writes it into the kept jobs' times hash as a
-- field, for the same reason (a field longer than hash-max-listpack-value, 64 bytes by default,
-- makes a hash hashed) and as the mark of its list's order (done_order.lua); src/keys.rs holds
-- it as HASHED_SENTINEL and passes it to list_done.lua and clean.lua.
local SENTINEL = 'sentinel: keeps this key in the hashed encoding (queue-redis lua/lib.lua)'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as decimal text. '%d' formats as an integer; '%.0f' and tostring go through the
-- C library's floating-point printing, which cost ~0.15 us per call in profiles, as does every
-- Lua number passed to redis.call (Redis writes it with %.17g): numbers go as text.
local function fmt(n)
  -- Past 2^53 a double is no longer every integer, and '%d' is undefined past 2^63 (a lease of
  -- centuries): such values are written as Redis would have written the number.
  if n > -9007199254740992 and n < 9007199254740992 then return string.format('%d', n) end
  return string.format('%.17g', n)
end

-- The envelope's header fields and its payload, or nil when it is not an envelope.
local function parse_env(s)
  if not s then return nil end
  local f, a, m, p, c, r, fs, ls, n, at =
    string.match(s, '^(%d+)|(%d+)|(%d+)|(%-?%d+)|(%d+)|(%d+)|(%d+)|(%d+)|([^|]+)|()')
  if not f then
    -- Written before the ready and start fields (seven fields): ready since its creation, no
    -- run ended yet as far as it says. Rewriting it writes the current form.
    if string.match(s, '^%d+|%d+|%d+|%-?%d+|%d+|%d+|%d+|%d+|') then return nil end
    f, a, m, p, c, n, at = string.match(s, '^(%d+)|(%d+)|(%d+)|(%-?%d+)|(%d+)|([^|]+)|()')
    if not f then return nil end
    r, fs, ls = c, '0', '0'
  end
  return { failed = f, att = tonumber(a), max = tonumber(m), pri = tonumber(p), created = c,
           ready = r, first = fs, last = ls, name = n, body = string.sub(s, at) }
end

local function pack_env(j)
  return j.failed .. '|' .. j.att .. '|' .. j.max .. '|' .. j.pri .. '|' .. j.created .. '|' ..
    j.ready .. '|' .. j.first .. '|' .. j.last .. '|' .. j.name .. '|' .. j.body
end

-- Tokens per millisecond: a token is its reserve's time in ms times TOKEN_MS plus a count
-- (queue-redis record.rs reads starts back the same way). Tokens below TIMED_TOKENS were
-- issued before tokens carried a time: their start is unknown (0).
local TOKEN_MS = 1024
local TIMED_TOKENS = 1000000000000 * TOKEN_MS

-- When the run holding token `tok` (a number or its text) started, in ms; 0 when unknown.
local function token_ms(tok)
  local t = tonumber(tok)
  if not t or t < TIMED_TOKENS then return 0 end
  return math.floor(t / TOKEN_MS)
end

-- A new fencing token for a reserve at `now` ms: above every token issued before (the counter
-- in tok), and carrying `now` (token_ms) unless the clock went back or more than TOKEN_MS
-- reserves came within one ms, when it counts on from the last one (and the start it carries
-- is that much late).
local function new_token(now)
  local tok = redis.call('INCR', q.tok)
  local timed = now * TOKEN_MS
  if tok < timed then
    tok = timed
    redis.call('SET', q.tok, fmt(tok))
  end
  return tok
end

-- Records that a run of `j` started at `started` ms ended (without success): its first run's
-- start, if none was recorded, and its latest run's.
local function ran(j, started)
  if not started or started == 0 then return end
  if j.first == '0' then j.first = fmt(started) end
  j.last = fmt(started)
end

-- Reads the (id, token) pairs in ARGV[from..to]. Returns the ids, their tokens (as text, the
-- leases set's member for the batch) and per id whether the token is the job's current lease
-- (the fencing check of every settlement): its score in the active set. A token is compared as
-- a number and returned as Redis writes an integer score ("17"), as the client writes tokens,
-- so a token sent under another spelling ("017") finds its batch's member in the leases set.
-- Redis formats each score it returns (ZMSCORE) with printf's %.17g, which cost ~4,300
-- instructions per job in profiles, a tenth of a reserve's server CPU per job: so the jobs of
-- a token that come several at a time (a batch's acks, renewals) are looked up among the
-- members holding that token (ZRANGEBYSCORE, no scores), unless those are many more than
-- asked about (a few acks of a big batch): those, and single settlements, go in one ZMSCORE.
local function check_leases(from, to)
  local ids, toks, n = {}, {}, 0
  -- Positions by token text, the texts in order of first appearance.
  local groups, texts, ng = {}, {}, 0
  for i = from, to, 2 do
    n = n + 1
    -- An id without a token (an odd count, never sent by the client) holds nothing.
    local t = ARGV[i + 1] or ''
    ids[n] = ARGV[i]
    toks[n] = t
    local g = groups[t]
    if g then
      g[#g + 1] = n
    else
      groups[t] = { n }
      ng = ng + 1
      texts[ng] = t
    end
  end
  -- Per token, the members holding it when that is cheaper; the other tokens' jobs are asked
  -- in one ZMSCORE together.
  local held, asked, asked_at, na = {}, {}, {}, 0
  local nums = {}
  for gi = 1, ng do
    local g = groups[texts[gi]]
    local num = tonumber(texts[gi])
    local text = num and num >= 0 and num == math.floor(num) and fmt(num)
    if not text then
      for _, i in ipairs(g) do held[i] = false end
    elseif #g > 1 and redis.call('ZCOUNT', l.active, text, text) <= 4 * #g then
      local holding = {}
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', l.active, text, text)) do
        holding[member] = true
      end
      for _, i in ipairs(g) do
        held[i] = holding[ids[i]] == true
        toks[i] = text
      end
    else
      for _, i in ipairs(g) do
        na = na + 1
        asked[na], asked_at[na] = ids[i], i
        nums[i] = num
        toks[i] = text
      end
    end
  end
  if na > 0 then
    local current = call_many('ZMSCORE', l.active, asked)
    for k = 1, na do
      local i = asked_at[k]
      held[i] = current[k] ~= false and tonumber(current[k]) == nums[i]
    end
  end
  return ids, held, toks
end

-- Ends the leases of `ids`, held under `toks` (parallel lists): out of the active set, and a
-- batch none of whose jobs still runs leaves the leases set.
local function release(ids, toks)
  call_many('ZREM', l.active, ids)
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
  local flags, done, done_toks, nd = {}, {}, {}, 0
  for i, id in ipairs(ids) do
    if held[i] then
      flags[i] = '1'
      nd = nd + 1
      done[nd] = id
      done_toks[nd] = toks[i]
    else
      flags[i] = '0'
    end
  end
  if nd > 0 then
    release(done, done_toks)
    call_many('HDEL', q.data, done)
    -- Most jobs never failed, reported progress, lost a lease, had a chosen id or a big
    -- payload: skip the deletes when nothing is there (one EXISTS for the six; empty hashes do
    -- not exist).
    if redis.call('EXISTS', q.err, q.errs, q.prog, q.lost, q.order, q.body) > 0 then
      for _, side in ipairs({ q.err, q.errs, q.prog, q.lost, q.order, q.body }) do
        if redis.call('HLEN', side) > 0 then call_many('HDEL', side, done) end
      end
    end
  end
  return table.concat(flags)
end

-- Priority ZSET score: higher priority first, then by sequence number. Each priority owns a
-- band of PRIO_SPAN scores: new jobs count up from its middle (FIFO), jobs returned to the head
-- (requeue, reap) count down from it, so the latest one returned runs first. Priorities are an
-- i8's, so scores stay below 2^53 in magnitude and fmt writes them exactly.
local PRIO_SPAN = 10000000000000
local PRIO_MID = PRIO_SPAN / 2
local function prio_score(pri, seq)
  return -pri * PRIO_SPAN + PRIO_MID + (seq % PRIO_MID)
end

-- ZADD arguments that put the (priority, id) pairs in `ranked` at the back of their priority,
-- in the order given, each with a fresh sequence number (promoted and retried jobs).
local function back_of_priority(ranked)
  local scored = {}
  if #ranked == 0 then return scored end
  local seq = redis.call('INCRBY', q.seq, #ranked / 2) - #ranked / 2
  for i = 1, #ranked, 2 do
    seq = seq + 1
    scored[#scored + 1] = fmt(prio_score(ranked[i], seq))
    scored[#scored + 1] = ranked[i + 1]
  end
  return scored
end

-- Wakes one blocked worker of the lane unless a wake-up is already pending.
local function wake(wake_key)
  if redis.call('LLEN', wake_key) == 0 then
    redis.call('RPUSH', wake_key, '1')
  end
end

-- The earliest due time or lease deadline of the lane, or nil.
-- With `ending` (a lease batch's token): as if that lease had ended, when the batch has only
-- one job left, the one being settled.
local function next_event(ending)
  local s = redis.call('ZRANGE', l.sched, '0', '0', 'WITHSCORES')
  local a = redis.call('ZRANGE', l.leases, '0', '1', 'WITHSCORES')
  if ending and a[1] == ending and redis.call('ZCOUNT', l.active, ending, ending) <= 1 then
    a = { a[3], a[4] }
  end
  local best = nil
  if s[2] then best = tonumber(s[2]) end
  if a[2] and (best == nil or tonumber(a[2]) < best) then best = tonumber(a[2]) end
  return best
end

-- The dispatch sequence of each of `ids`: a numbered id is its own; a chosen id's was written
-- to the order hash at enqueue (a chosen id without one sorts after the others).
local function seqs_of(ids)
  local seqs, chosen, at = {}, {}, {}
  for i, id in ipairs(ids) do
    if string.find(id, '^%d+$') then
      seqs[i] = tonumber(id)
    else
      chosen[#chosen + 1] = id
      at[#at + 1] = i
    end
  end
  if #chosen > 0 then
    local got = call_many('HMGET', q.order, chosen)
    for k, i in ipairs(at) do seqs[i] = tonumber(got[k]) or math.huge end
  end
  return seqs
end

-- `ids` ordered by score (when `scores`, numbers parallel to `ids`, is given), then dispatch
-- sequence, then text.
local function by_sequence(ids, scores)
  local seqs = seqs_of(ids)
  local idx = {}
  for i = 1, #ids do idx[i] = i end
  table.sort(idx, function(a, b)
    if scores and scores[a] ~= scores[b] then return scores[a] < scores[b] end
    if seqs[a] ~= seqs[b] then return seqs[a] < seqs[b] end
    return ids[a] < ids[b]
  end)
  local out = {}
  for k, i in ipairs(idx) do out[k] = ids[i] end
  return out
end

-- Puts jobs returned together (requeue, reap) back at the head of their priorities: `ids` in
-- the order they should run, `pris` their priorities. The first ends up first, and all of them
-- ahead of the jobs that were waiting.
local function push_front_all(ids, pris)
  local plain, ranked = {}, 0
  for i = 1, #ids do
    if pris[i] ~= 0 then ranked = ranked + 1 end
  end
  local seq = 0
  if ranked > 0 then seq = redis.call('INCRBY', q.seq, ranked) - ranked end
  local scored = {}
  -- The last first: each goes ahead of the one before it.
  for i = #ids, 1, -1 do
    if pris[i] == 0 then
      plain[#plain + 1] = ids[i]
    else
      seq = seq + 1
      scored[#scored + 1] = fmt(-pris[i] * PRIO_SPAN + PRIO_MID - (seq % PRIO_MID))
      scored[#scored + 1] = ids[i]
    end
  end
  if #plain > 0 then call_many('LPUSH', l.ready, plain) end
  if #scored > 0 then call_many('ZADD', l.prio, scored) end
end

-- A record that is not an envelope (written by another program, or damaged), kept whole as
-- the payload of a valid envelope so it can be failed, listed and inspected.
local function wrap_bad(raw, name, now)
  return { failed = '0', att = 1, max = 1, pri = 0, created = fmt(now), ready = fmt(now),
           first = '0', last = '0', name = name, body = raw or '' }
end

-- Once a lane holds no job in any state (ready, scheduled or leased), drops what it still keeps:
-- its active set (the sentinel holds it), a pending wake-up, and its name in the queue's lanes
-- set, so lanes that are no longer used leave no keys. Called where a lane can become empty
-- (an ack, a failure, a delete, a reserve that found nothing); a dispatch or a retry of a failed
-- job names the lane again.
local function tidy_lane(name)
  if redis.call('LLEN', l.ready) == 0 and redis.call('ZCARD', l.prio) == 0
      and redis.call('ZCARD', l.sched) == 0 and redis.call('ZCARD', l.leases) == 0 then
    redis.call('DEL', l.active, l.wake)
    redis.call('SREM', q.lanes, name)
  end
end

-- Deletes every record of `ids` (a list): the envelope and whatever side records they have.
local function forget(ids)
  for _, key in ipairs({ q.data, q.later, q.err, q.errs, q.prog, q.lost, q.order, q.body }) do
    call_many('HDEL', key, ids)
  end
end

-- Reads the keys a failure writes, so a key of the wrong type (written by another program)
-- stops the script before it writes rather than halfway. Returns the failed list's length.
local function check_failure_keys()
  -- Every hash a failure may write or, trimming the failed list, delete from (forget).
  for _, key in ipairs({ q.err, q.errs, q.lost, q.prog, q.later, q.order, q.body }) do
    redis.call('HLEN', key)
  end
  return redis.call('LLEN', q.failed)
end

-- Most errors a job's history keeps (queue_core::MAX_ERRORS_KEPT).
local MAX_ERRORS = 10

-- Records `message` as the error of attempt `attempt` of job `id` at `now`, of a run that
-- started at `started` ms (0: unknown): its last error (err) and the newest entry of its
-- history (errs), which keeps the last MAX_ERRORS. A history that stops being readable partway
-- keeps the entries before the damage.
local function add_error(id, attempt, now, message, started)
  started = started or 0
  local old = redis.call('HGET', q.errs, id)
  local entries = {}
  if old then
    local at = 1
    while at <= #old do
      local len, from = string.match(old, '^%d+:%d+:%d+:(%d+):()', at)
      if not len then
        -- An entry written before runs' starts were kept: attempt:ms:length:message.
        len, from = string.match(old, '^%d+:%d+:(%d+):()', at)
      end
      if not len or from + tonumber(len) - 1 > #old then break end
      local stop = from + tonumber(len)
      entries[#entries + 1] = string.sub(old, at, stop - 1)
      at = stop
    end
  end
  entries[#entries + 1] = fmt(attempt) .. ':' .. fmt(now) .. ':' .. fmt(started) .. ':' ..
    fmt(#message) .. ':' .. message
  local first = math.max(1, #entries - MAX_ERRORS + 1)
  redis.call('HSET', q.errs, id, table.concat(entries, '', first))
  redis.call('HSET', q.err, id, message)
end

-- Moves a job to the failed list (newest first) with `message` as the error of attempt
-- `attempt`, trimming the list to `cap` entries and deleting the records of the entries it
-- drops. Reads first (check_failure_keys).
local function to_failed(id, j, attempt, message, now, cap, started)
  local excess = check_failure_keys() + 1 - cap
  j.failed = fmt(now)
  ran(j, started)
  redis.call('HSET', q.data, id, pack_env(j))
  add_error(id, attempt, now, message, started)
  redis.call('LPUSH', q.failed, id)
  if excess > 0 then
    forget(redis.call('RPOP', q.failed, excess))
  end
end

-- Returns the jobs of the lane's expired leases to the head of ready, in dispatch order,
-- without spending their attempts: a lost run is counted in the lost hash instead, and the
-- job whose lost leases reach `max_lost` goes to the failed list as poison. Returns how many
-- jobs it handled, and those it failed as poison as (id, attempt) pairs in one list (nil when
-- none). One call takes at most 100 expired lease batches (reserve calls); jobs of
-- batches past that are returned by the next call, ahead of these (returned later, first).
local function reap(now, cap, name, max_lost)
  local expired = redis.call('ZRANGEBYSCORE', l.leases, '-inf', fmt(now), 'LIMIT', '0', '100')
  if #expired == 0 then return 0, nil end
  local ids, poisoned, tok_of = {}, nil, {}
  for _, t in ipairs(expired) do
    local got = redis.call('ZRANGEBYSCORE', l.active, t, t)
    for _, id in ipairs(got) do
      ids[#ids + 1] = id
      tok_of[id] = t
    end
  end
  if #ids > 1 then ids = by_sequence(ids) end
  local envs = call_many('HMGET', q.data, ids)
  if #ids > 0 then check_failure_keys() end
  call_many('ZREM', l.leases, expired)
  if #ids == 0 then return 0 end
  call_many('ZREM', l.active, ids)
  local back, pris, rewritten = {}, {}, {}
  for i, id in ipairs(ids) do
    local j = parse_env(envs[i])
    local started = token_ms(tok_of[id])
    if j then
      local lost = redis.call('HINCRBY', q.lost, id, 1)
      if lost >= max_lost then
        to_failed(id, j, j.att + 1, 'poison: lost its lease ' .. lost .. ' times; the worker ' ..
          'running it stopped or lost its connection each time', now, cap, started)
        poisoned = poisoned or {}
        poisoned[#poisoned + 1] = id
        poisoned[#poisoned + 1] = j.att + 1
      else
        add_error(id, j.att + 1, now, 'lease expired during attempt ' .. (j.att + 1) .. ' of ' ..
          j.max .. ': the worker running it stopped or lost its connection (lost lease ' ..
          lost .. '; the attempt is not counted)', started)
        back[#back + 1] = id
        pris[#pris + 1] = j.pri
        j.ready = fmt(now)
        ran(j, started)
        rewritten[#rewritten + 1] = id
        rewritten[#rewritten + 1] = pack_env(j)
      end
    elseif envs[i] then
      to_failed(id, wrap_bad(envs[i], name, now), 1, 'malformed job record', now, cap, started)
    end
  end
  call_many('HSET', q.data, rewritten)
  if #back > 0 then push_front_all(back, pris) end
  wake(l.wake)
  return #ids, poisoned
end
