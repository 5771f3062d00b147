-- keyed_enqueue: stores jobs of a keyed lane. Runs enqueue.lua's body (held as the function
-- plain_enqueue, scripts/mod.rs) so the jobs are stored as any other, then records each
-- stored job's key and moves the ready ones from the lane's ready list and priority bands,
-- where enqueue.lua put them last, to the back of their keys' lines (keyed.lua).
-- KEYS: the lane key set (lib.lua), then keyed.lua's 20..25, then 26 the queue's revoked set
-- (enqueue.lua).
-- ARGV: enqueue.lua's with 4 values per job (job name, n, 4, then per job: chosen id or '',
-- priority, delay ms, envelope), then the n jobs' keys.
-- Returns: enqueue.lua's reply.
local out = plain_enqueue()
local n = tonumber(ARGV[2])
local first = out[1]
local dup = {}
for i = 2, #out do dup[out[i]] = true end
local of_args, ready, ready_keys, plain = {}, {}, {}, 0
for i = 0, n - 1 do
  if not dup[i + 1] then
    local b = 4 + i * 4
    local id = ARGV[b]
    if id == '' then id = fmt(first + i) end
    local key = ARGV[4 + n * 4 + i]
    of_args[#of_args + 1] = id
    of_args[#of_args + 1] = key
    if ARGV[b + 2] == '0' then
      ready[#ready + 1] = id
      ready_keys[#ready_keys + 1] = key
      if ARGV[b + 1] == '0' then plain = plain + 1 end
    end
  end
end
call_many('HSET', k.of, of_args)
if #ready > 0 then
  -- enqueue.lua pushed the priority-0 ones last onto the ready list, the others into prio.
  local left = plain
  while left > 0 do
    local take = math.min(left, 1000)
    redis.call('RPOP', l.ready, take)
    left = left - take
  end
  call_many('ZREM', l.prio, ready)
  k_add(ready, ready_keys, false)
end
return out
