-- purge: deletes every job of a queue.
-- KEYS: the queue's job keys (not its counters or pause flag) and the keys of every lane it has.
-- ARGV: none.  Returns: the number of keys deleted.
-- A queue may have many lanes: the keys go to DEL in chunks (unpack fails past ~8000 values).
local deleted = 0
for i = 1, #KEYS, 1000 do
  deleted = deleted + redis.call('DEL', unpack(KEYS, i, math.min(i + 999, #KEYS)))
end
return deleted
