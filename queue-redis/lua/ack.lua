-- ack: completes jobs whose handlers succeeded, deleting their records.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: job name, then id, token, id, token, ...
-- Returns: a string of '1' (removed) or '0' (stale token, nothing changed), one per job.
local flags = ack(2, #ARGV)
tidy_lane(ARGV[1])
return flags
