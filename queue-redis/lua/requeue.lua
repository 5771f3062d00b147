-- requeue: puts running jobs back at the head of their lane without spending the attempt
-- (worker shutdown).
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ... (the first id ends up first in line)
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was requeued.
local ids, jobs, held = check_leases(1, #ARGV)
local out, any = {}, false
for i = #ids, 1, -1 do
  out[i] = held[i] and 1 or 0
  if held[i] then
    local j = jobs[i]
    redis.call('ZREM', l.active, ids[i])
    j.tok = '0'
    if j.att > 0 then j.att = j.att - 1 end
    redis.call('HSET', q.meta, ids[i], pack_meta(j))
    push_front(l.ready, l.prio, ids[i], j)
    any = true
  end
end
if any then wake(l.wake) end
return out
