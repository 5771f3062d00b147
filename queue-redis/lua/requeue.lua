-- requeue: puts running jobs back at the head of their lane without spending the attempt
-- (worker shutdown).
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ... (the first id ends up first in line)
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was requeued.
local ids, held, toks = check_leases(1, #ARGV)
local out, back, back_toks = {}, {}, {}
for i = 1, #ids do
  out[i] = held[i] and 1 or 0
  if held[i] then
    back[#back + 1] = ids[i]
    back_toks[#back_toks + 1] = toks[i]
  end
end
if #back == 0 then return out end
release(back, back_toks)
local envs = redis.call('HMGET', q.data, unpack(back))
for i = #back, 1, -1 do
  -- The attempt count is untouched: a run only counts once it ends.
  local j = parse_env(envs[i]) or { pri = 0 }
  push_front(l.ready, l.prio, back[i], j)
end
wake(l.wake)
return out
