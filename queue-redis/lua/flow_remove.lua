-- KEYS: see flow_lib.lua.  ARGV[1]: most steps to remove
-- Removes the last steps added (up to ARGV[1]) with their keys; once none is left, the
-- workflow's keys. Returns {gone, queue, step, queue, step...}: the removed steps that have
-- (or had) a job in their lane, and gone = 1 once the workflow is removed.
local max = tonumber(ARGV[1])
local names = redis.call('LRANGE', K.steps, -max, -1)
local out = {0}
for _, name in ipairs(names) do
  local s = redis.call('HGET', K.st, name)
  if s ~= 'waiting' and s ~= 'skipped' then
    local spec = redis.call('HGET', K.spec, name) or ''
    table.insert(out, string.match(spec, '^[^|]*'))
    table.insert(out, name)
  end
  redis.call('DEL', out_key(name), deps_key(name), ign_key(name))
  redis.call('HDEL', K.st, name)
  redis.call('HDEL', K.pend, name)
  redis.call('HDEL', K.spec, name)
  redis.call('HDEL', K.pay, name)
  redis.call('HDEL', K.res, name)
  redis.call('HDEL', K.err, name)
  redis.call('HDEL', K.jn, name)
  redis.call('HDEL', K.floor, name)
  redis.call('HDEL', base .. ':parents', name)
end
if #names > 0 then redis.call('LTRIM', K.steps, 0, -(#names + 1)) end
if redis.call('LLEN', K.steps) == 0 then
  redis.call('DEL', K.meta, K.steps, K.st, K.pend, K.spec, K.pay, K.res, K.err, K.joins, K.jn,
    K.ready, K.roots, K.handing, K.cascade, K.bad, K.skip, K.floor, base .. ':parents')
  out[1] = 1
end
return out
