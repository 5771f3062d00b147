-- KEYS: see flow_lib.lua.
-- ARGV[1]: parent step ('' while building)  ARGV[2]: number of steps n
-- then per step 5 values: name, spec (queue|job|prio|attempts), payload, join policy ('' when
-- not a join step), prerequisites ("p|name,p|name", '' for none).
-- Returns {1}, or {0, reason} having changed nothing.
local parent = ARGV[1]
local n = tonumber(ARGV[2])
local state = redis.call('HGET', K.meta, 'state')
if not state then return {0, 'no such workflow'} end
if parent == '' then
  if state ~= 'building' then return {0, 'steps are added to a started workflow only by a running step'} end
else
  local ps = redis.call('HGET', K.st, parent)
  if state ~= 'running' or ps ~= 'queued' then
    return {0, 'step `' .. parent .. '` is not running: it cannot add steps'}
  end
end
-- A step that runs again adds the same children again: when every step of this call was added
-- by the same parent, the call was made before and changes nothing.
local parents = base .. ':parents'
if parent ~= '' and n > 0 then
  local again = 0
  for i = 0, n - 1 do
    if redis.call('HGET', parents, ARGV[3 + i * 5]) == parent then again = again + 1 end
  end
  if again == n then return {1} end
end
-- Checks, before any write.
local seen, joins_here, deps_of = {}, {}, {}
for i = 0, n - 1 do
  local name = ARGV[3 + i * 5]
  if seen[name] or redis.call('HEXISTS', K.st, name) == 1 then return {0, 'step `' .. name .. '` exists'} end
  local list = {}
  local text = ARGV[7 + i * 5]
  for entry in string.gmatch(text, '[^,]+') do
    local prereq = string.sub(entry, 3)
    if not seen[prereq] and redis.call('HEXISTS', K.st, prereq) == 0 then
      return {0, 'step `' .. name .. '` depends on `' .. prereq .. '`, which is not a step of the workflow'}
    end
    if joins_here[prereq] or is_join(prereq) then
      return {0, 'step `' .. name .. '` depends on join step `' .. prereq .. '`'}
    end
    table.insert(list, entry)
  end
  deps_of[i] = list
  seen[name] = true
  if ARGV[6 + i * 5] ~= '' then joins_here[name] = true end
end
local fan_in = {}
if parent ~= '' then
  for _, e in ipairs(redis.call('LRANGE', out_key(parent), 0, -1)) do table.insert(fan_in, string.sub(e, 3)) end
end
for i = 0, n - 1 do
  local name, spec, payload, join = ARGV[3 + i * 5], ARGV[4 + i * 5], ARGV[5 + i * 5], ARGV[6 + i * 5]
  redis.call('RPUSH', K.steps, name)
  redis.call('HSET', K.st, name, 'waiting')
  redis.call('HSET', K.spec, name, spec)
  redis.call('HSET', K.pay, name, payload)
  redis.call('HINCRBY', K.meta, 'total', 1)
  if parent ~= '' then redis.call('HSET', parents, name, parent) end
  local pending, skip = 0, nil
  if join ~= '' then
    local m = redis.call('HMGET', K.meta, 'rtotal', 'rended', 'skipped')
    pending = tonumber(m[1]) - tonumber(m[2])
    if join == 'f' and (redis.call('LLEN', K.bad) > 0 or tonumber(m[3]) > 0) then
      skip = 'a prerequisite did not succeed'
    end
    redis.call('HSET', K.jn, name, join)
    redis.call('RPUSH', K.joins, name)
  else
    for _, entry in ipairs(deps_of[i]) do
      local policy, prereq = string.sub(entry, 1, 1), string.sub(entry, 3)
      redis.call('RPUSH', deps_key(name), entry)
      redis.call('RPUSH', out_key(prereq), policy .. '|' .. name)
      local ps = redis.call('HGET', K.st, prereq)
      if ps == 'succeeded' then
      elseif is_bad(ps) then
        if policy == 'f' then
          skip = skip or ('prerequisite `' .. prereq .. '` did not succeed')
        elseif policy == 'i' then
          redis.call('RPUSH', ign_key(name), prereq)
        end
      else
        pending = pending + 1
      end
    end
    for _, d in ipairs(fan_in) do
      if redis.call('HGET', K.st, d) == 'waiting' then
        redis.call('HINCRBY', K.pend, d, 1)
        redis.call('RPUSH', out_key(name), 'f|' .. d)
      end
    end
    redis.call('HINCRBY', K.meta, 'rtotal', 1)
    for _, j in ipairs(redis.call('LRANGE', K.joins, 0, -1)) do
      if redis.call('HGET', K.st, j) == 'waiting' then redis.call('HINCRBY', K.pend, j, 1) end
    end
  end
  redis.call('HSET', K.pend, name, pending)
  if skip then
    finish(name, 'skipped', skip, nil)
  elseif pending == 0 then
    make_ready(name)
  end
end
return {1}
