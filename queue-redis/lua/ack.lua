-- ack: completes jobs whose handlers succeeded, deleting their records.
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was removed.
local ids, _, held = check_leases(1, #ARGV)
local out, done = {}, {}
for i, id in ipairs(ids) do
  out[i] = held[i] and 1 or 0
  if held[i] then done[#done + 1] = id end
end
if #done > 0 then
  redis.call('ZREM', l.active, unpack(done))
  redis.call('HDEL', q.meta, unpack(done))
  redis.call('HDEL', q.data, unpack(done))
  redis.call('HDEL', q.err, unpack(done))
  redis.call('HDEL', q.prog, unpack(done))
end
return out
