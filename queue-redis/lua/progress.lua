-- progress: records a running job's progress.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: progress as JSON
-- Returns: 1 when the token was current, else 0.
write_at_maxmemory()
local ids, held = check_leases(1, 2)
if not held[1] then return 0 end
redis.call('HSET', q.prog, ids[1], ARGV[3])
return 1
