-- schedule_put: stores a schedule's definition in its queue.
-- KEYS[1]: the queue's schedules hash (name -> definition JSON)
-- KEYS[2]: the queue's schedule states hash (name -> "created ms|last tick ms|fired ms|paused",
--          0 for a time not yet known, paused 1 or 0)
-- ARGV[1]: name  ARGV[2]: definition JSON  ARGV[3]: '1' to replace an existing definition
-- Returns: 1 when stored, 0 when the name was taken and ARGV[3] is not '1'. A replaced
-- schedule keeps its state; a new one gets a state created now.
local name = ARGV[1]
if redis.call('HEXISTS', KEYS[1], name) == 1 and ARGV[3] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], name, ARGV[2])
if redis.call('HEXISTS', KEYS[2], name) == 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[2], name, string.format('%d', now) .. '|0|0|0')
end
return 1
