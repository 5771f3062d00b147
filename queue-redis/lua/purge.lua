-- purge: deletes every job of a queue.
-- KEYS: the queue's job keys (not its counters or pause flag) and the keys of every lane it has.
-- ARGV: none.  Returns: the number of keys deleted.
return redis.call('DEL', unpack(KEYS))
