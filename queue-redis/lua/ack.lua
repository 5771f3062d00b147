-- ack: completes jobs whose handlers succeeded, deleting their records.
-- KEYS: the lane key set (lib.lua).
-- ARGV: id, token, id, token, ...
-- Returns: a string of '1' (removed) or '0' (stale token, nothing changed), one per job.
return ack(1, #ARGV)
