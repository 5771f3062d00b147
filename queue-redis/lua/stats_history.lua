-- Reads a queue's statistics: the totals and the (minute, job) counts of a window.
-- KEYS[1]: {p:q}:stats:totals  KEYS[2]: {p:q}:stats:minutes  KEYS[3]: {p:q}:stats:index
-- ARGV[1]: the first minute  ARGV[2]: the last minute
-- Returns: { totals as HGETALL, { minute, completed, failed, retried, ... } }
local totals = redis.call('HGETALL', KEYS[1])
local entries = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], ARGV[2])
local out = {}
for i = 1, #entries do
  local e = entries[i]
  local v = redis.call('HMGET', KEYS[2], e .. ':c', e .. ':f', e .. ':r')
  out[#out + 1] = string.match(e, '^(%d+):')
  for k = 1, 3 do
    out[#out + 1] = v[k] or '0'
  end
end
return { totals, out }
