-- retry_failed: moves failed jobs of one lane back to ready with fresh attempts.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: job name, then ids (oldest failure first)
-- Returns: how many jobs moved.
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local j = parse_env(redis.call('HGET', q.data, id))
  if j and j.failed ~= '0' and j.name == ARGV[1] then
    redis.call('LREM', q.failed, 1, id)
    j.att = 0
    j.failed = '0'
    redis.call('HSET', q.data, id, pack_env(j))
    if j.pri == 0 then
      redis.call('RPUSH', l.ready, id)
    else
      redis.call('ZADD', l.prio, prio_score(j.pri, tonumber(redis.call('INCR', q.seq))), id)
    end
    moved = moved + 1
  end
end
if moved > 0 then wake(l.wake) end
return moved
