-- Adds one lane's run counts to its queue's statistics and forgets minutes past the window.
-- KEYS[1]: {p:q}:stats:totals (hash "<job>:<c|f|r>" -> count)
-- KEYS[2]: {p:q}:stats:minutes (hash "<minute>:<job>:<c|f|r>" -> count)
-- KEYS[3]: {p:q}:stats:index (zset "<minute>:<job>" by minute)
-- ARGV[1]: job name  ARGV[2]: minute  ARGV[3..5]: completed, failed, retried
-- ARGV[6]: the first minute kept
-- Returns: how many (minute, job) entries were forgotten.
local job, minute, first = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[6])
local counts = { tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) }
if not minute or not first or not counts[1] or not counts[2] or not counts[3] then
  return redis.error_reply('ERR stats_record: bad arguments')
end
local kinds = { 'c', 'f', 'r' }
local entry = ARGV[2] .. ':' .. job
local kept = minute >= first
for i = 1, 3 do
  if counts[i] > 0 then
    redis.call('HINCRBY', KEYS[1], job .. ':' .. kinds[i], counts[i])
    if kept then
      redis.call('HINCRBY', KEYS[2], entry .. ':' .. kinds[i], counts[i])
    end
  end
end
if kept then
  redis.call('ZADD', KEYS[3], minute, entry)
end
-- At most 1000 old entries per call: a backlog is worked off by the next calls.
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. first, 'LIMIT', 0, 1000)
for i = 1, #old do
  redis.call('HDEL', KEYS[2], old[i] .. ':c', old[i] .. ':f', old[i] .. ':r')
end
if #old > 0 then
  redis.call('ZREM', KEYS[3], unpack(old))
end
return #old
