-- KEYS: see flow_lib.lua.  ARGV[1]: hand-overs started at or before this many ms ago are stale
-- Puts up to 1000 stale hand-overs of steps still queued back at the head of ready.
-- Returns {how many hand-overs it gave back, 1 when steps are ready or ends are left to pass on}.
local cutoff = now_ms() - tonumber(ARGV[1])
local names = redis.call('ZRANGEBYSCORE', K.handing, '-inf', cutoff, 'LIMIT', 0, 1000)
for _, name in ipairs(names) do
  redis.call('ZREM', K.handing, name)
  if redis.call('HGET', K.st, name) == 'queued' then redis.call('LPUSH', K.ready, name) end
end
local work = 0
if has_work() then work = 1 end
return {#names, work}
