-- ack: completes jobs whose handlers succeeded, deleting their records.
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was removed.
local ids = {}
for i = 1, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local metas = redis.call('HMGET', q.meta, unpack(ids))
local out, done = {}, {}
for i, id in ipairs(ids) do
  local j = parse_meta(metas[i])
  if j and j.tok ~= '0' and j.tok == ARGV[i * 2] then
    done[#done + 1] = id
    out[i] = 1
  else
    out[i] = 0
  end
end
if #done > 0 then
  redis.call('ZREM', l.active, unpack(done))
  redis.call('HDEL', q.meta, unpack(done))
  redis.call('HDEL', q.data, unpack(done))
  redis.call('HDEL', q.err, unpack(done))
  redis.call('HDEL', q.prog, unpack(done))
end
return out
