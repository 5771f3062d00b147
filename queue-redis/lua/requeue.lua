-- requeue: puts running jobs back at the head of their lane without spending the attempt
-- (worker shutdown).
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ... (the first id ends up first in line)
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was requeued.
local ids = {}
for i = 1, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local metas = redis.call('HMGET', q.meta, unpack(ids))
local out = {}
local any = false
for i = #ids, 1, -1 do
  local id = ids[i]
  local j = parse_meta(metas[i])
  if j and j.tok ~= '0' and j.tok == ARGV[i * 2] then
    redis.call('ZREM', l.active, id)
    j.tok = '0'
    if j.att > 0 then j.att = j.att - 1 end
    redis.call('HSET', q.meta, id, pack_meta(j))
    push_front(l.ready, l.prio, id, j)
    out[i] = 1
    any = true
  else
    out[i] = 0
  end
end
if any then wake(l.wake) end
return out
