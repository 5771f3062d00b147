-- clean: removes a queue's completed or failed jobs that finished long enough ago, oldest
-- first, with their records and results.
-- KEYS: 1 data  2 err  3 prog  4 lost  5 order  6 later  7 failed  8 done (oldest first)
-- 9 results  10 resexp  11 donetime  12 donepushed  13 errs  14 body
-- ARGV[1]: 'completed' or 'failed'  ARGV[2]: age in ms (jobs that finished at least this long
-- ago go)  ARGV[3]: most jobs to remove  ARGV[4]: the mark of done's order (done_order.lua)
-- Returns: how many jobs were removed.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local gone = {}
if ARGV[1] == 'completed' then
  done_in_order(KEYS[8], KEYS[11], ARGV[4])
  -- The oldest at the head; '' marks a deleted job's place and goes without counting.
  while #gone < limit do
    local id = redis.call('LINDEX', KEYS[8], 0)
    if not id then break end
    if id ~= '' then
      local t = redis.call('HGET', KEYS[11], id)
      local finished = t and tonumber(string.match(t, '^(%d+)'))
      if finished and finished > cutoff then break end
      gone[#gone + 1] = id
    end
    redis.call('LPOP', KEYS[8])
  end
else
  -- The failed list is newest first; an envelope starts with the time it failed.
  while #gone < limit do
    local id = redis.call('LINDEX', KEYS[7], -1)
    if not id then break end
    local raw = redis.call('HGET', KEYS[1], id)
    local failed = raw and tonumber(string.match(raw, '^(%d+)|'))
    if failed and failed > cutoff then break end
    redis.call('RPOP', KEYS[7])
    gone[#gone + 1] = id
  end
end
for i = 1, #gone, 1000 do
  local chunk = { unpack(gone, i, math.min(i + 999, #gone)) }
  for _, key in ipairs({ KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[9],
                         KEYS[11], KEYS[13], KEYS[14] }) do
    redis.call('HDEL', key, unpack(chunk))
  end
  redis.call('ZREM', KEYS[10], unpack(chunk))
end
-- Results expire by themselves; cleaning also frees those no completion dropped yet.
local expired = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', cutoff + tonumber(ARGV[2]),
  'LIMIT', 0, 1000)
if #expired > 0 then
  redis.call('ZREM', KEYS[10], unpack(expired))
  redis.call('HDEL', KEYS[9], unpack(expired))
end
return #gone
