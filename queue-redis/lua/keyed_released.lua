-- keyed_released: after jobs of a keyed lane with a concurrency limit were settled, puts the
-- keys held by their concurrency that have a free slot again back in the ring (up to 100 per
-- call), and wakes one blocked worker when it did.
-- KEYS: the lane key set (lib.lua), then keyed.lua's 20..25.  ARGV[1]: the concurrency per key
-- Returns: how many keys may start again.
local conc = tonumber(ARGV[1])
local keys = redis.call('ZRANGE', k.full, 0, 99)
if #keys == 0 then return 0 end
local cur = tonumber(redis.call('HGET', k.state, 'cur') or '0')
local freed = 0
for _, key in ipairs(keys) do
  local live = k_running(redis.call('HGET', k.state, 'c:' .. key), nil)
  if #live < conc then
    redis.call('ZREM', k.full, key)
    if #k_line(key, 1) > 0 then
      k_ring(key, cur)
      freed = freed + 1
    end
  end
end
if freed > 0 and redis.call('EXISTS', q.paused) == 0 then wake(l.wake) end
return freed
