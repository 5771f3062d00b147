-- reap: returns the jobs of the lane's expired leases to the head of ready without spending
-- their attempts, or to the failed list as poison once they lost their lease too often.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: failed list cap  ARGV[2]: job name  ARGV[3]: lost leases that make a job poison
-- Returns: how many expired leases were handled.
write_at_maxmemory()
return (reap(now_ms(), tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])))
