-- KEYS: see flow_lib.lua.  No ARGV.
-- Ends the building: the steps without prerequisites become ready. Returns 1 when it started
-- the workflow, 0 when it was started already or does not exist.
if redis.call('HGET', K.meta, 'state') ~= 'building' then return 0 end
redis.call('HSET', K.meta, 'state', 'running')
if redis.call('EXISTS', K.roots) == 1 then
  if redis.call('EXISTS', K.ready) == 0 then
    redis.call('RENAME', K.roots, K.ready)
  else
    -- Not reached (nothing is ready while building); kept safe with a bounded move.
    while redis.call('LMOVE', K.roots, K.ready, 'LEFT', 'RIGHT') do end
  end
end
check_end()
return 1
