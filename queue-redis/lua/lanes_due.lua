-- lanes_due: which of the given idle lanes have work a reserve would take now. The shared
-- blocking connection (wait_hub.rs) asks this once a minute instead of ending every idle wait,
-- so a wake-up lost with a process that died holding it still reaches its lane, and lanes with
-- nothing to do cost nothing. Only on a single server or behind Sentinel (the lanes' keys have
-- different hash tags).
-- KEYS: per lane, five keys in a row: ready, prio, sched, leases (see lib.lua) and kjobs (a
-- keyed lane's waiting jobs, see keyed.lua: a keyed lane with any counts as due, as its keys'
-- windows are the keyed reserve's to judge)
-- Returns: the numbers (from 1) of the lanes with a ready job, a waiting keyed job, a delayed
-- job due or a lease ended, or whose keys could not be read.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A lane whose keys cannot be read (one holds a value of another type) counts as due: its pool
-- wakes and its reserve reports the error, while the other lanes are still looked at.
local function has_work(i)
  if redis.call('LLEN', KEYS[i]) > 0 or redis.call('ZCARD', KEYS[i + 1]) > 0
      or redis.call('EXISTS', KEYS[i + 4]) == 1 then
    return true
  end
  local s = redis.call('ZRANGE', KEYS[i + 2], 0, 0, 'WITHSCORES')
  local a = redis.call('ZRANGE', KEYS[i + 3], 0, 0, 'WITHSCORES')
  return (s[2] ~= nil and tonumber(s[2]) <= now) or (a[2] ~= nil and tonumber(a[2]) <= now)
end
local due = {}
for i = 1, #KEYS, 5 do
  local readable, found = pcall(has_work, i)
  if found or not readable then due[#due + 1] = (i - 1) / 5 + 1 end
end
return due
