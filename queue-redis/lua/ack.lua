-- ack: completes jobs whose handlers succeeded, deleting their records.
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the token was current and the job was removed.
local ids, held = check_leases(1, #ARGV)
local out, done = {}, {}
for i, id in ipairs(ids) do
  if held[i] then
    out[i] = 1
    done[#done + 1] = id
  else
    out[i] = 0
  end
end
if #done > 0 then
  release(done)
  redis.call('HDEL', q.data, unpack(done))
  -- Most jobs never failed nor reported progress: skip the deletes when nothing is there.
  if redis.call('HLEN', q.err) > 0 then redis.call('HDEL', q.err, unpack(done)) end
  if redis.call('HLEN', q.prog) > 0 then redis.call('HDEL', q.prog, unpack(done)) end
end
return out
