-- KEYS: see flow_lib.lua.  ARGV[1]: most steps to take
-- Takes ready steps, marking each as being handed (handing: name -> now).
-- Returns name, spec, payload for each step taken.
if redis.call('HGET', K.meta, 'state') == 'building' then return {} end
local names = redis.call('LPOP', K.ready, tonumber(ARGV[1]))
if not names then return {} end
local now = now_ms()
local out = {}
for _, name in ipairs(names) do
  if redis.call('HGET', K.st, name) == 'queued' then
    redis.call('ZADD', K.handing, now, name)
    table.insert(out, name)
    table.insert(out, redis.call('HGET', K.spec, name))
    table.insert(out, redis.call('HGET', K.pay, name))
  end
end
return out
