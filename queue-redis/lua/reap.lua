-- reap: returns the lane's expired leases to ready, or to the failed list when their attempts
-- are spent.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: failed list cap  ARGV[2]: job name
-- Returns: how many expired leases were handled.
return reap(now_ms(), tonumber(ARGV[1]), ARGV[2])
