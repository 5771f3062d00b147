-- schedule_pause: pauses or resumes a schedule.
-- KEYS[1]: the queue's schedules hash  KEYS[2]: its schedule states hash (schedule_put.lua)
-- ARGV[1]: name  ARGV[2]: '1' to pause, '0' to resume
-- Returns: 1 when the schedule exists, 0 otherwise (nothing written).
local name = ARGV[1]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
local state = redis.call('HGET', KEYS[2], name) or ''
local head = string.match(state, '^(%d+|%d+|%d+)|%d$')
if not head then
  local t = redis.call('TIME')
  head = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) .. '|0|0'
end
redis.call('HSET', KEYS[2], name, head .. '|' .. ARGV[2])
return 1
