-- requeue: puts running jobs back at the head of their lane without spending the attempt
-- (worker shutdown), in dispatch order among themselves, ahead of the jobs that were waiting.
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was requeued.
write_at_maxmemory()
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
local tok_of = {}
for i, id in ipairs(back) do tok_of[id] = back_toks[i] end
local sorted = by_sequence(back)
local envs = call_many('HMGET', q.data, sorted)
local pris, rewritten, now = {}, {}, nil
for i = 1, #sorted do
  -- The attempt count is untouched: a run only counts once it ends.
  local j = parse_env(envs[i])
  pris[i] = j and j.pri or 0
  if j then
    now = now or now_ms()
    j.ready = fmt(now)
    ran(j, token_ms(tok_of[sorted[i]]))
    rewritten[#rewritten + 1] = sorted[i]
    rewritten[#rewritten + 1] = pack_env(j)
  end
end
call_many('HSET', q.data, rewritten)
release(back, back_toks)
push_front_all(sorted, pris)
wake(l.wake)
return out
