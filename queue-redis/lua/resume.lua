-- resume: unpauses a queue and wakes one blocked worker of each lane.
-- KEYS[1]: the paused flag, then the wake key of every lane of the queue.
-- ARGV: none.  Returns: 1.
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('LLEN', KEYS[i]) == 0 then redis.call('RPUSH', KEYS[i], '1') end
end
return 1
