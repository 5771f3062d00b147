-- KEYS: see flow_lib.lua.  ARGV[1]: kind (workflow | batch)
-- Creates the workflow in state building. Returns 1, or 0 when a workflow of that id exists.
if redis.call('EXISTS', K.meta) == 1 then return 0 end
redis.call('HSET', K.meta, 'state', 'building', 'kind', ARGV[1], 'created', now_ms(),
  'total', 0, 'succeeded', 0, 'failed', 0, 'cancelled', 0, 'skipped', 0, 'rtotal', 0, 'rended', 0)
return 1
