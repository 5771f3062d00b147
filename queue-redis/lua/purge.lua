-- purge: deletes every job of a queue. A running job's run may go on until its worker's next
-- renewal, at the latest until its lease would have ended: its id goes to the revoked set with
-- that time (as delete.lua does), so a job dispatched with it before then waits. So does the id
-- of a job cancelled while it ran whose lease would not have ended yet.
-- KEYS[1]: the queue's lanes set; then the queue's job keys (not its counters or pause flag);
-- then per lane the client listed its 9 keys: its own 6 (ready prio sched active leases wake,
-- src/keys.rs) and its keyed job indexes (kjobs kring kof; not its keys' windows and pauses);
-- last the queue's revoked set (kept).
-- ARGV: the job names of the lanes the client listed (from the lanes set, read just before).
-- Returns: the number of keys deleted, or -1 when the lanes set names a lane the client did not
-- list (a dispatch reached an idle lane in between): nothing is deleted, the client lists again.
-- A queue may have many lanes: the keys go to DEL in chunks (unpack fails past ~8000 values).
local listed = {}
for _, name in ipairs(ARGV) do listed[name] = true end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not listed[name] then return -1 end
end
local revoked = KEYS[#KEYS]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held, latest = {}, 0
-- Where the lanes' keys start, counted from the end.
local lanes_at = #KEYS - 1 - #ARGV * 9
for lane = 0, #ARGV - 1 do
  local active, leases = KEYS[lanes_at + lane * 9 + 4], KEYS[lanes_at + lane * 9 + 5]
  -- Tokens are above 0, the sentinel's score (lib.lua).
  local running = redis.call('ZRANGE', active, '(0', '+inf', 'BYSCORE', 'WITHSCORES')
  for i = 1, #running, 2 do
    local until_ms = tonumber(redis.call('ZSCORE', leases, running[i + 1]))
    if until_ms and until_ms > now then
      held[#held + 1] = until_ms
      held[#held + 1] = running[i]
      latest = math.max(latest, until_ms)
    end
  end
end
-- Jobs cancelled while they ran (the cancelled set, the key before the lanes' keys): their
-- runs may go on until their ready time, when their leases would have ended (cancel.lua).
local marks = redis.call('ZRANGE', KEYS[lanes_at], 0, -1, 'WITHSCORES')
for i = 1, #marks, 2 do
  -- KEYS[2]: the data hash, first of the queue's job keys.
  local env = redis.call('HGET', KEYS[2], marks[i])
  local failed, ready = nil, nil
  if env then failed, ready = string.match(env, '^(%d+)|%d+|%d+|%-?%d+|%d+|(%d+)|') end
  if failed and tonumber(failed) == tonumber(marks[i + 1]) and tonumber(ready) > now then
    held[#held + 1] = tonumber(ready)
    held[#held + 1] = marks[i]
    latest = math.max(latest, tonumber(ready))
  end
end
local deleted = 0
for i = 1, #KEYS - 1, 1000 do
  deleted = deleted + redis.call('DEL', unpack(KEYS, i, math.min(i + 999, #KEYS - 1)))
end
redis.call('ZREMRANGEBYSCORE', revoked, '-inf', now)
for i = 1, #held, 1000 do
  redis.call('ZADD', revoked, unpack(held, i, math.min(i + 999, #held)))
end
if latest > 0 then hold_revoked(revoked, now, latest) end
return deleted
