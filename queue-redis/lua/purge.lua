-- purge: deletes every job of a queue.
-- KEYS[1]: the queue's lanes set; then the queue's job keys (not its counters or pause flag) and
-- the keys of every lane the client listed (a keyed lane's job indexes among them, not its
-- keys' windows and pauses).
-- ARGV: the job names of the lanes the client listed (from the lanes set, read just before).
-- Returns: the number of keys deleted, or -1 when the lanes set names a lane the client did not
-- list (a dispatch reached an idle lane in between): nothing is deleted, the client lists again.
-- A queue may have many lanes: the keys go to DEL in chunks (unpack fails past ~8000 values).
local listed = {}
for _, name in ipairs(ARGV) do listed[name] = true end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not listed[name] then return -1 end
end
local deleted = 0
for i = 1, #KEYS, 1000 do
  deleted = deleted + redis.call('DEL', unpack(KEYS, i, math.min(i + 999, #KEYS)))
end
return deleted
