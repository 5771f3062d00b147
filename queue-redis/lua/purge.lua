-- purge: deletes every job of a queue.
-- KEYS: the queue's keys and the keys of every lane it has (any number).
-- ARGV: none.  Returns: the number of keys deleted.
return redis.call('DEL', unpack(KEYS))
