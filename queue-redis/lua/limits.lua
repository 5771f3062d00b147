-- limits: the checks of the limited reserve, for lanes whose handlers declare a rate or a
-- concurrency. The limited reserve is lib.lua, then this file, then reserve.lua with its hook
-- comments (`@limits:<step>`) replaced by the calls below (scripts/limits.rs); reserve.lua
-- itself, which every lane without limits runs, does none of this.
-- KEYS: the lane key set (lib.lua), then 20: the lane's starts (ZSET, member "token:n",
-- score = start ms; expires a window after the last start)  21: the lane's pause end (string,
-- ms; expires with the pause).
-- ARGV: reserve.lua's, then three more, taken off before reserve.lua reads ARGV: the rate's
-- count (0: no rate)  its window ms  the concurrency (0: none).
-- Returns: reserve.lua's reply; when limits held jobs back, the first value is at most the
-- delay until the window frees a start or the pause ends.
local lim = { starts = KEYS[20], pause = KEYS[21] }
-- Values before the first leased job in reserve.lua's reply.
local LIM_HEAD = 4
local lim_conc = tonumber(table.remove(ARGV))
local lim_per = tonumber(table.remove(ARGV))
local lim_count = tonumber(table.remove(ARGV))
-- How many the caller asked for, and when more may start (ms), when known.
local lim_asked, lim_free = 0, nil

-- The start whose leaving the window frees a place, once the window is full.
local function lim_window_free()
  local used = redis.call('ZCARD', lim.starts)
  if used < lim_count then return nil end
  local e = redis.call('ZRANGE', lim.starts, used - lim_count, used - lim_count, 'WITHSCORES')
  return tonumber(e[2]) + lim_per
end

-- How many of `n` may start now: none while paused, at most what the window and the
-- concurrency leave (expired leases were reaped before, so their slots count as free).
local function lim_allow(n, now)
  lim_asked = n
  local pause = tonumber(redis.call('GET', lim.pause) or '0')
  if pause > now then
    lim_free = pause
    return 0
  end
  local allowed = n
  if lim_count > 0 then
    -- A start at t counts in the windows up to t + window (not included).
    redis.call('ZREMRANGEBYSCORE', lim.starts, '-inf', now - lim_per)
    local left = lim_count - redis.call('ZCARD', lim.starts)
    if left <= 0 then
      left = 0
      lim_free = lim_window_free()
    end
    if left < allowed then allowed = left end
  end
  if lim_conc > 0 then
    local left = lim_conc - redis.call('ZCOUNT', l.active, 1, '+inf')
    if left < 0 then left = 0 end
    if left < allowed then allowed = left end
  end
  return allowed
end

-- Records the starts of the jobs leased in `out` (reserve.lua's reply being built).
local function lim_taken(out, now, tok_text)
  local leased = (#out - LIM_HEAD) / 2
  if lim_count > 0 and leased > 0 then
    -- The start time as text once: a number would be formatted again for every element.
    local args, now_text = {}, fmt(now)
    for i = 1, leased do
      args[2 * i - 1], args[2 * i] = now_text, tok_text .. ':' .. i
    end
    call_many('ZADD', lim.starts, args)
    redis.call('PEXPIRE', lim.starts, lim_per)
    lim_free = lim_window_free()
  end
end

-- When the limits held jobs back, the reply's delay is at most until they free.
local function lim_held(out, now)
  if (#out - LIM_HEAD) / 2 < lim_asked and lim_free then
    local d = math.max(0, lim_free - now)
    if out[1] < 0 or d < out[1] then out[1] = d end
  end
  return out
end
