-- KEYS: see flow_lib.lua.  ARGV: pairs of step name and floor (the fencing token at or below
-- which the step's runs' ends are refused from now on).
-- Reopens the failed, cancelled and skipped steps: each waits again for its prerequisites that
-- have not succeeded (joins for every step not ended); those with none are ready. Waiting
-- dependents that had counted a reopened step as ended count it again. Reopened steps named in
-- ARGV get their floor (never lowered). Returns how many.
local names = redis.call('LRANGE', K.bad, 0, -1)
for _, n in ipairs(redis.call('LRANGE', K.skip, 0, -1)) do table.insert(names, n) end
if #names == 0 then return 0 end
local reopened = {}
for _, name in ipairs(names) do
  reopened[name] = true
end
for i = 1, #ARGV, 2 do
  local name, floor = ARGV[i], tonumber(ARGV[i + 1])
  if reopened[name] and floor > tonumber(redis.call('HGET', K.floor, name) or '0') then
    redis.call('HSET', K.floor, name, ARGV[i + 1])
  end
end
for _, name in ipairs(names) do
  local s = redis.call('HGET', K.st, name)
  redis.call('HINCRBY', K.meta, s, -1)
  redis.call('HSET', K.st, name, 'waiting')
  redis.call('HDEL', K.err, name)
  redis.call('DEL', ign_key(name))
  if not is_join(name) then redis.call('HINCRBY', K.meta, 'rended', -1) end
end
redis.call('DEL', K.bad, K.skip)
for _, name in ipairs(names) do
  for _, e in ipairs(redis.call('LRANGE', out_key(name), 0, -1)) do
    local policy, d = string.sub(e, 1, 1), string.sub(e, 3)
    if not reopened[d] and policy ~= 'f' and redis.call('HGET', K.st, d) == 'waiting' then
      redis.call('HINCRBY', K.pend, d, 1)
      redis.call('LREM', ign_key(d), 0, name)
    end
  end
end
local m = redis.call('HMGET', K.meta, 'rtotal', 'rended')
local open = tonumber(m[1]) - tonumber(m[2])
for _, j in ipairs(redis.call('LRANGE', K.joins, 0, -1)) do
  if redis.call('HGET', K.st, j) == 'waiting' then redis.call('HSET', K.pend, j, open) end
end
local pending = {}
for _, name in ipairs(names) do
  local p = open
  if not is_join(name) then
    p = 0
    for _, e in ipairs(redis.call('LRANGE', deps_key(name), 0, -1)) do
      if redis.call('HGET', K.st, string.sub(e, 3)) ~= 'succeeded' then p = p + 1 end
    end
  end
  redis.call('HSET', K.pend, name, p)
  pending[name] = p
end
redis.call('HSET', K.meta, 'state', 'running')
redis.call('HDEL', K.meta, 'ended')
for _, name in ipairs(names) do
  if pending[name] == 0 then make_ready(name) end
end
return #names
